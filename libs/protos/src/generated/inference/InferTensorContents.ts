// Original file: protos/inference/grpc_service.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Typed tensor contents, flattened row-major. Not a oneof because oneofs
 * cannot hold repeated fields; only the field matching the datatype is set.
 */
export interface InferTensorContents {
  'boolContents'?: (boolean)[];
  /**
   * INT8, INT16 and INT32.
   */
  'intContents'?: (number)[];
  'int64Contents'?: (number | string | Long)[];
  /**
   * UINT8, UINT16 and UINT32.
   */
  'uintContents'?: (number)[];
  'uint64Contents'?: (number | string | Long)[];
  'fp32Contents'?: (number | string)[];
  'fp64Contents'?: (number | string)[];
  'bytesContents'?: (Buffer | Uint8Array | string)[];
}

/**
 * Typed tensor contents, flattened row-major. Not a oneof because oneofs
 * cannot hold repeated fields; only the field matching the datatype is set.
 */
export interface InferTensorContents__Output {
  'boolContents': (boolean)[];
  /**
   * INT8, INT16 and INT32.
   */
  'intContents': (number)[];
  'int64Contents': (number)[];
  /**
   * UINT8, UINT16 and UINT32.
   */
  'uintContents': (number)[];
  'uint64Contents': (number)[];
  'fp32Contents': (number)[];
  'fp64Contents': (number)[];
  'bytesContents': (Buffer)[];
}

// Original file: protos/inference/grpc_service.proto

import type { Long } from '@grpc/proto-loader';

export interface _inference_ModelMetadataResponse_TensorMetadata {
  'name'?: (string);
  /**
   * One of BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BYTES.
   */
  'datatype'?: (string);
  /**
   * -1 marks a variable-size dimension.
   */
  'shape'?: (number | string | Long)[];
}

export interface _inference_ModelMetadataResponse_TensorMetadata__Output {
  'name': (string);
  /**
   * One of BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BYTES.
   */
  'datatype': (string);
  /**
   * -1 marks a variable-size dimension.
   */
  'shape': (number)[];
}

export interface ModelMetadataResponse {
  'name'?: (string);
  /**
   * Versions available on the server.
   */
  'versions'?: (string)[];
  'platform'?: (string);
  'inputs'?: (_inference_ModelMetadataResponse_TensorMetadata)[];
  'outputs'?: (_inference_ModelMetadataResponse_TensorMetadata)[];
}

export interface ModelMetadataResponse__Output {
  'name': (string);
  /**
   * Versions available on the server.
   */
  'versions': (string)[];
  'platform': (string);
  'inputs': (_inference_ModelMetadataResponse_TensorMetadata__Output)[];
  'outputs': (_inference_ModelMetadataResponse_TensorMetadata__Output)[];
}

import { endianness } from 'node:os';
import type { Tensor } from 'onnxruntime-node';

if (endianness() !== 'LE') {
  // Raw tensor contents are little-endian by specification and are viewed, not byte-swapped, as typed arrays.
  throw new Error('the model service requires a little-endian host');
}

/**
 * The Open Inference Protocol datatypes this server moves: every fixed-size one. BYTES (length-prefixed strings)
 * is not served yet; a model with a string input or output is refused when it loads.
 */
export type Datatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64';

/** A model input or output as KServe metadata describes it: -1 marks a variable dimension. */
export interface TensorSpec {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
}

/** Typed arrays ONNX Runtime takes for the datatypes above. */
export type TensorData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

interface DatatypeInfo {
  readonly ortType: Tensor.Type;
  readonly elementBytes: number;
  /** A view of `length` elements over `buffer` at `byteOffset`, which must be a multiple of `elementBytes`. */
  readonly view: (buffer: ArrayBufferLike, byteOffset: number, length: number) => TensorData;
}

const DATATYPES: Readonly<Record<Datatype, DatatypeInfo>> = {
  BOOL: { ortType: 'bool', elementBytes: 1, view: (b, o, n) => new Uint8Array(b, o, n) },
  UINT8: { ortType: 'uint8', elementBytes: 1, view: (b, o, n) => new Uint8Array(b, o, n) },
  UINT16: { ortType: 'uint16', elementBytes: 2, view: (b, o, n) => new Uint16Array(b, o, n) },
  UINT32: { ortType: 'uint32', elementBytes: 4, view: (b, o, n) => new Uint32Array(b, o, n) },
  UINT64: { ortType: 'uint64', elementBytes: 8, view: (b, o, n) => new BigUint64Array(b, o, n) },
  INT8: { ortType: 'int8', elementBytes: 1, view: (b, o, n) => new Int8Array(b, o, n) },
  INT16: { ortType: 'int16', elementBytes: 2, view: (b, o, n) => new Int16Array(b, o, n) },
  INT32: { ortType: 'int32', elementBytes: 4, view: (b, o, n) => new Int32Array(b, o, n) },
  INT64: { ortType: 'int64', elementBytes: 8, view: (b, o, n) => new BigInt64Array(b, o, n) },
  // ONNX Runtime carries float16 as raw 16-bit words.
  FP16: { ortType: 'float16', elementBytes: 2, view: (b, o, n) => new Uint16Array(b, o, n) },
  FP32: { ortType: 'float32', elementBytes: 4, view: (b, o, n) => new Float32Array(b, o, n) },
  FP64: { ortType: 'float64', elementBytes: 8, view: (b, o, n) => new Float64Array(b, o, n) },
};

const DATATYPE_BY_ORT_TYPE: ReadonlyMap<Tensor.Type, Datatype> = new Map(
  (Object.entries(DATATYPES) as [Datatype, DatatypeInfo][]).map(([datatype, info]) => [info.ortType, datatype]),
);

export function isDatatype(value: string): value is Datatype {
  return Object.prototype.hasOwnProperty.call(DATATYPES, value);
}

export function elementBytes(datatype: Datatype): number {
  return DATATYPES[datatype].elementBytes;
}

export function ortTypeOf(datatype: Datatype): Tensor.Type {
  return DATATYPES[datatype].ortType;
}

/** The datatype of an ONNX Runtime tensor type; undefined for types this server does not move (string, int4). */
export function datatypeOfOrtType(type: Tensor.Type): Datatype | undefined {
  return DATATYPE_BY_ORT_TYPE.get(type);
}

/**
 * `length` elements of `datatype` read from `bytes`: a view sharing its memory when the offset is aligned to the
 * element size (typed arrays demand it), otherwise one copy. Protobuf hands out `bytes` fields as slices of the
 * received message, so their offsets are arbitrary.
 */
export function typedArrayOver(datatype: Datatype, bytes: Uint8Array, length: number): TensorData {
  const info = DATATYPES[datatype];
  if (bytes.byteOffset % info.elementBytes === 0) return info.view(bytes.buffer, bytes.byteOffset, length);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return info.view(copy.buffer, 0, length);
}

/** The bytes behind a typed array, without a copy. */
export function bytesOf(data: ArrayBufferView): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Number of elements of a shape; dimensions must be non-negative. */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

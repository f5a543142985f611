import type { inference } from '@inference-mesh/protos';
import { invalidArgument } from '@inference-mesh/service-kit';
import { Tensor } from 'onnxruntime-node';
import {
  bytesOf,
  datatypeOfOrtType,
  elementBytes,
  elementCount,
  formatShape,
  ortTypeOf,
  typedArrayOver,
  type Datatype,
  type TensorData,
  type TensorSpec,
} from './datatypes';

type InferRequest = inference.ModelInferRequest__Output;
type InferInput = InferRequest['inputs'][number];
type TensorContents = inference.InferTensorContents__Output;

/** What a request is checked against: one model version's inputs and outputs. */
export interface ModelSignature {
  /** `<model>/<version>`, as messages name it. */
  readonly label: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

export interface DecodeLimits {
  /** Largest first dimension accepted on inputs whose first dimension is variable (the batch). */
  readonly maxBatchSize: number;
}

export interface DecodedRequest {
  /** One ONNX Runtime tensor per model input, by name; raw contents are viewed in place where aligned. */
  readonly feeds: Readonly<Record<string, Tensor>>;
  /** The outputs to compute and return, in response order. */
  readonly outputNames: readonly string[];
  /** The shared first dimension of the batched inputs; undefined when the model has no variable first dimension. */
  readonly batchSize: number | undefined;
}

/** The served version an answer names, and the request id it echoes. */
export interface ResponseHeader {
  readonly id: string;
  readonly modelName: string;
  readonly modelVersion: string;
}

export function requireModelName(request: Pick<InferRequest, 'modelName'>): string {
  if (!request.modelName) throw invalidArgument('model_name is required');
  return request.modelName;
}

/**
 * Checks a ModelInferRequest against a version's signature before anything runs, and turns its inputs into
 * ONNX Runtime tensors. Every violation is INVALID_ARGUMENT with a message that names the offending field.
 */
export function decodeInferRequest(request: InferRequest, signature: ModelSignature, limits: DecodeLimits): DecodedRequest {
  requireModelName(request);
  const { inputs, rawInputContents } = request;
  const useRaw = rawInputContents.length > 0;
  if (useRaw && rawInputContents.length !== inputs.length) {
    throw invalidArgument(
      `raw_input_contents has ${rawInputContents.length} entries but inputs has ${inputs.length}: ` +
        'send one entry per input, in inputs order',
    );
  }
  const specs = new Map(signature.inputs.map((spec) => [spec.name, spec]));
  const seenAt = new Map<string, number>();
  const feeds: Record<string, Tensor> = {};
  let batch: { size: number; from: string } | undefined;

  inputs.forEach((input, i) => {
    const spec = specs.get(input.name);
    if (!spec) {
      throw invalidArgument(
        `inputs[${i}].name ${JSON.stringify(input.name)} is not an input of ${signature.label}; ` +
          `its inputs are ${namesOf(signature.inputs)}`,
      );
    }
    const earlier = seenAt.get(input.name);
    if (earlier !== undefined) {
      throw invalidArgument(`inputs[${i}].name ${JSON.stringify(input.name)} repeats inputs[${earlier}]: send each input once`);
    }
    seenAt.set(input.name, i);
    const where = `inputs[${i}] (${input.name})`;
    if (input.datatype !== spec.datatype) {
      throw invalidArgument(`${where}: datatype expected ${spec.datatype}, got ${JSON.stringify(input.datatype)}`);
    }
    const count = checkShape(where, input.shape, spec);

    if (spec.shape.length > 0 && spec.shape[0] === -1) {
      const size = input.shape[0]!;
      if (size === 0) throw invalidArgument(`${where}: batch size 0; send at least one row`);
      if (size > limits.maxBatchSize) {
        throw invalidArgument(`${where}: batch size ${size} exceeds the maximum of ${limits.maxBatchSize}; split the request`);
      }
      if (batch && batch.size !== size) {
        throw invalidArgument(
          `${where}: batch size ${size} differs from ${batch.from}'s ${batch.size}; all inputs share the first dimension`,
        );
      }
      batch ??= { size, from: where };
    }

    const data = useRaw
      ? fromRaw(where, `raw_input_contents[${i}] (${input.name})`, rawInputContents[i]!, input, spec.datatype, count)
      : fromTyped(where, input.contents, spec.datatype, input.shape, count);
    feeds[input.name] = new Tensor(ortTypeOf(spec.datatype), data, input.shape);
  });

  for (const spec of signature.inputs) {
    if (!seenAt.has(spec.name)) {
      throw invalidArgument(
        `missing input ${JSON.stringify(spec.name)}: ${signature.label} needs ${namesOf(signature.inputs)}`,
      );
    }
  }
  return { feeds, outputNames: requestedOutputNames(request, signature), batchSize: batch?.size };
}

/** The answer to a ModelInferRequest: every requested output as little-endian raw contents, in request order. */
export function encodeInferResponse(
  header: ResponseHeader,
  outputNames: readonly string[],
  results: Readonly<Record<string, Tensor>>,
): inference.ModelInferResponse {
  const outputs = outputNames.map((name) => {
    const tensor = results[name];
    if (!tensor) throw new Error(`${header.modelName}/${header.modelVersion} returned no output ${name}`);
    const datatype = datatypeOfOrtType(tensor.type);
    if (!datatype) throw new Error(`${header.modelName}/${header.modelVersion} output ${name} has type ${tensor.type}`);
    return { name, datatype, shape: [...tensor.dims], data: tensor.data as TensorData };
  });
  return {
    id: header.id,
    modelName: header.modelName,
    modelVersion: header.modelVersion,
    outputs: outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
    rawOutputContents: outputs.map(({ data }) => bytesOf(data)),
  };
}

function requestedOutputNames(request: InferRequest, signature: ModelSignature): string[] {
  if (request.outputs.length === 0) return signature.outputs.map((spec) => spec.name);
  const known = new Set(signature.outputs.map((spec) => spec.name));
  const names: string[] = [];
  request.outputs.forEach((output, i) => {
    if (!known.has(output.name)) {
      throw invalidArgument(
        `outputs[${i}].name ${JSON.stringify(output.name)} is not an output of ${signature.label}; ` +
          `its outputs are ${namesOf(signature.outputs)}`,
      );
    }
    if (names.includes(output.name)) {
      throw invalidArgument(`outputs[${i}].name ${JSON.stringify(output.name)} is requested twice`);
    }
    names.push(output.name);
  });
  return names;
}

/** Rank, sign and fixed dimensions; returns the element count. */
function checkShape(where: string, shape: readonly number[], spec: TensorSpec): number {
  if (shape.length !== spec.shape.length) {
    throw invalidArgument(
      `${where}: shape ${formatShape(shape)} has rank ${shape.length}; the model expects rank ${spec.shape.length} ` +
        `${formatShape(spec.shape)}`,
    );
  }
  shape.forEach((dim, d) => {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw invalidArgument(`${where}: shape ${formatShape(shape)} has a negative or invalid dimension ${d} (${dim})`);
    }
    const expected = spec.shape[d]!;
    if (expected >= 0 && dim !== expected) {
      throw invalidArgument(
        `${where}: shape ${formatShape(shape)} has dimension ${d} = ${dim}; the model expects ${expected} ` +
          `(model shape ${formatShape(spec.shape)})`,
      );
    }
  });
  const count = elementCount(shape);
  if (!Number.isSafeInteger(count)) throw invalidArgument(`${where}: shape ${formatShape(shape)} has too many elements`);
  return count;
}

function fromRaw(
  where: string,
  field: string,
  bytes: Buffer,
  input: InferInput,
  datatype: Datatype,
  count: number,
): TensorData {
  const typed = typedFieldsSet(input.contents);
  if (typed.length > 0) {
    throw invalidArgument(
      `${where} sets contents.${typed[0]} while raw_input_contents is used; the protocol allows one or the other`,
    );
  }
  const size = elementBytes(datatype);
  const expected = count * size;
  if (bytes.byteLength !== expected) {
    throw invalidArgument(
      `${field} has ${bytes.byteLength} bytes; shape ${formatShape(input.shape)} of ${datatype} needs ${expected} ` +
        `(${count} elements x ${size} bytes)`,
    );
  }
  return typedArrayOver(datatype, bytes, count);
}

type NumericContentsKey = Exclude<keyof TensorContents, 'bytesContents'>;

/** Proto field names of InferTensorContents, as messages name them. */
const CONTENTS_FIELDS: Readonly<Record<keyof TensorContents, string>> = {
  boolContents: 'bool_contents',
  intContents: 'int_contents',
  int64Contents: 'int64_contents',
  uintContents: 'uint_contents',
  uint64Contents: 'uint64_contents',
  fp32Contents: 'fp32_contents',
  fp64Contents: 'fp64_contents',
  bytesContents: 'bytes_contents',
};

/** Where each datatype's typed contents go; FP16 travels only as raw bytes. */
const TYPED_FIELD: Readonly<Record<Datatype, NumericContentsKey | undefined>> = {
  BOOL: 'boolContents',
  UINT8: 'uintContents',
  UINT16: 'uintContents',
  UINT32: 'uintContents',
  UINT64: 'uint64Contents',
  INT8: 'intContents',
  INT16: 'intContents',
  INT32: 'intContents',
  INT64: 'int64Contents',
  FP16: undefined,
  FP32: 'fp32Contents',
  FP64: 'fp64Contents',
};

/** Value ranges of the datatypes that share a wider proto field. */
const NARROW_RANGES: Partial<Readonly<Record<Datatype, readonly [number, number]>>> = {
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  UINT8: [0, 255],
  UINT16: [0, 65535],
};

function typedFieldsSet(contents: TensorContents | null): string[] {
  if (!contents) return [];
  return (Object.keys(CONTENTS_FIELDS) as (keyof TensorContents)[])
    .filter((key) => (contents[key]?.length ?? 0) > 0)
    .map((key) => CONTENTS_FIELDS[key]);
}

function fromTyped(
  where: string,
  contents: TensorContents | null,
  datatype: Datatype,
  shape: readonly number[],
  count: number,
): TensorData {
  const key = TYPED_FIELD[datatype];
  const set = typedFieldsSet(contents);
  if (!key) {
    if (set.length > 0 || count > 0) {
      throw invalidArgument(`${where}: ${datatype} has no typed contents field; send it in raw_input_contents`);
    }
    return typedArrayOver(datatype, new Uint8Array(0), 0);
  }
  const field = CONTENTS_FIELDS[key];
  const other = set.find((name) => name !== field);
  if (other) throw invalidArgument(`${where}: datatype ${datatype} takes contents.${field}, but contents.${other} is set`);
  const values = (contents?.[key] ?? []) as readonly (number | boolean)[];
  if (values.length !== count) {
    if (values.length === 0) {
      throw invalidArgument(`${where} has no data: set contents.${field} or raw_input_contents`);
    }
    throw invalidArgument(
      `${where}: contents.${field} has ${values.length} elements; shape ${formatShape(shape)} needs ${count}`,
    );
  }
  const range = NARROW_RANGES[datatype];
  if (range) {
    const [min, max] = range;
    const at = (values as readonly number[]).findIndex((v) => v < min || v > max);
    if (at >= 0) {
      throw invalidArgument(`${where}: contents.${field}[${at}] = ${String(values[at])} is out of range for ${datatype}`);
    }
  }
  return convertTyped(datatype, values);
}

function convertTyped(datatype: Datatype, values: readonly (number | boolean)[]): TensorData {
  const numbers = values as readonly number[];
  switch (datatype) {
    case 'BOOL':
      return Uint8Array.from(values as readonly boolean[], (v) => (v ? 1 : 0));
    case 'UINT8':
      return Uint8Array.from(numbers);
    case 'UINT16':
      return Uint16Array.from(numbers);
    case 'UINT32':
      return Uint32Array.from(numbers);
    case 'UINT64':
      return BigUint64Array.from(numbers, (v) => BigInt(v));
    case 'INT8':
      return Int8Array.from(numbers);
    case 'INT16':
      return Int16Array.from(numbers);
    case 'INT32':
      return Int32Array.from(numbers);
    case 'INT64':
      return BigInt64Array.from(numbers, (v) => BigInt(v));
    case 'FP32':
      return Float32Array.from(numbers);
    case 'FP64':
      return Float64Array.from(numbers);
    case 'FP16':
      throw new Error('FP16 has no typed contents');
  }
}

function namesOf(specs: readonly TensorSpec[]): string {
  return specs.map((spec) => spec.name).join(', ') || '(none)';
}

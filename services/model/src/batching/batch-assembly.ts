import { Tensor } from 'onnxruntime-node';
import type { TensorSpec } from '../tensors/datatypes';
import { TOKEN_ID_INPUT } from '../tokenizer-check';

/** What one request brings to a batch: its decoded inputs, the outputs it wants, and its size. */
export interface BatchMember {
  readonly feeds: Readonly<Record<string, Tensor>>;
  readonly rows: number;
  /** Length of its [batch, sequence] inputs; 0 when it has none. */
  readonly sequenceLength: number;
}

/** How a version's inputs are padded when requests of different lengths ride in one batch. */
export interface PaddingPlan {
  /** Inputs laid out [batch, sequence, ...] with a variable sequence dimension, and the value that pads each. */
  readonly padValues: ReadonlyMap<string, number>;
}

/** A numeric tensor's data, and the constructor that makes one more of the same kind. */
export type TypedArray = Exclude<Tensor['data'], readonly string[]>;
export type TypedArrayConstructor = new (length: number) => TypedArray;

/**
 * Inputs whose second dimension is variable are sequences (ids, masks, segment ids): requests of different
 * lengths are padded to the batch's longest. Token ids pad with the model's pad id, everything else with 0,
 * which the attention mask then hides from the model.
 */
export function paddingPlan(inputs: readonly TensorSpec[], padTokenId: number): PaddingPlan {
  const padValues = new Map<string, number>();
  for (const spec of inputs) {
    if (spec.shape.length >= 2 && spec.shape[0] === -1 && spec.shape[1] === -1) {
      padValues.set(spec.name, spec.name === TOKEN_ID_INPUT ? padTokenId : 0);
    }
  }
  return { padValues };
}

/**
 * The batching key of a request beyond its version: requests can share a batch only if they want the same
 * outputs and their non-sequence inputs agree on every dimension but the first.
 */
export function batchKey(member: BatchMember, outputNames: readonly string[], plan: PaddingPlan): string {
  let key = outputNames.join(',');
  for (const [name, tensor] of Object.entries(member.feeds)) {
    key += `|${name}:${plan.padValues.has(name) ? tensor.dims.slice(2).join('x') : tensor.dims.slice(1).join('x')}`;
  }
  return key;
}

/** The sequence length of a request: the second dimension of its sequence inputs, which must agree. */
export function sequenceLengthOf(feeds: Readonly<Record<string, Tensor>>, plan: PaddingPlan): number | string {
  let length: number | undefined;
  let from = '';
  for (const name of plan.padValues.keys()) {
    const tensor = feeds[name];
    if (!tensor) continue;
    const dim = tensor.dims[1]!;
    if (length !== undefined && dim !== length) return `${name} has sequence length ${dim} but ${from} has ${length}`;
    length = dim;
    from = name;
  }
  return length ?? 0;
}

/**
 * One tensor per input holding every member's rows, in member order, sequence inputs padded to the longest
 * member. Always freshly allocated, so the batch can be handed (transferred) to the inference thread without
 * touching buffers that still belong to a request's gRPC message.
 */
export function mergeInputs(members: readonly BatchMember[], plan: PaddingPlan): { feeds: Record<string, Tensor>; sequenceLength: number } {
  const first = members[0];
  if (!first) throw new Error('mergeInputs needs at least one member');
  let totalRows = 0;
  let sequenceLength = 0;
  for (const member of members) {
    totalRows += member.rows;
    sequenceLength = Math.max(sequenceLength, member.sequenceLength);
  }
  const feeds: Record<string, Tensor> = {};
  for (const [name, sample] of Object.entries(first.feeds)) {
    const padValue = plan.padValues.get(name);
    const dims = [totalRows, ...(padValue === undefined ? sample.dims.slice(1) : [sequenceLength, ...sample.dims.slice(2)])];
    const rowElements = dims.slice(1).reduce((a, b) => a * b, 1);
    const data = new (sample.data.constructor as TypedArrayConstructor)(totalRows * rowElements);
    if (padValue !== undefined && padValue !== 0) fill(data, padValue);
    let row = 0;
    for (const member of members) {
      const source = member.feeds[name]!.data as TypedArray;
      if (padValue === undefined || member.sequenceLength === sequenceLength) {
        data.set(source as never, row * rowElements);
      } else {
        // Each of the member's rows lands at the start of a longer row; the rest keeps the pad value.
        const inner = sample.dims.slice(2).reduce((a, b) => a * b, 1);
        const memberRowElements = member.sequenceLength * inner;
        for (let r = 0; r < member.rows; r++) {
          data.set(source.subarray(r * memberRowElements, (r + 1) * memberRowElements) as never, (row + r) * rowElements);
        }
      }
      row += member.rows;
    }
    feeds[name] = new Tensor(sample.type, data, dims);
  }
  return { feeds, sequenceLength };
}

/**
 * Each member's rows of every output, as views (no copy) where the rows are contiguous. An output that carries
 * the padded sequence dimension (e.g. per-token logits) is cut back to the member's own length.
 */
export function splitOutputs(
  outputs: Readonly<Record<string, Tensor>>,
  members: readonly BatchMember[],
  paddedLength: number,
  sequenceOutputs: ReadonlySet<string>,
): Record<string, Tensor>[] {
  const split = members.map(() => ({}) as Record<string, Tensor>);
  for (const [name, tensor] of Object.entries(outputs)) {
    const data = tensor.data as TypedArray;
    const rowElements = tensor.dims.slice(1).reduce((a, b) => a * b, 1);
    const unpad = sequenceOutputs.has(name) && tensor.dims.length >= 2 && tensor.dims[1] === paddedLength;
    const inner = unpad ? tensor.dims.slice(2).reduce((a, b) => a * b, 1) : 0;
    let row = 0;
    members.forEach((member, m) => {
      if (!unpad || member.sequenceLength === paddedLength) {
        const view = data.subarray(row * rowElements, (row + member.rows) * rowElements);
        split[m]![name] = new Tensor(tensor.type, view, [member.rows, ...tensor.dims.slice(1)]);
      } else {
        const own = member.sequenceLength * inner;
        const out = new (data.constructor as TypedArrayConstructor)(member.rows * own);
        for (let r = 0; r < member.rows; r++) {
          out.set(data.subarray((row + r) * rowElements, (row + r) * rowElements + own) as never, r * own);
        }
        split[m]![name] = new Tensor(tensor.type, out, [member.rows, member.sequenceLength, ...tensor.dims.slice(2)]);
      }
      row += member.rows;
    });
  }
  return split;
}

function fill(data: TypedArray, value: number): void {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) data.fill(BigInt(value) as never);
  else (data as Float32Array).fill(value);
}

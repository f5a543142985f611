import { invalidArgument } from '@inference-mesh/service-kit';
import { endianness } from 'node:os';

export const FP32_BYTES = 4;

export interface LabelScore {
  readonly label: string;
  /** Softmax probability over all the row's labels. */
  readonly score: number;
}

export interface RankedRow {
  /** The best label and its probability. */
  readonly label: string;
  readonly score: number;
  /** Sorted by score descending (ties: lower label index first), cut to top-k. */
  readonly scores: LabelScore[];
}

if (endianness() !== 'LE') {
  // Logits are read through a Float32Array, which uses the host's byte order; the wire format is little-endian.
  throw new Error('rank requires a little-endian host');
}

/**
 * Softmax, labels and top-k for a batch of logits: FP32 little-endian, row-major `[rows, labels.length]`.
 * `topK` 0, or above the label count, keeps every label. A NaN or infinite logit anywhere fails the whole call
 * with INVALID_ARGUMENT: a broken model must not come back as a confident label.
 */
export function rankLogits(logits: Uint8Array, rows: number, labels: readonly string[], topK: number): RankedRow[] {
  const numLabels = labels.length;
  if (numLabels === 0) throw new RangeError('rankLogits needs at least one label');
  if (logits.byteLength !== rows * numLabels * FP32_BYTES) {
    throw new RangeError(`logits has ${logits.byteLength} bytes for ${rows} rows of ${numLabels} FP32 logits`);
  }
  const values = float32View(logits);
  const keep = topK === 0 || topK > numLabels ? numLabels : topK;
  const exps = new Float64Array(numLabels);
  const order = Array.from({ length: numLabels }, (_, i) => i);
  const byScoreDescending = (a: number, b: number) => exps[b]! - exps[a]! || a - b;
  const ranked = new Array<RankedRow>(rows);
  for (let row = 0; row < rows; row++) {
    const base = row * numLabels;
    let max = -Infinity;
    for (let i = 0; i < numLabels; i++) {
      const value = values[base + i]!;
      if (!Number.isFinite(value)) {
        throw invalidArgument(`logits row ${row}, label ${i} is ${String(value)}: refusing to label a non-finite score`);
      }
      if (value > max) max = value;
    }
    // Subtracting the row's max keeps exp() in (0, 1]: logits of 1000 would overflow to Infinity otherwise.
    let sum = 0;
    for (let i = 0; i < numLabels; i++) {
      const e = Math.exp(values[base + i]! - max);
      exps[i] = e;
      sum += e;
    }
    if (keep <= SELECT_TOP_K_UP_TO) {
      selectTop(exps, keep, order);
    } else {
      for (let i = 0; i < numLabels; i++) order[i] = i;
      order.sort(byScoreDescending);
    }
    const scores = new Array<LabelScore>(keep);
    for (let j = 0; j < keep; j++) {
      const i = order[j]!;
      scores[j] = { label: labels[i]!, score: exps[i]! / sum };
    }
    const best = scores[0]!;
    ranked[row] = { label: best.label, score: best.score, scores };
  }
  return ranked;
}

/** Up to this k, insertion into the k best beats sorting every label (O(labels x k) with a tiny k). */
const SELECT_TOP_K_UP_TO = 8;

/** Writes the indices of the `keep` largest scores to `order[0..keep)`, best first, ties to the lower index. */
function selectTop(scores: Float64Array, keep: number, order: number[]): void {
  let count = 0;
  for (let i = 0; i < scores.length; i++) {
    const score = scores[i]!;
    // A later index never displaces an equal score: that keeps ties in index order, as the sort does.
    if (count === keep && score <= scores[order[count - 1]!]!) continue;
    let at = count < keep ? count++ : count - 1;
    while (at > 0 && scores[order[at - 1]!]! < score) {
      order[at] = order[at - 1]!;
      at--;
    }
    order[at] = i;
  }
}

/**
 * The bytes as floats without a copy when they sit on a 4-byte boundary. protobufjs hands out `bytes` fields
 * as slices of the received message, at any offset, and a Float32Array cannot start off-boundary: copy once.
 */
function float32View(bytes: Uint8Array): Float32Array {
  const length = bytes.byteLength / FP32_BYTES;
  if (bytes.byteOffset % FP32_BYTES === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, length);
  const copy = new Float32Array(length);
  new Uint8Array(copy.buffer).set(bytes);
  return copy;
}

import { BatchEncoder, type EncodedBatch } from '@inference-mesh/tokenization';
import { modelFiles, readModelConfig } from '@inference-mesh/model-repository';

/** One batch of tokenised texts, ready for ONNX Runtime or a ModelInfer request: INT64 LE `[rows, sequenceLength]`. */
export interface TokenizedBatch {
  /** Index of its first text in the text list; its rows are texts [first, first + rows). */
  readonly first: number;
  readonly rows: number;
  readonly sequenceLength: number;
  readonly inputIds: Buffer;
  readonly attentionMask: Buffer;
}

/** A model version's tokenizer, loaded the way serving loads it (config.json's maximum length and pad id). */
export function encoderFor(versionDir: string): BatchEncoder {
  const config = readModelConfig(versionDir);
  return BatchEncoder.fromFile(modelFiles(versionDir).tokenizer, {
    maxLength: config.maxSequenceLength,
    ...(config.padTokenId !== undefined && { padTokenId: config.padTokenId }),
  });
}

/**
 * Consecutive texts in batches of `batchSize` rows (the last one may be shorter), each padded to its own longest
 * row; batch size 1 gives each text padded to its own length. Encoded a few batches at a time.
 */
export async function tokenizeInBatches(
  encoder: BatchEncoder,
  texts: readonly string[],
  batchSize: number,
): Promise<TokenizedBatch[]> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be >= 1, got ${batchSize}`);
  const starts: number[] = [];
  for (let first = 0; first < texts.length; first += batchSize) starts.push(first);
  const batches: TokenizedBatch[] = [];
  const inParallel = 32;
  for (let i = 0; i < starts.length; i += inParallel) {
    const group = starts.slice(i, i + inParallel);
    const encoded = await Promise.all(group.map((first) => encoder.encode(texts.slice(first, first + batchSize))));
    encoded.forEach((batch: EncodedBatch, j) => {
      batches.push({
        first: group[j]!,
        rows: batch.rows,
        sequenceLength: batch.sequenceLength,
        inputIds: batch.inputIds,
        attentionMask: batch.attentionMask,
      });
    });
  }
  return batches;
}

/** Only the batches with exactly `rows` rows (drops a short last batch, so every request carries the same rows). */
export function fullBatches(batches: readonly TokenizedBatch[], rows: number): TokenizedBatch[] {
  return batches.filter((batch) => batch.rows === rows);
}

/** Mean padded sequence length, weighted by rows: the work per row the model actually does. */
export function meanSequenceLength(batches: readonly TokenizedBatch[]): number {
  let tokens = 0;
  let rows = 0;
  for (const batch of batches) {
    tokens += batch.rows * batch.sequenceLength;
    rows += batch.rows;
  }
  return rows > 0 ? tokens / rows : 0;
}

/**
 * Texts ordered by token count (stable), as a bulk client batches them: the tokenizer pads a batch to its longest
 * row, so batching texts of similar length is what keeps padding, and wasted compute, low. `lengths` holds each
 * text's own length (e.g. from single-row batches).
 */
export function byLength<T>(items: readonly T[], lengths: readonly number[]): { sorted: T[]; order: number[] } {
  const order = items.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  return { sorted: order.map((i) => items[i]!), order };
}

/** Rows of a row-major `[n, width]` array taken in `order`. */
export function permuteRows(values: Float32Array, width: number, order: readonly number[]): Float32Array {
  const out = new Float32Array(order.length * width);
  order.forEach((from, to) => out.set(values.subarray(from * width, (from + 1) * width), to * width));
  return out;
}

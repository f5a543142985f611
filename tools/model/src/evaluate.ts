import { BatchEncoder } from '@inference-mesh/tokenization';
import { modelFiles, readModelConfig } from '@inference-mesh/model-repository';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { type LabelledText, LONG_TEXT_MIN_WORDS, wordCount } from './sst2';

export interface Evaluation {
  readonly rows: number;
  readonly accuracy: number;
  readonly longRows: number;
  /** Accuracy on full sentences (>= 10 words), harder than SST-2's short phrases. */
  readonly longAccuracy: number;
  /** Predicted label index per row. */
  readonly predictions: Uint8Array;
}

/** Loads a model version folder the way serving does: tokenizer.json through BatchEncoder, model.onnx in ONNX Runtime. */
export async function loadVersion(versionDir: string): Promise<{ encoder: BatchEncoder; session: InferenceSession }> {
  const files = modelFiles(versionDir);
  const config = readModelConfig(versionDir);
  const encoder = BatchEncoder.fromFile(files.tokenizer, {
    maxLength: config.maxSequenceLength,
    ...(config.padTokenId !== undefined && { padTokenId: config.padTokenId }),
  });
  const session = await InferenceSession.create(files.model, { intraOpNumThreads: 2, interOpNumThreads: 1 });
  return { encoder, session };
}

/** Logits `[rows, labels]` for `texts`, one ONNX Runtime run. */
export async function classifyBatch(
  encoder: BatchEncoder,
  session: InferenceSession,
  texts: readonly string[],
): Promise<{ logits: Float32Array; labels: number }> {
  const batch = await encoder.encode(texts);
  const shape = [batch.rows, batch.sequenceLength];
  const asInt64 = (bytes: Buffer) => new BigInt64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
  const outputs = await session.run({
    input_ids: new Tensor('int64', asInt64(batch.inputIds), shape),
    attention_mask: new Tensor('int64', asInt64(batch.attentionMask), shape),
  });
  const logits = outputs.logits!;
  return { logits: logits.data as Float32Array, labels: logits.dims[1]! };
}

export async function evaluate(versionDir: string, rows: readonly LabelledText[], batchSize = 256): Promise<Evaluation> {
  const { encoder, session } = await loadVersion(versionDir);
  try {
    const predictions = new Uint8Array(rows.length);
    let correct = 0;
    let longRows = 0;
    let longCorrect = 0;
    for (let start = 0; start < rows.length; start += batchSize) {
      const chunk = rows.slice(start, start + batchSize);
      const { logits, labels } = await classifyBatch(encoder, session, chunk.map((r) => r.text));
      chunk.forEach((row, i) => {
        const predicted = argmax(logits, i * labels, labels);
        predictions[start + i] = predicted;
        const right = predicted === row.label ? 1 : 0;
        correct += right;
        if (wordCount(row.text) >= LONG_TEXT_MIN_WORDS) {
          longRows++;
          longCorrect += right;
        }
      });
    }
    return { rows: rows.length, accuracy: correct / rows.length, longRows, longAccuracy: longCorrect / longRows, predictions };
  } finally {
    await session.release();
  }
}

function argmax(values: Float32Array, offset: number, length: number): number {
  let best = 0;
  for (let i = 1; i < length; i++) if (values[offset + i]! > values[offset + best]!) best = i;
  return best;
}

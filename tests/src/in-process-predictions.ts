import { REPO_ROOT } from '@inference-mesh/launcher';
import { classifyBatch, loadVersion } from '@inference-mesh/model-tools';
import { join } from 'node:path';

/** The in-process run's batch size: the mesh's answers are compared with runs padded the same way. */
export const IN_PROCESS_BATCH = 64;

/** What the mesh should answer for a version of `sentiment`, computed in this process with the same libraries: softmax of the logits. */
export async function inProcessPredictions(version: string, texts: readonly string[]): Promise<{ label: number; score: number }[]> {
  const { encoder, session } = await loadVersion(join(REPO_ROOT, 'models', 'sentiment', version));
  try {
    const predictions: { label: number; score: number }[] = [];
    for (let start = 0; start < texts.length; start += IN_PROCESS_BATCH) {
      const { logits, labels } = await classifyBatch(encoder, session, texts.slice(start, start + IN_PROCESS_BATCH));
      for (let row = 0; row * labels < logits.length; row++) {
        const values = Array.from(logits.subarray(row * labels, (row + 1) * labels));
        const max = Math.max(...values);
        const exps = values.map((v) => Math.exp(v - max));
        const sum = exps.reduce((a, b) => a + b, 0);
        const best = values.indexOf(max);
        predictions.push({ label: best, score: exps[best]! / sum });
      }
    }
    return predictions;
  } finally {
    await session.release();
  }
}

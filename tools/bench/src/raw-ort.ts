import { modelFiles } from '@inference-mesh/model-repository';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { meanSequenceLength, type TokenizedBatch } from './inputs';
import { runClosedLoop, type CaseMeasurement } from '@inference-mesh/tool-kit';

/**
 * The session options the model service uses by default on the CPU (services/model: sessionOptionsFor in
 * ort/session.ts with DEFAULT_EXECUTION from ort/execution-config.ts): all graph optimisations, sequential execution,
 * one inter-op thread, and intra-op threads left to ONNX Runtime (IMESH_MODEL_INTRA_OP_THREADS defaults to 0, which
 * leaves them unset). Kept in step by hand.
 */
export const SERVICE_SESSION_OPTIONS: InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  executionMode: 'sequential',
  interOpNumThreads: 1,
};

/**
 * The service's options, with IMESH_MODEL_INTRA_OP_THREADS applied when this process's environment sets it (the
 * services inherit that environment, so both sides then run with the same thread count).
 */
export function serviceSessionOptions(env: NodeJS.ProcessEnv = process.env): InferenceSession.SessionOptions {
  const intra = Number(env['IMESH_MODEL_INTRA_OP_THREADS'] ?? '0');
  return { ...SERVICE_SESSION_OPTIONS, ...(Number.isInteger(intra) && intra > 0 && { intraOpNumThreads: intra }) };
}

export async function createServiceLikeSession(versionDir: string, options = serviceSessionOptions()): Promise<InferenceSession> {
  return InferenceSession.create(modelFiles(versionDir).model, options);
}

/** ONNX Runtime feeds for a tokenised batch, made once and reused for every run. */
export interface PreparedFeeds {
  readonly rows: number;
  readonly feeds: Record<string, Tensor>;
}

export function feedsOf(batch: TokenizedBatch): PreparedFeeds {
  const shape = [batch.rows, batch.sequenceLength];
  const int64 = (bytes: Buffer) => new BigInt64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
  return {
    rows: batch.rows,
    feeds: {
      input_ids: new Tensor('int64', int64(batch.inputIds), shape),
      attention_mask: new Tensor('int64', int64(batch.attentionMask), shape),
    },
  };
}

/** Runs one prepared batch; resolves with its logits `[rows, labels]`. */
export async function runLogits(session: InferenceSession, prepared: PreparedFeeds): Promise<{ logits: Float32Array; labels: number }> {
  const outputs = await session.run(prepared.feeds);
  const logits = outputs['logits'];
  if (!logits) throw new Error('the model returned no "logits" output');
  const labels = logits.dims[1] ?? 0;
  if (logits.dims[0] !== prepared.rows || labels < 1) {
    throw new Error(`logits have shape [${logits.dims.join(', ')}] for ${prepared.rows} rows`);
  }
  return { logits: logits.data as Float32Array, labels };
}

/**
 * Reference logits for every text, `[texts, labels]` row-major, from the given batches (which must cover the
 * texts in order): what the service's answers are checked against.
 */
export async function referenceLogits(
  session: InferenceSession,
  batches: readonly TokenizedBatch[],
  textCount: number,
): Promise<{ logits: Float32Array; labels: number }> {
  let all: Float32Array | undefined;
  let labels = 0;
  for (const batch of batches) {
    const result = await runLogits(session, feedsOf(batch));
    if (!all) {
      labels = result.labels;
      all = new Float32Array(textCount * labels);
    }
    all.set(result.logits.subarray(0, batch.rows * labels), batch.first * labels);
  }
  return { logits: all ?? new Float32Array(0), labels };
}

export interface RawOrtCase {
  readonly batchSize: number;
  /** Batches that were cycled through. */
  readonly batches: number;
  readonly meanSequenceLength: number;
  readonly measurement: CaseMeasurement;
}

/** One caller running the batches of one size back to back: ONNX Runtime with nothing in front of it. */
export async function measureRawOrt(
  session: InferenceSession,
  batchSize: number,
  batches: readonly TokenizedBatch[],
  warmupMs: number,
  durationMs: number,
): Promise<RawOrtCase> {
  const prepared = batches.map(feedsOf);
  const measurement = await runClosedLoop({
    concurrency: 1,
    warmupMs,
    durationMs,
    issue: async (_, sequence) => {
      const feeds = prepared[sequence % prepared.length]!;
      await runLogits(session, feeds);
      return feeds.rows;
    },
  });
  return { batchSize, batches: batches.length, meanSequenceLength: meanSequenceLength(batches), measurement };
}

/** The fastest case, in rows per second. */
export function bestRawOrt(cases: readonly RawOrtCase[]): RawOrtCase | undefined {
  let best: RawOrtCase | undefined;
  for (const c of cases) if (!best || c.measurement.rowsPerSecond > best.measurement.rowsPerSecond) best = c;
  return best;
}

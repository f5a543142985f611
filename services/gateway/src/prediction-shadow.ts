import { status } from '@grpc/grpc-js';
import type { pipeline, postprocess, tokenizer } from '@inference-mesh/protos';
import { ServiceError, type Logger } from '@inference-mesh/service-kit';
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import type { Downstreams } from './downstreams';
import type { GatewayMetrics } from './gateway-metrics';
import type { AttemptOptions } from './hop-policy';
import { modelInferRequest, readLogits, toSignature, type ModelSignature } from './model-signature';
import type { VersionSplit } from './version-split';

/** Prediction agreement: how often, how long and how many shadow calls (IMESH_SHADOW_*). */
export interface ShadowConfig {
  /** Fraction of the split's merged calls that are shadowed, in (0, 1]; 0 is no shadowing (no PredictionShadow). */
  readonly sample: number;
  /** Deadline of one shadow (metadata, ModelInfer and postprocess together). */
  readonly timeoutMs: number;
  /** Shadows running at once; a sampled call that finds this many is dropped and counted as shed. */
  readonly maxInFlight: number;
}

export const DEFAULT_SHADOW: ShadowConfig = { sample: 0.1, timeoutMs: 2_000, maxInFlight: 2 };

/** What a shadow calls: the model service (with x-model-version) and postprocess, one attempt each, no hop policy. */
export type ShadowDownstreams = Pick<Downstreams, 'modelMetadata' | 'modelInfer' | 'postprocess'>;

export interface ShadowHooks {
  readonly metrics?: Pick<GatewayMetrics, 'recordShadowRows' | 'recordShadowShed' | 'recordShadowFailed'>;
  readonly logger?: Logger;
  /** The sampling draw, [0, 1); tests pin it. The shadow version is drawn by the split's own source. */
  readonly random?: () => number;
  /** Runs a shadow once the callers' answers are on their way; default setImmediate, after every pending promise job. */
  readonly schedule?: (task: () => void) => void;
}

/** What a caller got for one row: the served version's label and its score. */
export type ServedAnswer = Pick<pipeline.ClassifyResult__Output, 'label' | 'score'>;

/** One shadow's comparison with the answers the callers got. */
export interface RowComparison {
  readonly agree: number;
  readonly disagree: number;
  /** Sum over rows of |served score - shadow score|, each the score of that version's own label. */
  readonly scoreDifference: number;
}

/**
 * Compares row by row: the same label or not, and the absolute difference of the two scores (each version's score
 * for its own label: for rows that agree, how much the confidence moved; for rows that disagree, the two scores are
 * of different labels, and the disagreement is what counts).
 */
export function compareRows(served: readonly ServedAnswer[], shadow: readonly Pick<postprocess.Prediction__Output, 'label' | 'score'>[]): RowComparison {
  let agree = 0;
  let scoreDifference = 0;
  for (let row = 0; row < served.length; row++) {
    const { label, score } = served[row]!;
    const other = shadow[row]!;
    if (other.label === label) agree++;
    scoreDifference += Math.abs(score - other.score);
  }
  return { agree, disagree: served.length - agree, scoreDifference };
}

/**
 * Prediction agreement. A merged call the split answered from version A is, with probability `sample`, sent again
 * to another version B of the split (picked by weight): the same encoded inputs (the tokenizer's output, not
 * tokenized again), B's logits postprocessed, and each row compared with what the callers got from A. The metrics
 * say per (A, B) how many rows agree and by how much the scores differ.
 *
 * A shadow must never cost a caller anything: it starts after the callers' answers are on their way, reads them
 * and changes nothing, calls the downstreams directly (no retries; the hop breakers, bulkheads and retry budgets
 * never see it) with its own short deadline, and its failures are counted, never thrown. It is shed first: at
 * most `maxInFlight` run at once, and a sampled call that finds them all busy is dropped (and counted).
 */
export class PredictionShadow {
  private running = 0;
  private readonly closing = new AbortController();
  /** Shadow versions' signatures, apart from the pipeline's: a caller never waits on a shadow's metadata call. */
  private readonly signatures = new Map<string, Promise<ModelSignature>>();
  /** `pair/code` of failures already logged: each kind is logged once, then only counted. */
  private readonly loggedFailures = new Set<string>();
  private readonly pending = new Set<Promise<void>>();
  private readonly random: () => number;
  private readonly schedule: (task: () => void) => void;

  constructor(
    private readonly downstreams: ShadowDownstreams,
    readonly config: ShadowConfig,
    private readonly hooks: ShadowHooks = {},
  ) {
    if (!(config.sample > 0 && config.sample <= 1)) throw new RangeError(`sample must be in (0, 1], not ${config.sample}`);
    if (!(config.maxInFlight >= 1) || !(config.timeoutMs >= 1)) throw new RangeError('maxInFlight and timeoutMs must be at least 1');
    this.random = hooks.random ?? Math.random;
    this.schedule = hooks.schedule ?? setImmediate;
  }

  /** Shadows running now. */
  get inFlight(): number {
    return this.running;
  }

  /**
   * A merged call of `modelName` that `split` sent to `servedVersion` was answered `answers` from `encoded`:
   * maybe shadow it. Returns at once; allocates nothing unless sampled.
   */
  offer(
    modelName: string,
    servedVersion: string,
    split: VersionSplit,
    encoded: tokenizer.EncodeResponse__Output,
    answers: readonly ServedAnswer[],
  ): void {
    if (this.closing.signal.aborted || this.random() >= this.config.sample) return;
    const shadowVersion = split.pickOther(servedVersion);
    if (shadowVersion === undefined) return;
    if (this.running >= this.config.maxInFlight) {
      this.hooks.metrics?.recordShadowShed(modelName, servedVersion, shadowVersion);
      return;
    }
    this.running++;
    this.schedule(() => {
      // A trace of its own: the caller's ended with its answer.
      const done = context
        .with(ROOT_CONTEXT, () => this.run(modelName, servedVersion, shadowVersion, encoded, answers))
        .finally(() => {
          this.running--;
          this.pending.delete(done);
        });
      this.pending.add(done);
    });
  }

  /** Resolves once every shadow started so far has finished (for tests). */
  async settled(): Promise<void> {
    while (this.pending.size > 0 || this.running > 0) {
      if (this.pending.size > 0) await Promise.all(this.pending);
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Takes no more shadows and cancels those running (not counted as failures). Idempotent. */
  close(): void {
    this.closing.abort();
  }

  private async run(modelName: string, servedVersion: string, shadowVersion: string, encoded: tokenizer.EncodeResponse__Output, answers: readonly ServedAnswer[]): Promise<void> {
    if (this.closing.signal.aborted) return;
    const attempt: AttemptOptions = { deadlineMs: Date.now() + this.config.timeoutMs, signal: this.closing.signal };
    try {
      const signature = await this.signature(modelName, shadowVersion, attempt);
      const inferred = await this.downstreams.modelInfer(modelInferRequest(modelName, shadowVersion, signature, encoded, { shadow: true }), attempt);
      const logits = readLogits(inferred, encoded.rows);
      const processed = await this.downstreams.postprocess(
        // The top label and its score are all a row is compared on.
        { modelName, modelVersion: inferred.modelVersion, rows: encoded.rows, numLabels: logits.numLabels, logits: logits.bytes, topK: 1 },
        attempt,
      );
      if (processed.predictions.length !== answers.length) {
        throw new ServiceError(status.INTERNAL, `postprocess returned ${processed.predictions.length} predictions for ${answers.length} rows`);
      }
      const { agree, disagree, scoreDifference } = compareRows(answers, processed.predictions);
      this.hooks.metrics?.recordShadowRows(modelName, servedVersion, shadowVersion, agree, disagree, scoreDifference);
    } catch (error) {
      if (this.closing.signal.aborted) return;
      const code = statusName(error);
      this.hooks.metrics?.recordShadowFailed(modelName, servedVersion, shadowVersion, code);
      const logged = `${modelName}/${servedVersion}/${shadowVersion}/${code}`;
      if (!this.loggedFailures.has(logged)) {
        this.loggedFailures.add(logged);
        this.hooks.logger?.warn('shadow call failed: its rows are not compared (counted in imesh_gateway_shadow_failed_total; each kind is logged once)', {
          model: modelName,
          servedVersion,
          shadowVersion,
          code,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
  }

  private signature(modelName: string, modelVersion: string, attempt: AttemptOptions): Promise<ModelSignature> {
    const key = `${modelName}/${modelVersion}`;
    let cached = this.signatures.get(key);
    if (!cached) {
      cached = this.downstreams.modelMetadata({ name: modelName, version: modelVersion }, attempt).then((metadata) => toSignature(key, metadata));
      // A failure is not cached: the next shadow asks again.
      cached.catch(() => this.signatures.delete(key));
      this.signatures.set(key, cached);
    }
    return cached;
  }
}

/** The gRPC status code's name of a failed call (UNKNOWN for anything that is not one). */
function statusName(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'number' && typeof status[code] === 'string' ? status[code] : 'UNKNOWN';
}

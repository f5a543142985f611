import { status } from '@grpc/grpc-js';
import type { pipeline } from '@inference-mesh/protos';
import { ServiceError, isServiceError, type Logger } from '@inference-mesh/service-kit';
import type { FallbackConfig } from './config';
import { DownstreamError } from './hop-policy';
import type { CallBudget, ClassifyInput } from './pipeline';

export type Classify = (input: ClassifyInput, budget: CallBudget) => Promise<pipeline.ClassifyResult[]>;

/** At most one "serving from the fallback" warning per this long: loud enough to notice, not one per request. */
const WARN_INTERVAL_MS = 10_000;

/**
 * The fallback model (off by default): when the primary model service is unavailable (its circuit breaker open,
 * or every attempt UNAVAILABLE), requests for `config.model` are answered by `config.version` from a second
 * model deployment, each result marked `degraded` and naming the version that served it. Never silently: the
 * results say so, and a warning is logged while it lasts.
 *
 * The whole pipeline runs again for the fallback version, from the tokenizer on: a smaller model may have its own
 * tokenizer, and the model service refuses ids from another one.
 */
export class ModelFallback {
  private lastWarningMs = -Infinity;

  constructor(
    private readonly config: FallbackConfig,
    private readonly defaultModel: string,
    private readonly classifyOnFallback: Classify,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the primary's `error` for `input` is one the fallback may answer instead. */
  covers(error: unknown, input: ClassifyInput, budget: CallBudget): boolean {
    return (
      error instanceof DownstreamError &&
      error.downstream === 'model' &&
      error.code === status.UNAVAILABLE &&
      (input.modelName || this.defaultModel) === this.config.model &&
      !budget.signal.aborted &&
      budget.deadlineMs > this.now()
    );
  }

  /** Runs `next` (the primary pipeline); answers from the fallback when `covers` says so. */
  async around(input: ClassifyInput, budget: CallBudget, next: Classify): Promise<pipeline.ClassifyResult[]> {
    try {
      return await next(input, budget);
    } catch (primaryError) {
      if (!this.covers(primaryError, input, budget)) throw primaryError;
      return this.answer(input, budget, primaryError as DownstreamError);
    }
  }

  private async answer(input: ClassifyInput, budget: CallBudget, primaryError: DownstreamError): Promise<pipeline.ClassifyResult[]> {
    const now = this.now();
    if (now - this.lastWarningMs >= WARN_INTERVAL_MS) {
      this.lastWarningMs = now;
      this.logger.warn('the primary model is unavailable: answering from the fallback, marked degraded', {
        model: this.config.model,
        fallbackVersion: this.config.version,
        reason: primaryError.message,
      });
    }
    let results: pipeline.ClassifyResult[];
    try {
      results = await this.classifyOnFallback({ ...input, modelName: this.config.model, modelVersion: this.config.version }, budget);
    } catch (fallbackError) {
      const code = isServiceError(fallbackError) ? fallbackError.code : status.UNAVAILABLE;
      const detail = fallbackError instanceof Error ? fallbackError.message : String(fallbackError);
      throw new ServiceError(code, `${primaryError.message}; the fallback ${this.config.model}/${this.config.version} failed too: ${detail}`);
    }
    for (const result of results) result.degraded = true;
    return results;
  }
}

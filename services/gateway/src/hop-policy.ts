import { status } from '@grpc/grpc-js';
import { ServiceError, isGrpcCallError, type Logger } from '@inference-mesh/service-kit';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  ConsecutiveBreaker,
  ExponentialBackoff,
  bulkhead,
  circuitBreaker,
  handleWhen,
  retry,
  wrap,
  type CircuitBreakerPolicy,
  type IPolicy,
} from 'cockatiel';
import type { Hop, HopPolicyConfig } from './config';

/** What one attempt at a downstream call is given: its own deadline and a signal that cancels it. */
export interface AttemptOptions {
  readonly deadlineMs: number;
  readonly signal: AbortSignal;
}

/** An attempt ran into its own time cap while the caller still had time: the downstream is slow. */
class AttemptTimeoutError extends Error {
  override readonly name = 'AttemptTimeoutError';
}

/** Below this, an attempt could not finish anyway; failing now leaves the caller time to react. */
const MIN_ATTEMPT_MS = 5;

const BREAKER_CODES = new Set([status.UNAVAILABLE, status.INTERNAL, status.UNKNOWN, status.DATA_LOSS]);

/**
 * The resilience policy for one downstream, shared by every call to it: a bulkhead bounds concurrent calls,
 * retries re-send only UNAVAILABLE (with decorrelated-jitter exponential backoff and a small cap), and a
 * consecutive-failure circuit breaker sees every attempt. Each attempt's timeout is a gRPC deadline: the
 * earlier of the caller's deadline and the per-attempt cap, so the downstream learns it too and can drop work
 * nobody waits for.
 */
export class HopPolicy {
  private readonly policy: IPolicy;
  private readonly breaker: CircuitBreakerPolicy;

  constructor(
    readonly hop: Hop,
    private readonly config: HopPolicyConfig,
    logger: Logger,
  ) {
    const isRetryable = (error: Error) => isGrpcCallError(error) && error.code === status.UNAVAILABLE;
    const isBreakerFailure = (error: Error) =>
      error instanceof AttemptTimeoutError || (isGrpcCallError(error) && BREAKER_CODES.has(error.code));
    this.breaker = circuitBreaker(handleWhen(isBreakerFailure), {
      halfOpenAfter: config.breakerHalfOpenAfterMs,
      breaker: new ConsecutiveBreaker(config.breakerConsecutiveFailures),
    });
    const retryPolicy = retry(handleWhen(isRetryable), {
      maxAttempts: config.retryMaxAttempts,
      backoff: new ExponentialBackoff({ initialDelay: config.retryInitialBackoffMs, maxDelay: config.retryMaxBackoffMs }),
    });
    this.policy = wrap(bulkhead(config.bulkheadLimit, config.bulkheadQueue), retryPolicy, this.breaker);
    this.breaker.onStateChange((state) => logger.warn('circuit breaker state changed', { hop, state }));
    retryPolicy.onRetry(({ attempt, delay }) => logger.debug('retrying', { hop, attempt, delayMs: delay }));
  }

  /** The breaker's state, for health and metrics (cockatiel's CircuitState: 0 closed, 1 open, 2 half-open, 3 isolated). */
  get circuitState(): number {
    return this.breaker.state;
  }

  /**
   * Runs `attempt` under the policy. Rejects with a ServiceError whose code and message are fit for the
   * gateway's caller.
   */
  async execute<T>(attempt: (options: AttemptOptions) => Promise<T>, callerDeadlineMs: number, signal: AbortSignal): Promise<T> {
    try {
      return await this.policy.execute(async ({ signal: policySignal }) => {
        // cockatiel's retry neither stops its backoff sleep on abort nor looks at deadlines: check both here.
        if (signal.aborted) throw new ServiceError(status.CANCELLED, `${this.hop} call cancelled by the caller`);
        const now = Date.now();
        if (callerDeadlineMs - now < MIN_ATTEMPT_MS) {
          throw new ServiceError(status.DEADLINE_EXCEEDED, `deadline exceeded before the ${this.hop} call`);
        }
        const attemptDeadlineMs = Math.min(callerDeadlineMs, now + this.config.attemptTimeoutMs);
        try {
          return await attempt({ deadlineMs: attemptDeadlineMs, signal: policySignal });
        } catch (error) {
          if (isGrpcCallError(error) && error.code === status.DEADLINE_EXCEEDED && attemptDeadlineMs < callerDeadlineMs) {
            throw new AttemptTimeoutError(`${this.hop} did not answer within ${this.config.attemptTimeoutMs} ms`);
          }
          throw error;
        }
      }, signal);
    } catch (error) {
      // Whatever the last attempt said, a caller who cancelled gets CANCELLED.
      if (signal.aborted && !(error instanceof ServiceError)) {
        throw new ServiceError(status.CANCELLED, `${this.hop} call cancelled by the caller`);
      }
      throw this.toCallerError(error);
    }
  }

  private toCallerError(error: unknown): ServiceError {
    const hop = this.hop;
    if (error instanceof ServiceError) return error;
    if (error instanceof BrokenCircuitError) {
      return new ServiceError(
        status.UNAVAILABLE,
        `${hop} is failing: its circuit breaker is open, so calls fail fast; it is probed again ${this.config.breakerHalfOpenAfterMs} ms after opening`,
      );
    }
    if (error instanceof BulkheadRejectedError) {
      return new ServiceError(status.RESOURCE_EXHAUSTED, `the gateway is at capacity for ${hop} calls; retry later or with backoff`);
    }
    if (error instanceof AttemptTimeoutError) return new ServiceError(status.DEADLINE_EXCEEDED, error.message);
    if (isGrpcCallError(error)) {
      switch (error.code) {
        case status.UNAVAILABLE:
          return new ServiceError(status.UNAVAILABLE, `${hop} unavailable: ${error.details}`);
        case status.INVALID_ARGUMENT:
          // Only the tokenizer sees the caller's own data; the model and postprocess only see what the gateway
          // built from it, so their refusal is the mesh's fault (e.g. non-finite logits), not the caller's.
          if (hop !== 'tokenizer') return new ServiceError(status.INTERNAL, `${hop} refused the gateway's request: ${error.details}`);
          return new ServiceError(error.code, error.details);
        case status.NOT_FOUND:
        case status.FAILED_PRECONDITION:
        case status.RESOURCE_EXHAUSTED:
        case status.DEADLINE_EXCEEDED:
        case status.CANCELLED:
        case status.OUT_OF_RANGE:
          return new ServiceError(error.code, error.details);
        default:
          return new ServiceError(status.INTERNAL, `${hop} failed: ${error.details}`);
      }
    }
    if (error instanceof Error && error.name === 'AbortError') {
      return new ServiceError(status.CANCELLED, `${hop} call cancelled by the caller`);
    }
    return new ServiceError(status.INTERNAL, `${hop} call failed: ${String(error)}`);
  }
}

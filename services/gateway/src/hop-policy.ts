import { status } from '@grpc/grpc-js';
import { abortedStatus, ServiceError, isGrpcCallError, type Logger } from '@inference-mesh/service-kit';
import { BulkheadRejectedError, bulkhead, type BulkheadPolicy } from 'cockatiel';
import { CircuitBreaker, type AttemptOutcome, type CircuitState } from './circuit-breaker';
import type { HopPolicyConfig } from './config';
import type { GatewayMetrics } from './gateway-metrics';
import { DEFAULT_RETRY_BUDGET, RetryBudget } from './retry-budget';

/** What one attempt at a downstream call is given: its own deadline and a signal that cancels it. */
export interface AttemptOptions {
  readonly deadlineMs: number;
  readonly signal: AbortSignal;
}

/**
 * What the gateway's caller gets when a downstream call fails: a ServiceError (code and message fit for the
 * caller) that still says which downstream it came from, so the pipeline can react per hop (e.g. the fallback
 * model) without reading messages.
 */
export class DownstreamError extends ServiceError {
  constructor(
    readonly downstream: string,
    code: status,
    message: string,
  ) {
    super(code, message);
  }
}

/** An attempt ran into its own time cap while the caller still had time: the downstream is slow. */
class AttemptTimeoutError extends Error {
  override readonly name = 'AttemptTimeoutError';
}

/** Below this, an attempt could not finish anyway; failing now leaves the caller time to react. */
const MIN_ATTEMPT_MS = 5;

/** Statuses that say the downstream is unwell (Envoy's outlier detection counts the same as 5xx). */
const FAILURE_CODES = new Set([status.UNAVAILABLE, status.INTERNAL, status.UNKNOWN, status.DATA_LOSS]);

export interface HopPolicyHooks {
  readonly metrics?: GatewayMetrics;
  /** Jitter source, [0, 1); tests pin it. */
  readonly random?: () => number;
}

/**
 * The resilience policy for one downstream, shared by every call to it, outermost first:
 * - a bulkhead (cockatiel) bounds concurrent calls; full: RESOURCE_EXHAUSTED at once;
 * - a consecutive-failure circuit breaker counts calls (after their retries); open: UNAVAILABLE naming the
 *   downstream, at once, and one probe call after the half-open delay;
 * - retries re-send only UNAVAILABLE, with decorrelated-jitter backoff and an attempt cap, only while the
 *   downstream's retry budget has tokens and the caller's deadline leaves time for the backoff and an attempt;
 *   a cancelled call stops during its backoff; `retryMaxAttempts` 0 turns them off (e.g. when a mesh retries).
 * Each attempt's timeout is a gRPC deadline: the earlier of the caller's deadline and the per-attempt cap, so the
 * downstream learns it too and can drop work nobody waits for.
 */
export class HopPolicy {
  private readonly bulkhead: BulkheadPolicy;
  private readonly breaker: CircuitBreaker;
  private readonly budget: RetryBudget;
  private readonly metrics: GatewayMetrics | undefined;
  private readonly random: () => number;

  constructor(
    /** The downstream's name in messages, logs and metrics. */
    readonly hop: string,
    private readonly config: HopPolicyConfig,
    private readonly logger: Logger,
    hooks: HopPolicyHooks = {},
  ) {
    this.bulkhead = bulkhead(config.bulkheadLimit, config.bulkheadQueue);
    this.breaker = new CircuitBreaker({
      consecutiveFailures: config.breakerConsecutiveFailures,
      halfOpenAfterMs: config.breakerHalfOpenAfterMs,
      onStateChange: (state) => logger.warn('circuit breaker state changed', { hop, state }),
    });
    this.budget = new RetryBudget(config.retryBudget ?? DEFAULT_RETRY_BUDGET);
    this.metrics = hooks.metrics;
    this.random = hooks.random ?? Math.random;
    this.metrics?.trackBreaker(hop, () => this.breaker.state);
  }

  get circuitState(): CircuitState {
    return this.breaker.state;
  }

  /**
   * Runs `attempt` under the policy. Rejects with a DownstreamError whose code and message are fit for the
   * gateway's caller.
   */
  async execute<T>(attempt: (options: AttemptOptions) => Promise<T>, callerDeadlineMs: number, signal: AbortSignal): Promise<T> {
    try {
      return await this.bulkhead.execute(() => this.withBreaker(attempt, callerDeadlineMs, signal), signal);
    } catch (error) {
      // Whatever the last attempt said, a caller who cancelled gets CANCELLED (DEADLINE_EXCEEDED when its deadline passed).
      if (signal.aborted && !(error instanceof ServiceError)) throw this.cancelled(signal);
      if (error instanceof BulkheadRejectedError) this.metrics?.recordShed(this.hop);
      throw this.toCallerError(error);
    }
  }

  /**
   * The breaker counts calls, each after its retries, not attempts: when one replica of several dies, the calls
   * in flight on it fail but their retries succeed on another, and the circuit stays closed for everyone.
   */
  private async withBreaker<T>(attempt: (options: AttemptOptions) => Promise<T>, callerDeadlineMs: number, signal: AbortSignal): Promise<T> {
    const permit = this.breaker.tryAcquire();
    if (!permit) {
      throw new DownstreamError(
        this.hop,
        status.UNAVAILABLE,
        `${this.hop} is failing: its circuit breaker is open, so calls fail fast; it is probed again ${this.config.breakerHalfOpenAfterMs} ms after opening`,
      );
    }
    try {
      const result = await this.withRetries(attempt, callerDeadlineMs, signal);
      this.breaker.record(permit, 'success');
      return result;
    } catch (error) {
      this.breaker.record(permit, signal.aborted ? 'ignored' : outcomeOf(error));
      throw error;
    }
  }

  /**
   * The retry loop is written here rather than as cockatiel's `retry()` (3.2.1), because that cannot express
   * four of its rules:
   * - Never retry into the deadline: the decision needs the next delay, but cockatiel decides first
   *   (`handleWhen` sees only the error) and draws the delay afterwards; `onRetry`, the one hook that sees the
   *   delay, is a notification and cannot call the retry off.
   * - A cancelled call stops during its backoff: cockatiel's sleep ignores the AbortSignal, so the caller would
   *   wait out the backoff (up to IMESH_RETRY_MAX_BACKOFF_MS) and cockatiel would then make one more attempt.
   * - Delays from IMESH_RETRY_INITIAL_BACKOFF_MS to IMESH_RETRY_MAX_BACKOFF_MS: cockatiel's decorrelated jitter
   *   (Polly's V2 formula) scales `initialDelay` instead of starting there, and draws the first delay from
   *   (0, about 1.4x initialDelay), so a retry could be scheduled sooner than configured (and squeeze in before a
   *   deadline the configured delay would reach).
   * - One budget token per retry actually sent: `handleWhen` does not know the attempt number, so a predicate
   *   that withdraws would also pay for the last failure, which the attempt cap does not retry.
   * Working around all four would leave cockatiel counting attempts and nothing else, with the decisions, the
   * jitter and the sleep still ours, spread over callbacks. Cockatiel keeps what it does as specified: the
   * bulkhead.
   */
  private async withRetries<T>(attempt: (options: AttemptOptions) => Promise<T>, callerDeadlineMs: number, signal: AbortSignal): Promise<T> {
    this.budget.recordCall();
    let previousDelayMs = this.config.retryInitialBackoffMs;
    for (let retries = 0; ; retries++) {
      if (signal.aborted) throw this.cancelled(signal);
      const now = Date.now();
      if (callerDeadlineMs - now < MIN_ATTEMPT_MS) {
        throw new DownstreamError(this.hop, status.DEADLINE_EXCEEDED, `deadline exceeded before the ${this.hop} call`);
      }
      const attemptDeadlineMs = Math.min(callerDeadlineMs, now + this.config.attemptTimeoutMs);
      let failure: unknown;
      try {
        return await attempt({ deadlineMs: attemptDeadlineMs, signal });
      } catch (error) {
        failure =
          isGrpcCallError(error) && error.code === status.DEADLINE_EXCEEDED && attemptDeadlineMs < callerDeadlineMs
            ? new AttemptTimeoutError(`${this.hop} did not answer within ${this.config.attemptTimeoutMs} ms`)
            : error;
      }
      // Only UNAVAILABLE is safe and useful to re-send: the call did not run, or its replica is gone. Never
      // INVALID_ARGUMENT (it would fail again), RESOURCE_EXHAUSTED (retrying a full queue adds to the load), or
      // a timeout (the work may still be running).
      if (!isGrpcCallError(failure) || failure.code !== status.UNAVAILABLE || signal.aborted) throw failure;
      if (retries >= this.config.retryMaxAttempts) throw failure;
      const delayMs = this.backoffMs(previousDelayMs);
      // Never retry into the deadline: the caller hears the real failure now rather than DEADLINE_EXCEEDED later.
      if (Date.now() + delayMs + MIN_ATTEMPT_MS >= callerDeadlineMs) throw failure;
      if (!this.budget.tryWithdraw()) {
        this.logger.debug('retry budget spent: not retrying', { hop: this.hop });
        throw failure;
      }
      previousDelayMs = delayMs;
      this.metrics?.recordRetry(this.hop);
      this.logger.debug('retrying', { hop: this.hop, retry: retries + 1, delayMs });
      await sleep(delayMs, signal);
    }
  }

  /** Decorrelated jitter (AWS architecture blog): random between the initial delay and 3x the previous one, capped. */
  private backoffMs(previousMs: number): number {
    const { retryInitialBackoffMs: initial, retryMaxBackoffMs: max } = this.config;
    const upper = Math.max(initial, previousMs * 3);
    return Math.min(max, Math.round(initial + this.random() * (upper - initial)));
  }

  private cancelled(signal?: AbortSignal): DownstreamError {
    if (signal && abortedStatus(signal) === status.DEADLINE_EXCEEDED) {
      return new DownstreamError(this.hop, status.DEADLINE_EXCEEDED, `the caller's deadline passed during the ${this.hop} call`);
    }
    return new DownstreamError(this.hop, status.CANCELLED, `${this.hop} call cancelled by the caller`);
  }

  private toCallerError(error: unknown): ServiceError {
    const hop = this.hop;
    if (error instanceof ServiceError) return error;
    if (error instanceof BulkheadRejectedError) {
      return new DownstreamError(hop, status.RESOURCE_EXHAUSTED, `the gateway is at capacity for ${hop} calls; retry later or with backoff`);
    }
    if (error instanceof AttemptTimeoutError) return new DownstreamError(hop, status.DEADLINE_EXCEEDED, error.message);
    if (isGrpcCallError(error)) {
      switch (error.code) {
        case status.UNAVAILABLE:
          return new DownstreamError(hop, status.UNAVAILABLE, `${hop} unavailable: ${error.details}`);
        case status.INVALID_ARGUMENT:
          // Only the tokenizer sees the caller's own data; the model and postprocess only see what the gateway
          // built from it, so their refusal is the mesh's fault (e.g. non-finite logits), not the caller's.
          if (hop !== 'tokenizer') return new DownstreamError(hop, status.INTERNAL, `${hop} refused the gateway's request: ${error.details}`);
          return new DownstreamError(hop, error.code, error.details);
        case status.NOT_FOUND:
        case status.FAILED_PRECONDITION:
        case status.RESOURCE_EXHAUSTED:
        case status.DEADLINE_EXCEEDED:
        case status.CANCELLED:
        case status.OUT_OF_RANGE:
          return new DownstreamError(hop, error.code, error.details);
        default:
          return new DownstreamError(hop, status.INTERNAL, `${hop} failed: ${error.details}`);
      }
    }
    if (error instanceof Error && error.name === 'AbortError') return this.cancelled();
    return new DownstreamError(hop, status.INTERNAL, `${hop} call failed: ${String(error)}`);
  }
}

function outcomeOf(error: unknown): AttemptOutcome {
  if (error instanceof AttemptTimeoutError) return 'failure';
  if (!isGrpcCallError(error)) return 'ignored';
  if (FAILURE_CODES.has(error.code)) return 'failure';
  // The caller's own deadline or a cancellation says nothing about the downstream's health.
  if (error.code === status.DEADLINE_EXCEEDED || error.code === status.CANCELLED) return 'ignored';
  return 'success';
}

/** Resolves after `ms`, or at once when `signal` aborts (the caller then sees CANCELLED). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

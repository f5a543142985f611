import { readDefaultModel } from '@inference-mesh/model-repository';
import { readServerConfig, type EnvReader, type ServerConfig } from '@inference-mesh/service-kit';

export type Hop = 'tokenizer' | 'model' | 'postprocess';
export const HOPS: readonly Hop[] = ['tokenizer', 'model', 'postprocess'];

/** How the gateway treats one downstream. Defaults suit loopback and in-cluster calls. */
export interface HopPolicyConfig {
  /** Retries after the first attempt, on UNAVAILABLE only. */
  readonly retryMaxAttempts: number;
  readonly retryInitialBackoffMs: number;
  readonly retryMaxBackoffMs: number;
  /** Consecutive failures that open the circuit. */
  readonly breakerConsecutiveFailures: number;
  readonly breakerHalfOpenAfterMs: number;
  /** Upper bound on one attempt; the caller's remaining deadline bounds it further. */
  readonly attemptTimeoutMs: number;
  /** Concurrent calls to this downstream, and calls allowed to wait for a slot. */
  readonly bulkheadLimit: number;
  readonly bulkheadQueue: number;
}

export interface GatewayConfig {
  readonly server: ServerConfig;
  /** gRPC targets: `host:port`, or `dns:///name:port` to balance over every address the name resolves to. */
  readonly targets: Readonly<Record<Hop, string>>;
  readonly defaultModel: string;
  readonly maxBatchTexts: number;
  /** Deadline applied to a call that arrives without one, so no request can hold resources forever. */
  readonly defaultDeadlineMs: number;
  /** Requests one ClassifyStream may have in flight before the gateway stops reading from it. */
  readonly streamMaxInFlight: number;
  readonly healthPollIntervalMs: number;
  readonly policy: HopPolicyConfig;
}

const DEFAULT_TARGETS: Readonly<Record<Hop, string>> = {
  tokenizer: '127.0.0.1:50052',
  model: '127.0.0.1:50053',
  postprocess: '127.0.0.1:50054',
};

export function readGatewayConfig(env: EnvReader): GatewayConfig {
  const policy: HopPolicyConfig = {
    retryMaxAttempts: env.integer('IMESH_RETRY_MAX_ATTEMPTS', 2, { min: 0, max: 5 }),
    retryInitialBackoffMs: env.integer('IMESH_RETRY_INITIAL_BACKOFF_MS', 25, { min: 1, max: 10_000 }),
    retryMaxBackoffMs: env.integer('IMESH_RETRY_MAX_BACKOFF_MS', 250, { min: 1, max: 60_000 }),
    breakerConsecutiveFailures: env.integer('IMESH_BREAKER_CONSECUTIVE_FAILURES', 5, { min: 1, max: 1000 }),
    breakerHalfOpenAfterMs: env.integer('IMESH_BREAKER_HALF_OPEN_AFTER_MS', 5_000, { min: 1, max: 600_000 }),
    attemptTimeoutMs: env.integer('IMESH_ATTEMPT_TIMEOUT_MS', 10_000, { min: 1, max: 600_000 }),
    bulkheadLimit: env.integer('IMESH_BULKHEAD_LIMIT', 256, { min: 1, max: 100_000 }),
    bulkheadQueue: env.integer('IMESH_BULKHEAD_QUEUE', 1024, { min: 0, max: 1_000_000 }),
  };
  if (policy.retryInitialBackoffMs > policy.retryMaxBackoffMs) {
    env.fail(`IMESH_RETRY_INITIAL_BACKOFF_MS (${policy.retryInitialBackoffMs}) exceeds IMESH_RETRY_MAX_BACKOFF_MS (${policy.retryMaxBackoffMs})`);
  }
  return {
    server: readServerConfig(env, 'gateway'),
    targets: {
      tokenizer: env.string('IMESH_TOKENIZER_TARGET', DEFAULT_TARGETS.tokenizer),
      model: env.string('IMESH_MODEL_TARGET', DEFAULT_TARGETS.model),
      postprocess: env.string('IMESH_POSTPROCESS_TARGET', DEFAULT_TARGETS.postprocess),
    },
    defaultModel: readDefaultModel(env),
    maxBatchTexts: env.integer('IMESH_MAX_BATCH_TEXTS', 256, { min: 1, max: 100_000 }),
    defaultDeadlineMs: env.integer('IMESH_DEFAULT_DEADLINE_MS', 30_000, { min: 1, max: 3_600_000 }),
    streamMaxInFlight: env.integer('IMESH_STREAM_MAX_IN_FLIGHT', 64, { min: 1, max: 100_000 }),
    healthPollIntervalMs: env.integer('IMESH_HEALTH_POLL_INTERVAL_MS', 2_000, { min: 100, max: 600_000 }),
    policy,
  };
}

import { resolve } from 'node:path';
import type { CoalescerOptions } from './request-coalescer';
import { readDefaultModel } from '@inference-mesh/model-repository';
import { readMaxBatchTexts, readServerConfig, type ClientTls, type EnvReader, type ServerConfig } from '@inference-mesh/service-kit';
import { targetProblem } from './downstream-targets';
import { DEFAULT_SHADOW, type ShadowConfig } from './prediction-shadow';
import { DEFAULT_RETRY_BUDGET, type RetryBudgetConfig } from './retry-budget';
import { readVersionWeights, VERSION_WEIGHTS_FILE_VARIABLE, VERSION_WEIGHTS_POLL_VARIABLE, type VersionWeight } from './version-split';

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
  /** Caps retries relative to calls per downstream; DEFAULT_RETRY_BUDGET when absent. */
  readonly retryBudget?: RetryBudgetConfig;
}

/**
 * A model version the gateway answers from, marked degraded, when the primary model service is unavailable
 * (its breaker open, or every attempt UNAVAILABLE). Off unless IMESH_FALLBACK_TARGET is set.
 */
export interface FallbackConfig {
  /** The model service(s) holding the fallback version, e.g. a CPU deployment of a smaller model. */
  readonly target: string;
  /** Requests for this model may fall back. */
  readonly model: string;
  /** The version that serves them; the tokenizer and postprocess must know it too. */
  readonly version: string;
}

export interface GatewayConfig {
  readonly server: ServerConfig;
  /**
   * gRPC targets: `host:port`; `dns:///name:port` to balance over every address the name resolves to; or a
   * comma-separated list `host:port,host:port` of replicas. Calls are balanced round-robin per call.
   */
  readonly targets: Readonly<Record<Hop, string>>;
  readonly defaultModel: string;
  readonly maxBatchTexts: number;
  /** Deadline applied to a call that arrives without one, so no request can hold resources forever. */
  readonly defaultDeadlineMs: number;
  /** Requests one ClassifyStream may have in flight before the gateway stops reading from it. */
  readonly streamMaxInFlight: number;
  /** Merging of concurrent requests into one call per hop; undefined when IMESH_GATEWAY_BATCHING=off. */
  readonly coalescing: CoalescerOptions | undefined;
  readonly healthPollIntervalMs: number;
  readonly policy: HopPolicyConfig;
  /**
   * IMESH_MODEL_VERSION_WEIGHTS: the default model's split for requests that name no version; empty: the latest.
   * With a weights file, only the value in force until the file is first read (or when it cannot be).
   */
  readonly modelVersionWeights: readonly VersionWeight[];
  /** IMESH_MODEL_VERSION_WEIGHTS_FILE: where the split is read from, and re-read while running; absent: the variable's split, fixed. */
  readonly modelVersionWeightsFile?: string;
  /** How often the weights file is read for changes (and a split not yet confirmed by the model service is checked). */
  readonly modelVersionWeightsPollMs: number;
  /** Pipeline requests in flight at once; more are refused with RESOURCE_EXHAUSTED (load shedding). */
  readonly maxInFlight: number;
  readonly fallback?: FallbackConfig;
  /**
   * Prediction agreement: a sample of the split's merged calls shadowed to another version of the split and
   * compared (prediction-shadow.ts); undefined when IMESH_SHADOW_SAMPLE=0.
   */
  readonly shadowing: ShadowConfig | undefined;
  /** TLS towards the downstreams; absent: plaintext. */
  readonly downstreamTls?: ClientTls;
}

const DEFAULT_TARGETS: Readonly<Record<Hop, string>> = {
  tokenizer: '127.0.0.1:50052',
  model: '127.0.0.1:50053',
  postprocess: '127.0.0.1:50054',
};

function readCoalescing(env: EnvReader): CoalescerOptions | undefined {
  const enabled = env.oneOf('IMESH_GATEWAY_BATCHING', 'on', ['on', 'off']) === 'on';
  const options: CoalescerOptions = {
    maxRows: env.integer('IMESH_GATEWAY_BATCH_MAX_TEXTS', 256, { min: 1, max: 100_000 }),
    maxInFlight: env.integer('IMESH_GATEWAY_BATCH_MAX_IN_FLIGHT', 2, { min: 1, max: 1_000 }),
    maxGatherUs: env.integer('IMESH_GATEWAY_BATCH_MAX_GATHER_US', 5_000, { min: 0, max: 1_000_000 }),
  };
  return enabled ? options : undefined;
}

function readShadowing(env: EnvReader): ShadowConfig | undefined {
  const options: ShadowConfig = {
    sample: env.number('IMESH_SHADOW_SAMPLE', DEFAULT_SHADOW.sample, { min: 0, max: 1 }),
    timeoutMs: env.integer('IMESH_SHADOW_TIMEOUT_MS', DEFAULT_SHADOW.timeoutMs, { min: 1, max: 600_000 }),
    maxInFlight: env.integer('IMESH_SHADOW_MAX_IN_FLIGHT', DEFAULT_SHADOW.maxInFlight, { min: 1, max: 10_000 }),
  };
  return options.sample > 0 ? options : undefined;
}

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
    retryBudget: {
      ratio: env.number('IMESH_RETRY_BUDGET_RATIO', DEFAULT_RETRY_BUDGET.ratio, { min: 0, max: 1 }),
      burst: env.integer('IMESH_RETRY_BUDGET_BURST', DEFAULT_RETRY_BUDGET.burst, { min: 0, max: 100_000 }),
    },
  };
  if (policy.retryInitialBackoffMs > policy.retryMaxBackoffMs) {
    env.fail(`IMESH_RETRY_INITIAL_BACKOFF_MS (${policy.retryInitialBackoffMs}) exceeds IMESH_RETRY_MAX_BACKOFF_MS (${policy.retryMaxBackoffMs})`);
  }
  const server = readServerConfig(env, 'gateway');
  const target = (name: string, fallback: string) => {
    const value = env.string(name, fallback);
    const problem = targetProblem(value);
    if (problem) env.fail(`${name}=${JSON.stringify(value)}: ${problem}`);
    return value;
  };
  const defaultModel = readDefaultModel(env);
  const fallbackTarget = env.has('IMESH_FALLBACK_TARGET') ? target('IMESH_FALLBACK_TARGET', '') : '';
  const fallbackVersion = env.string('IMESH_FALLBACK_MODEL_VERSION', '');
  const fallbackModel = env.string('IMESH_FALLBACK_MODEL', defaultModel);
  if (fallbackTarget && !fallbackVersion) env.fail('IMESH_FALLBACK_TARGET is set without IMESH_FALLBACK_MODEL_VERSION: name the version it serves');
  if (!fallbackTarget && fallbackVersion) env.fail('IMESH_FALLBACK_MODEL_VERSION is set without IMESH_FALLBACK_TARGET: name the model service that serves it');
  // Downstream TLS follows mutual TLS by default: a gateway that asks its clients for certificates talks to its
  // downstreams the same way, with the same CA and its own certificate.
  const downstreamTls = env.boolean('IMESH_DOWNSTREAM_TLS', server.tls?.ca !== undefined);
  // Resolved once, so that what the logs name is the file being read.
  const weightsFile = env.string(VERSION_WEIGHTS_FILE_VARIABLE, '').trim();
  return {
    server,
    targets: {
      tokenizer: target('IMESH_TOKENIZER_TARGET', DEFAULT_TARGETS.tokenizer),
      model: target('IMESH_MODEL_TARGET', DEFAULT_TARGETS.model),
      postprocess: target('IMESH_POSTPROCESS_TARGET', DEFAULT_TARGETS.postprocess),
    },
    defaultModel,
    maxBatchTexts: readMaxBatchTexts(env),
    defaultDeadlineMs: env.integer('IMESH_DEFAULT_DEADLINE_MS', 30_000, { min: 1, max: 3_600_000 }),
    streamMaxInFlight: env.integer('IMESH_STREAM_MAX_IN_FLIGHT', 64, { min: 1, max: 100_000 }),
    coalescing: readCoalescing(env),
    healthPollIntervalMs: env.integer('IMESH_HEALTH_POLL_INTERVAL_MS', 2_000, { min: 100, max: 600_000 }),
    policy,
    modelVersionWeights: readVersionWeights(env),
    ...(weightsFile !== '' && { modelVersionWeightsFile: resolve(weightsFile) }),
    modelVersionWeightsPollMs: env.integer(VERSION_WEIGHTS_POLL_VARIABLE, 1_000, { min: 50, max: 60_000 }),
    maxInFlight: env.integer('IMESH_MAX_IN_FLIGHT', 1024, { min: 1, max: 1_000_000 }),
    shadowing: readShadowing(env),
    ...(fallbackTarget && fallbackVersion ? { fallback: { target: fallbackTarget, model: fallbackModel, version: fallbackVersion } } : {}),
    ...(downstreamTls && {
      downstreamTls: {
        ...(server.tls?.ca && { ca: server.tls.ca }),
        ...(server.tls && { certChain: server.tls.certChain, privateKey: server.tls.privateKey }),
      },
    }),
  };
}

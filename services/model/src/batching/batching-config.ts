import type { EnvReader } from '@inference-mesh/service-kit';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One version's dynamic batching settings; names and meaning follow Triton's model configuration. */
export interface BatchingConfig {
  /** Off: each request runs on its own, as it arrives. */
  readonly enabled: boolean;
  /** Rows in one batch, and the most one request may carry (Triton max_batch_size). */
  readonly maxBatchSize: number;
  /** How long the oldest queued request may wait for company (Triton max_queue_delay_microseconds). */
  readonly maxQueueDelayUs: number;
  /** Batch sizes (rows) worth cutting at as soon as they are reached (Triton preferred_batch_size). */
  readonly preferredBatchSizes: readonly number[];
  /** Requests waiting; past this, new ones are refused with RESOURCE_EXHAUSTED. 0: unbounded. */
  readonly maxQueueSize: number;
  /** A request queued longer than this is refused (Triton default_timeout_microseconds). 0: no limit. */
  readonly defaultQueueTimeoutUs: number;
  /** Batches handed to the inference thread at once: one running, the next one ready. */
  readonly maxConcurrentBatches: number;
  /** Most of a batch's cells that may be padding before similar-length requests go in a batch of their own. */
  readonly maxPaddingRatio: number;
  /** Cut at once when no batch is running, instead of waiting the delay for company (see BatcherOptions). */
  readonly cutWhenIdle: boolean;
  /** Run a batch's rows in groups of similar real length, each padded to its own longest (see length-groups.ts). */
  readonly groupByLength: boolean;
}

export const SERVING_CONFIG_FILE = 'serving.json';

export const DEFAULT_BATCHING: BatchingConfig = {
  enabled: true,
  maxBatchSize: 256,
  // Not 0: Triton's default of 0 batches only what happens to be queued, which on a fast model is little. With
  // cutWhenIdle, only requests that arrive while a batch computes wait it, never a lone one.
  maxQueueDelayUs: 1000,
  preferredBatchSizes: [],
  maxQueueSize: 1024,
  defaultQueueTimeoutUs: 0,
  maxConcurrentBatches: 2,
  maxPaddingRatio: 0.5,
  cutWhenIdle: true,
  groupByLength: true,
};

/** Settings from the environment, which win over every version's serving.json. */
export type BatchingOverrides = Partial<BatchingConfig>;

export function readBatchingOverrides(env: EnvReader): BatchingOverrides {
  const overrides: { -readonly [K in keyof BatchingConfig]?: BatchingConfig[K] } = {};
  const set = <K extends keyof BatchingConfig>(key: K, variable: string, read: () => BatchingConfig[K]) => {
    if (env.has(variable)) overrides[key] = read();
  };
  set('enabled', 'IMESH_MODEL_BATCHING', () => env.oneOf('IMESH_MODEL_BATCHING', 'on', ['on', 'off']) === 'on');
  set('maxBatchSize', 'IMESH_MODEL_MAX_BATCH_SIZE', () => env.integer('IMESH_MODEL_MAX_BATCH_SIZE', DEFAULT_BATCHING.maxBatchSize, { min: 1, max: 65_536 }));
  set('maxQueueDelayUs', 'IMESH_MODEL_MAX_QUEUE_DELAY_US', () => env.integer('IMESH_MODEL_MAX_QUEUE_DELAY_US', 0, { min: 0, max: 10_000_000 }));
  set('preferredBatchSizes', 'IMESH_MODEL_PREFERRED_BATCH_SIZES', () => env.integerList('IMESH_MODEL_PREFERRED_BATCH_SIZES', { min: 1, max: 65_536 }));
  set('maxQueueSize', 'IMESH_MODEL_MAX_QUEUE_SIZE', () => env.integer('IMESH_MODEL_MAX_QUEUE_SIZE', 0, { min: 0, max: 10_000_000 }));
  set('defaultQueueTimeoutUs', 'IMESH_MODEL_DEFAULT_QUEUE_TIMEOUT_US', () => env.integer('IMESH_MODEL_DEFAULT_QUEUE_TIMEOUT_US', 0, { min: 0, max: 3_600_000_000 }));
  set('maxPaddingRatio', 'IMESH_MODEL_MAX_PADDING_RATIO', () => env.number('IMESH_MODEL_MAX_PADDING_RATIO', DEFAULT_BATCHING.maxPaddingRatio, { min: 0.01, max: 1 }));
  set('cutWhenIdle', 'IMESH_MODEL_CUT_WHEN_IDLE', () => env.boolean('IMESH_MODEL_CUT_WHEN_IDLE', DEFAULT_BATCHING.cutWhenIdle));
  set('groupByLength', 'IMESH_MODEL_GROUP_BY_LENGTH', () => env.boolean('IMESH_MODEL_GROUP_BY_LENGTH', DEFAULT_BATCHING.groupByLength));
  set('maxConcurrentBatches', 'IMESH_MODEL_MAX_CONCURRENT_BATCHES', () => env.integer('IMESH_MODEL_MAX_CONCURRENT_BATCHES', 2, { min: 1, max: 64 }));
  return overrides;
}

interface ServingFile {
  max_batch_size?: unknown;
  dynamic_batching?: {
    max_queue_delay_microseconds?: unknown;
    preferred_batch_size?: unknown;
    max_queue_size?: unknown;
    default_queue_timeout_microseconds?: unknown;
    max_concurrent_batches?: unknown;
    max_padding_ratio?: unknown;
    cut_when_idle?: unknown;
    group_by_length?: unknown;
  } | null;
}

/**
 * A version's batching: defaults, then its optional `serving.json` (Triton's field names), then the
 * environment. A file without `dynamic_batching` turns batching off for that version, as in Triton.
 * Throws with the file and field named when a value is wrong.
 */
export function resolveBatchingConfig(versionDir: string, overrides: BatchingOverrides): BatchingConfig {
  const path = join(versionDir, SERVING_CONFIG_FILE);
  let fromFile: BatchingOverrides = {};
  if (existsSync(path)) {
    let raw: ServingFile;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8')) as ServingFile;
    } catch (error) {
      throw new Error(`${path}: ${(error as Error).message}`);
    }
    const field = (name: string, value: unknown, min: number): number | undefined => {
      if (value === undefined) return undefined;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min) throw new Error(`${path}: ${name} must be an integer >= ${min}`);
      return value;
    };
    const ratio = (name: string, value: unknown): number | undefined => {
      if (value === undefined) return undefined;
      if (typeof value !== 'number' || !(value > 0 && value <= 1)) throw new Error(`${path}: ${name} must be a number in (0, 1]`);
      return value;
    };
    const flag = (name: string, value: unknown): boolean | undefined => {
      if (value === undefined) return undefined;
      if (typeof value !== 'boolean') throw new Error(`${path}: ${name} must be true or false`);
      return value;
    };
    const batching = raw.dynamic_batching;
    const preferred = batching?.preferred_batch_size;
    if (preferred !== undefined && (!Array.isArray(preferred) || preferred.some((n) => !Number.isInteger(n) || n < 1))) {
      throw new Error(`${path}: dynamic_batching.preferred_batch_size must be a list of integers >= 1`);
    }
    fromFile = withoutUndefined({
      enabled: batching !== undefined && batching !== null,
      maxBatchSize: field('max_batch_size', raw.max_batch_size, 1),
      maxQueueDelayUs: field('dynamic_batching.max_queue_delay_microseconds', batching?.max_queue_delay_microseconds, 0),
      preferredBatchSizes: preferred as number[] | undefined,
      maxQueueSize: field('dynamic_batching.max_queue_size', batching?.max_queue_size, 0),
      defaultQueueTimeoutUs: field('dynamic_batching.default_queue_timeout_microseconds', batching?.default_queue_timeout_microseconds, 0),
      maxConcurrentBatches: field('dynamic_batching.max_concurrent_batches', batching?.max_concurrent_batches, 1),
      maxPaddingRatio: ratio('dynamic_batching.max_padding_ratio', batching?.max_padding_ratio),
      cutWhenIdle: flag('dynamic_batching.cut_when_idle', batching?.cut_when_idle),
      groupByLength: flag('dynamic_batching.group_by_length', batching?.group_by_length),
    });
  }
  const config = { ...DEFAULT_BATCHING, ...fromFile, ...overrides };
  const tooLarge = config.preferredBatchSizes.filter((size) => size > config.maxBatchSize);
  if (tooLarge.length > 0) {
    throw new Error(`${versionDir}: preferred batch sizes ${tooLarge.join(', ')} exceed the max batch size ${config.maxBatchSize}`);
  }
  return { ...config, preferredBatchSizes: [...new Set(config.preferredBatchSizes)].sort((a, b) => a - b) };
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

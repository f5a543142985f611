import { EnvReader } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_BATCHING, readBatchingOverrides, resolveBatchingConfig } from './batching-config';

function versionDir(serving?: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'serving-'));
  if (serving !== undefined) writeFileSync(join(dir, 'serving.json'), typeof serving === 'string' ? serving : JSON.stringify(serving));
  return dir;
}

describe('batching config', () => {
  it('uses the defaults when a version has no serving.json and nothing is overridden', () => {
    assert.deepEqual(resolveBatchingConfig(versionDir(), {}), DEFAULT_BATCHING);
  });

  it('reads Triton\'s field names from serving.json, sorting preferred sizes', () => {
    const config = resolveBatchingConfig(
      versionDir({ max_batch_size: 64, dynamic_batching: { max_queue_delay_microseconds: 500, preferred_batch_size: [32, 8, 16], max_queue_size: 10, default_queue_timeout_microseconds: 2000 } }),
      {},
    );
    assert.deepEqual(config, { ...DEFAULT_BATCHING, maxBatchSize: 64, maxQueueDelayUs: 500, preferredBatchSizes: [8, 16, 32], maxQueueSize: 10, defaultQueueTimeoutUs: 2000 });
  });

  it('turns batching off for a serving.json without dynamic_batching, as Triton does', () => {
    assert.equal(resolveBatchingConfig(versionDir({ max_batch_size: 8 }), {}).enabled, false);
  });

  it('lets the environment override every version', () => {
    const env = new EnvReader({ IMESH_MODEL_BATCHING: 'off', IMESH_MODEL_MAX_QUEUE_DELAY_US: '0', IMESH_MODEL_PREFERRED_BATCH_SIZES: '4, 2' });
    const overrides = readBatchingOverrides(env);
    env.done();
    const config = resolveBatchingConfig(versionDir({ max_batch_size: 64, dynamic_batching: { max_queue_delay_microseconds: 500 } }), overrides);
    assert.deepEqual([config.enabled, config.maxBatchSize, config.maxQueueDelayUs, config.preferredBatchSizes], [false, 64, 0, [2, 4]]);
  });

  it('cuts when idle by default; serving.json (cut_when_idle) and IMESH_MODEL_CUT_WHEN_IDLE turn it off, the variable winning', () => {
    assert.equal(DEFAULT_BATCHING.cutWhenIdle, true);
    const dir = versionDir({ dynamic_batching: { cut_when_idle: false } });
    assert.equal(resolveBatchingConfig(dir, {}).cutWhenIdle, false);
    const env = new EnvReader({ IMESH_MODEL_CUT_WHEN_IDLE: 'true' });
    const overrides = readBatchingOverrides(env);
    env.done();
    assert.equal(resolveBatchingConfig(dir, overrides).cutWhenIdle, true);
    assert.throws(() => resolveBatchingConfig(versionDir({ dynamic_batching: { cut_when_idle: 'no' } }), {}), /dynamic_batching\.cut_when_idle must be true or false/);
  });

  it('names the file, field or variable when a value is wrong', () => {
    assert.throws(() => resolveBatchingConfig(versionDir('{'), {}), /serving\.json: /);
    assert.throws(() => resolveBatchingConfig(versionDir({ max_batch_size: 0 }), {}), /max_batch_size must be an integer >= 1/);
    assert.throws(() => resolveBatchingConfig(versionDir({ dynamic_batching: { preferred_batch_size: [0] } }), {}), /preferred_batch_size/);
    assert.throws(() => resolveBatchingConfig(versionDir({ max_batch_size: 8, dynamic_batching: { preferred_batch_size: [16] } }), {}), /preferred batch sizes 16 exceed the max batch size 8/);
    const env = new EnvReader({ IMESH_MODEL_PREFERRED_BATCH_SIZES: '8,x', IMESH_MODEL_BATCHING: 'maybe' });
    readBatchingOverrides(env);
    assert.throws(() => env.done(), (e: Error) => /IMESH_MODEL_PREFERRED_BATCH_SIZES="8,x"/.test(e.message) && /IMESH_MODEL_BATCHING="maybe"/.test(e.message));
  });
});

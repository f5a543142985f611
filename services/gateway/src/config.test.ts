import { EnvReader } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { readGatewayConfig } from './config';

describe('readGatewayConfig', () => {
  it('defaults to the local mesh on the default ports', () => {
    const env = new EnvReader({});
    const config = readGatewayConfig(env);
    env.done();
    assert.equal(config.server.port, 50051);
    assert.deepEqual(config.targets, { tokenizer: '127.0.0.1:50052', model: '127.0.0.1:50053', postprocess: '127.0.0.1:50054' });
    assert.equal(config.policy.retryMaxAttempts, 2);
  });

  it('names every bad variable, including cross-field conflicts', () => {
    const env = new EnvReader({ IMESH_RETRY_MAX_ATTEMPTS: '9', IMESH_RETRY_INITIAL_BACKOFF_MS: '500', IMESH_RETRY_MAX_BACKOFF_MS: '100', IMESH_BULKHEAD_LIMIT: 'lots' });
    readGatewayConfig(env);
    assert.throws(() => env.done(), (error: Error) =>
      /IMESH_RETRY_MAX_ATTEMPTS="9": expected an integer from 0 to 5/.test(error.message) &&
      /IMESH_BULKHEAD_LIMIT="lots"/.test(error.message) &&
      /IMESH_RETRY_INITIAL_BACKOFF_MS \(500\) exceeds IMESH_RETRY_MAX_BACKOFF_MS \(100\)/.test(error.message),
    );
  });

  it('reads the resilience settings: retry budget, in-flight limit, replica lists, fallback, downstream TLS', () => {
    const env = new EnvReader({
      IMESH_MODEL_TARGET: '10.0.0.1:50053, model-b.local:50053',
      IMESH_RETRY_BUDGET_RATIO: '0.1',
      IMESH_RETRY_BUDGET_BURST: '4',
      IMESH_MAX_IN_FLIGHT: '64',
      IMESH_FALLBACK_TARGET: 'dns:///model-cpu:50053',
      IMESH_FALLBACK_MODEL_VERSION: '1',
    });
    const config = readGatewayConfig(env);
    env.done();
    assert.equal(config.targets.model, '10.0.0.1:50053, model-b.local:50053');
    assert.deepEqual(config.policy.retryBudget, { ratio: 0.1, burst: 4 });
    assert.equal(config.maxInFlight, 64);
    assert.deepEqual(config.fallback, { target: 'dns:///model-cpu:50053', model: 'sentiment', version: '1' });
    assert.equal(config.downstreamTls, undefined, 'plaintext unless asked, or mutual TLS is on');
    const defaults = readGatewayConfig(new EnvReader({}));
    assert.equal(defaults.fallback, undefined, 'no fallback by default');
    assert.deepEqual(defaults.policy.retryBudget, { ratio: 0.2, burst: 10 });
  });

  it('reads the version split: the variable, the file to re-read and its poll interval', () => {
    const env = new EnvReader({ IMESH_MODEL_VERSION_WEIGHTS: '1=95,2=5', IMESH_MODEL_VERSION_WEIGHTS_FILE: '/etc/imesh/split/weights' });
    const config = readGatewayConfig(env);
    env.done();
    assert.deepEqual(config.modelVersionWeights, [{ version: '1', weight: 95 }, { version: '2', weight: 5 }]);
    assert.equal(config.modelVersionWeightsFile, '/etc/imesh/split/weights');
    assert.equal(config.modelVersionWeightsPollMs, 1_000);
    const defaults = readGatewayConfig(new EnvReader({}));
    assert.equal(defaults.modelVersionWeightsFile, undefined, 'no file: the variable\'s split, fixed');
    const bad = new EnvReader({ IMESH_MODEL_VERSION_WEIGHTS_POLL_INTERVAL_MS: '0' });
    readGatewayConfig(bad);
    assert.throws(() => bad.done(), /IMESH_MODEL_VERSION_WEIGHTS_POLL_INTERVAL_MS="0"/);
  });

  it('refuses a malformed replica list and half a fallback, naming the variables', () => {
    const env = new EnvReader({ IMESH_TOKENIZER_TARGET: 'a:1,b', IMESH_POSTPROCESS_TARGET: 'dns:///a:1,b:2', IMESH_FALLBACK_TARGET: 'm:1', IMESH_DOWNSTREAM_TLS: 'perhaps' });
    readGatewayConfig(env);
    assert.throws(() => env.done(), (error: Error) =>
      /IMESH_TOKENIZER_TARGET="a:1,b": a list of replicas must be host:port,host:port/.test(error.message) &&
      /IMESH_POSTPROCESS_TARGET="dns:\/\/\/a:1,b:2": a list takes plain host:port entries/.test(error.message) &&
      /IMESH_FALLBACK_TARGET is set without IMESH_FALLBACK_MODEL_VERSION/.test(error.message) &&
      /IMESH_DOWNSTREAM_TLS="perhaps"/.test(error.message),
    );
  });

  it('reads prediction agreement: on at a 0.1 sample by default, off at 0, and names a bad value', () => {
    const defaults = new EnvReader({});
    assert.deepEqual(readGatewayConfig(defaults).shadowing, { sample: 0.1, timeoutMs: 2000, maxInFlight: 2 });
    defaults.done();
    const set = new EnvReader({ IMESH_SHADOW_SAMPLE: '1', IMESH_SHADOW_TIMEOUT_MS: '500', IMESH_SHADOW_MAX_IN_FLIGHT: '8' });
    assert.deepEqual(readGatewayConfig(set).shadowing, { sample: 1, timeoutMs: 500, maxInFlight: 8 });
    set.done();
    const off = new EnvReader({ IMESH_SHADOW_SAMPLE: '0' });
    assert.equal(readGatewayConfig(off).shadowing, undefined);
    off.done();
    const bad = new EnvReader({ IMESH_SHADOW_SAMPLE: '10%', IMESH_SHADOW_TIMEOUT_MS: '0', IMESH_SHADOW_MAX_IN_FLIGHT: '0' });
    readGatewayConfig(bad);
    assert.throws(() => bad.done(), (error: Error) =>
      /IMESH_SHADOW_SAMPLE="10%": expected a number from 0 to 1/.test(error.message) &&
      /IMESH_SHADOW_TIMEOUT_MS="0": expected an integer from 1 to 600000/.test(error.message) &&
      /IMESH_SHADOW_MAX_IN_FLIGHT="0": expected an integer from 1 to 10000/.test(error.message),
    );
  });
});

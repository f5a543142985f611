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
});

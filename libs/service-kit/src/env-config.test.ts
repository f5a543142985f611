import { strict as assert } from 'node:assert';
import { ConfigError, EnvReader } from './env-config';
import { readServerConfig } from './server-config';

describe('EnvReader', () => {
  it('fills defaults and parses typed values', () => {
    const env = new EnvReader({ IMESH_TOKENIZER_PORT: '6000', IMESH_LOG_LEVEL: 'debug', IMESH_HOST: ' ' });
    const config = readServerConfig(env, 'tokenizer');
    env.done();
    assert.deepEqual(config, {
      host: '0.0.0.0',
      port: 6000,
      portVariable: 'IMESH_TOKENIZER_PORT',
      maxMessageBytes: 4 * 1024 * 1024,
      shutdownGraceMs: 0,
      drainTimeoutMs: 10_000,
      logLevel: 'debug',
      keepalive: { timeMs: 5_000, timeoutMs: 5_000 },
      maxConnectionAgeMs: 300_000,
    });
  });

  it('reports every bad variable at once, naming each', () => {
    const env = new EnvReader({ IMESH_MODEL_PORT: '70000', IMESH_MAX_MESSAGE_BYTES: '4MB', IMESH_LOG_LEVEL: 'loud' });
    readServerConfig(env, 'model');
    assert.throws(
      () => env.done(),
      (error: unknown) =>
        error instanceof ConfigError &&
        /IMESH_MODEL_PORT="70000": expected an integer from 0 to 65535/.test(error.message) &&
        /IMESH_MAX_MESSAGE_BYTES="4MB"/.test(error.message) &&
        /IMESH_LOG_LEVEL="loud": expected one of debug, info, warn, error/.test(error.message),
    );
  });

  it('reads booleans strictly', () => {
    const env = new EnvReader({ A: 'yes', B: 'off', C: 'maybe' });
    assert.equal(env.boolean('A', false), true);
    assert.equal(env.boolean('B', true), false);
    env.boolean('C', false);
    assert.throws(() => env.done(), /C="maybe": expected true or false/);
  });
});

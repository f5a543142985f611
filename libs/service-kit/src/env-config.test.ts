import { strict as assert } from 'node:assert';
import { ConfigError, EnvReader } from './env-config';
import { readServerConfig } from './server-config';
import { decodeUtf8Texts } from './texts';
import { status } from '@grpc/grpc-js';
import { isServiceError } from './errors';

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

describe('decodeUtf8Texts', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      assert.ok(isServiceError(error));
      return [error.code, error.message];
    }
    return assert.fail('expected an error');
  };

  it('decodes UTF-8, multi-byte characters included', () => {
    assert.deepEqual(decodeUtf8Texts('texts', [Buffer.from('héllo'), Buffer.from('日本')], 4), ['héllo', '日本']);
  });

  it('refuses invalid UTF-8, empty items, an empty batch and a batch over the limit with INVALID_ARGUMENT', () => {
    assert.deepEqual(code(() => decodeUtf8Texts('texts', [Buffer.from('ok'), Buffer.from([0xc3, 0x28])], 4)), [
      status.INVALID_ARGUMENT,
      'texts[1] is not valid UTF-8',
    ]);
    assert.deepEqual(code(() => decodeUtf8Texts('texts', [Buffer.alloc(0)], 4))[1], 'texts[0] is empty: every text needs at least one character');
    assert.deepEqual(code(() => decodeUtf8Texts('texts', [], 4))[1], 'texts is empty: send at least one text');
    assert.match(String(code(() => decodeUtf8Texts('texts', [Buffer.from('a'), Buffer.from('b')], 1))[1]), /texts has 2 items; at most 1/);
  });
});

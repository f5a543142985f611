import { EnvReader, parseConfig } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { redactUrl } from '@inference-mesh/client/queue';
import { readQueueWorkerConfig } from './config';

describe('readQueueWorkerConfig', () => {
  it('defaults: queue imesh.classify with imesh.classify.dead, prefetch 64, a local broker and gateway', () => {
    const config = parseConfig({}, readQueueWorkerConfig);
    assert.equal(config.queueName, 'imesh.classify');
    assert.equal(config.deadLetterQueueName, 'imesh.classify.dead');
    assert.equal(config.prefetch, 64);
    assert.equal(config.amqpUrl, 'amqp://guest:guest@127.0.0.1:5672');
    assert.equal(config.gatewayTarget, '127.0.0.1:50051');
    assert.deepEqual(config.retry, { maxAttempts: 5, initialDelayMs: 1000, maxDelayMs: 30000 });
    assert.deepEqual(config.reconnect, { initialDelayMs: 200, maxDelayMs: 10000 });
    assert.deepEqual([config.server.port, config.server.portVariable, config.server.drainTimeoutMs], [50055, 'IMESH_QUEUE_WORKER_PORT', 10000]);
  });

  it('reads every variable', () => {
    const config = parseConfig(
      { IMESH_AMQP_URL: 'amqps://u:p@broker:5671/v', IMESH_QUEUE_NAME: 'docs', IMESH_QUEUE_PREFETCH: '8', IMESH_GATEWAY_TARGET: 'dns:///gateway:50051', IMESH_DRAIN_TIMEOUT_MS: '5000', IMESH_QUEUE_WORKER_PORT: '0' },
      readQueueWorkerConfig,
    );
    assert.deepEqual(
      [config.amqpUrl, config.queueName, config.deadLetterQueueName, config.prefetch, config.gatewayTarget, config.server.drainTimeoutMs, config.server.port],
      ['amqps://u:p@broker:5671/v', 'docs', 'docs.dead', 8, 'dns:///gateway:50051', 5000, 0],
    );
  });

  it('names every bad variable at once, without printing the password', () => {
    const env = new EnvReader({ IMESH_AMQP_URL: 'http://u:secret@broker', IMESH_QUEUE_PREFETCH: '0', IMESH_QUEUE_NAME: 'amq.mine', IMESH_RETRY_INITIAL_DELAY_MS: '500', IMESH_RETRY_MAX_DELAY_MS: '100' });
    readQueueWorkerConfig(env);
    assert.throws(
      () => env.done(),
      (error: Error) =>
        /IMESH_AMQP_URL=.*expected an amqp:\/\/ or amqps:\/\/ URL/.test(error.message) &&
        /IMESH_QUEUE_PREFETCH="0": expected an integer from 1 to 65535/.test(error.message) &&
        /IMESH_QUEUE_NAME="amq.mine"/.test(error.message) &&
        /IMESH_RETRY_INITIAL_DELAY_MS \(500\) exceeds IMESH_RETRY_MAX_DELAY_MS \(100\)/.test(error.message),
    );
    assert.equal(redactUrl('amqp://guest:secret@host:5672'), 'amqp://guest:***@host:5672');
  });
});

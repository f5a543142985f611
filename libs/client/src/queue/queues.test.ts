import { strict as assert } from 'node:assert';
import { DEFAULT_RETRY_POLICY, deadLetterQueueName, redactUrl, retryQueues } from './queues';

describe('queue names', () => {
  it('names the dead-letter and delay queues after the request queue, as the worker declares them', () => {
    assert.equal(deadLetterQueueName('imesh.classify'), 'imesh.classify.dead');
    assert.deepEqual(retryQueues('q', DEFAULT_RETRY_POLICY).map((q) => q.name), ['q.retry.1000ms', 'q.retry.2000ms', 'q.retry.4000ms', 'q.retry.8000ms']);
  });

  it('hides the password of a broker URL only', () => {
    assert.equal(redactUrl('amqp://guest:secret@host:5672/vh'), 'amqp://guest:***@host:5672/vh');
    assert.equal(redactUrl('amqps://user:p%40ss@host'), 'amqps://user:***@host');
    assert.equal(redactUrl('amqp://host:5672'), 'amqp://host:5672');
  });
});

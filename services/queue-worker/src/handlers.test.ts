import { PipelineError, type ClassifyOptions, type ClassifyResponse } from '@inference-mesh/client';
import { status } from '@grpc/grpc-js';
import { strict as assert } from 'node:assert';
import { handleDelivery, type DeliveryPorts, type PublishOptions } from './handlers';

interface Published {
  readonly queue: string;
  readonly body: string;
  readonly options: PublishOptions;
}

function ports(classify: (texts: readonly string[], options: ClassifyOptions) => Promise<ClassifyResponse>, publishFails = false) {
  const published: Published[] = [];
  const value: DeliveryPorts = {
    classify,
    deadLetterQueue: 'q.dead',
    queue: 'q',
    retry: { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 150 },
    async publish(queue, body, options) {
      if (publishFails) throw new Error('nacked');
      published.push({ queue, body: body.toString(), options });
    },
  };
  return { ports: value, published };
}

const result = { label: 'positive', score: 0.9, scores: [], model: 'sentiment', modelVersion: '2', truncated: false, degraded: false };
const answer = async (texts: readonly string[]): Promise<ClassifyResponse> => ({ requestId: 'r', results: texts.map(() => result) });
const body = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('handleDelivery', () => {
  it('publishes the result to reply_to with the correlation id and the message id, then acks', async () => {
    const seen: ClassifyOptions[] = [];
    const { ports: p, published } = ports(async (texts, options) => (seen.push(options), answer(texts)));
    const disposition = await handleDelivery({ body: body({ id: 'd1', texts: ['a', 'b'], version: '1', topK: 1 }), replyTo: 'results', correlationId: 'c1' }, p, { deadlineMs: 500 });
    assert.deepEqual(disposition, { action: 'ack', outcome: 'result' });
    assert.deepEqual(seen, [{ deadlineMs: 500, requestId: 'd1', version: '1', topK: 1 }]);
    assert.equal(published.length, 1);
    assert.equal(published[0]!.queue, 'results');
    assert.deepEqual(JSON.parse(published[0]!.body), { id: 'd1', results: [result, result] });
    assert.deepEqual(published[0]!.options, { messageId: 'd1', correlationId: 'c1', headers: { 'x-imesh-request-id': 'd1' } });
  });

  it('dead-letters bad messages and the gateway\'s INVALID_ARGUMENT and NOT_FOUND with reason and status, and acks', async () => {
    const { ports: p, published } = ports(async (texts, options) => {
      if (options.model === 'nope') throw new PipelineError(status.NOT_FOUND, 'unknown model "nope"');
      if (texts.includes('')) throw new PipelineError(status.INVALID_ARGUMENT, 'texts[0] is empty');
      return answer(texts);
    });
    const dispositions = [
      await handleDelivery({ body: Buffer.from('nope'), replyTo: 'r' }, p),
      await handleDelivery({ body: body({ id: 'x', texts: ['a'] }) }, p),
      await handleDelivery({ body: body({ id: 'y', texts: [''] }), replyTo: 'r', headers: { mine: 1 } }, p),
      await handleDelivery({ body: body({ id: 'z', texts: ['a'], model: 'nope' }), replyTo: 'r' }, p),
    ];
    assert.ok(dispositions.every((d) => d.action === 'ack' && d.outcome === 'dead-lettered'));
    const deadLetters = published.filter((m) => m.queue === 'q.dead');
    assert.deepEqual(
      deadLetters.map((m) => [m.options.headers?.['x-imesh-reason'], m.options.headers?.['x-imesh-grpc-status']]),
      [
        ['not JSON', 'none'],
        ['no reply_to: the message names no queue for its result', 'none'],
        ['texts[0] is empty', 'INVALID_ARGUMENT'],
        ['unknown model "nope"', 'NOT_FOUND'],
      ],
    );
    assert.equal(deadLetters[2]!.options.headers?.mine, 1, 'the message\'s own headers are kept');
    assert.equal(deadLetters[0]!.body, 'nope', 'the message is dead-lettered as it came');
    // Each one with a reply_to is answered there with its reason, after its dead letter.
    assert.deepEqual(
      published.map((m) => m.queue),
      ['q.dead', 'r', 'q.dead', 'q.dead', 'r', 'q.dead', 'r'],
    );
    assert.deepEqual(
      published.filter((m) => m.queue === 'r').map((m) => JSON.parse(m.body)),
      [
        { id: '', error: { code: 'INVALID_ARGUMENT', message: 'not JSON' } },
        { id: 'y', error: { code: 'INVALID_ARGUMENT', message: 'texts[0] is empty' } },
        { id: 'z', error: { code: 'NOT_FOUND', message: 'unknown model "nope"' } },
      ],
    );
    assert.deepEqual(published[6]!.options, { messageId: 'z', headers: { 'x-imesh-request-id': 'z' } });
  });

  it('retries transient failures through the delay queues, counting attempts, then dead-letters with the last status', async () => {
    const { ports: p, published } = ports(async () => {
      throw new PipelineError(status.UNAVAILABLE, 'no connection');
    });
    const message = { body: body({ id: 'a', texts: ['x'] }), replyTo: 'r', correlationId: 'c' };
    assert.deepEqual(await handleDelivery(message, p), { action: 'ack', outcome: 'retried', reason: 'UNAVAILABLE: no connection', grpcStatus: 'UNAVAILABLE', attempt: 1, delayMs: 100 });
    const first = published[0]!;
    assert.equal(first.queue, 'q.retry.100ms');
    assert.deepEqual(first.options, {
      replyTo: 'r',
      messageId: 'a',
      correlationId: 'c',
      headers: { 'x-imesh-attempts': 1, 'x-imesh-reason': 'no connection', 'x-imesh-grpc-status': 'UNAVAILABLE' },
    });
    const second = await handleDelivery({ ...message, headers: { ...first.options.headers!, 'x-death': [{ count: 1 }], 'x-first-death-queue': 'q.retry.100ms' } }, p);
    assert.deepEqual(Object.keys(published[1]!.options.headers!).sort(), ['x-imesh-attempts', 'x-imesh-grpc-status', 'x-imesh-reason'], 'the broker\'s x-death history is not republished');
    assert.equal(second.outcome, 'retried');
    assert.equal(published[1]!.queue, 'q.retry.150ms', 'doubling, capped at maxDelayMs');
    const third = await handleDelivery({ ...message, headers: published[1]!.options.headers! }, p);
    assert.equal(third.outcome, 'dead-lettered');
    assert.equal(published[2]!.queue, 'q.dead');
    assert.deepEqual([published[3]!.queue, JSON.parse(published[3]!.body), published[3]!.options.correlationId], ['r', { id: 'a', error: { code: 'UNAVAILABLE', message: 'gave up after 3 attempts: no connection' } }, 'c']);
    assert.equal(published[2]!.options.headers?.['x-imesh-reason'], 'gave up after 3 attempts: no connection');
    assert.equal(published[2]!.options.headers?.['x-imesh-grpc-status'], 'UNAVAILABLE');
    assert.equal(published[2]!.options.headers?.['x-imesh-attempts'], 3);
  });

  it('rejects when the result is not confirmed, so that the caller does not ack', async () => {
    const { ports: p } = ports(answer, true);
    await assert.rejects(handleDelivery({ body: body({ id: 'a', texts: ['x'] }), replyTo: 'r' }, p), /nacked/);
  });
});

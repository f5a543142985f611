import { strict as assert } from 'node:assert';
import type { ClassifyResult } from '../types';
import { isQueueSubmitError, PendingReplies, QueueSubmitError } from './pending-replies';

const RESULT: ClassifyResult = { label: 'positive', score: 0.9, scores: [], model: 'sentiment', modelVersion: '2', truncated: false, degraded: false };

async function rejection(promise: Promise<unknown>): Promise<QueueSubmitError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isQueueSubmitError(error), String(error));
    return error;
  }
  assert.fail('expected a rejection');
}

describe('PendingReplies', () => {
  it('settles a request with its first result and drops duplicates and unknown ids', async () => {
    const replies = new PendingReplies();
    const waiting = replies.wait('c1', {});
    assert.equal(replies.size, 1);
    assert.equal(replies.settle('c1', [RESULT]), true);
    assert.equal(replies.settle('c1', [RESULT]), false, 'a duplicate');
    assert.equal(replies.settle('c2', [RESULT]), false, 'nobody waits for it');
    assert.deepEqual(await waiting, [RESULT]);
    assert.deepEqual([replies.size, replies.droppedResults], [0, 2]);
  });

  it('rejects a request the worker refused with its code, and drops a refusal nobody waits for', async () => {
    const replies = new PendingReplies();
    const waiting = replies.wait('c1', { timeoutMs: 60_000 });
    assert.equal(replies.settle('c1', new QueueSubmitError('refused', 'NOT_FOUND: no model', { code: 'NOT_FOUND' })), true);
    const error = await rejection(waiting);
    assert.deepEqual([error.reason, error.code, error.message], ['refused', 'NOT_FOUND', 'NOT_FOUND: no model']);
    assert.equal(replies.settle('c1', new QueueSubmitError('refused', 'again', { code: 'NOT_FOUND' })), false);
    assert.deepEqual([replies.size, replies.droppedResults], [0, 1]);
  });

  it('rejects on timeout, asking whether a worker runs; a late result is dropped', async () => {
    const replies = new PendingReplies();
    const error = await rejection(replies.wait('c1', { timeoutMs: 10 }));
    assert.equal(error.reason, 'timeout');
    assert.match(error.message, /no result for request c1 within 10 ms \(is a queue-worker running\?\)/);
    assert.equal(replies.settle('c1', [RESULT]), false);
    assert.equal(replies.size, 0);
  });

  it('rejects when the signal aborts, also one aborted before', async () => {
    const replies = new PendingReplies();
    const controller = new AbortController();
    const waiting = replies.wait('c1', { signal: controller.signal, timeoutMs: 60_000 });
    controller.abort(new Error('user gave up'));
    const error = await rejection(waiting);
    assert.deepEqual([error.reason, error.message], ['aborted', 'request c1 aborted: user gave up']);
    assert.equal((await rejection(replies.wait('c2', { signal: controller.signal }))).reason, 'aborted');
    assert.equal(replies.size, 0);
  });

  it('fails every waiting request at once (the connection went)', async () => {
    const replies = new PendingReplies();
    const waiting = [replies.wait('a', {}), replies.wait('b', { timeoutMs: 60_000 })];
    replies.failAll(new QueueSubmitError('closed', 'gone'));
    assert.deepEqual((await Promise.all(waiting.map(rejection))).map((e) => e.reason), ['closed', 'closed']);
    assert.equal(replies.size, 0);
  });
});

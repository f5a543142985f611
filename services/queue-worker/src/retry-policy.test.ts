import { strict as assert } from 'node:assert';
import { attemptsOf, retryDelayMs, retryQueues } from './retry-policy';

describe('retry policy', () => {
  const policy = { maxAttempts: 6, initialDelayMs: 1000, maxDelayMs: 5000 };

  it('doubles the delay from the initial one up to the maximum', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map((attempt) => retryDelayMs(policy, attempt)), [1000, 2000, 4000, 5000, 5000]);
  });

  it('declares one delay queue per distinct delay, none when there are no retries', () => {
    assert.deepEqual(retryQueues('q', policy), [
      { name: 'q.retry.1000ms', delayMs: 1000 },
      { name: 'q.retry.2000ms', delayMs: 2000 },
      { name: 'q.retry.4000ms', delayMs: 4000 },
      { name: 'q.retry.5000ms', delayMs: 5000 },
    ]);
    assert.deepEqual(retryQueues('q', { ...policy, maxAttempts: 1 }), []);
  });

  it('reads the attempts header; anything unreadable counts as none', () => {
    assert.deepEqual([attemptsOf(undefined), attemptsOf({ 'x-imesh-attempts': 2 }), attemptsOf({ 'x-imesh-attempts': '3' }), attemptsOf({ 'x-imesh-attempts': 'x' }), attemptsOf({ 'x-imesh-attempts': -1 })], [0, 2, 3, 0, 0]);
  });
});

import { strict as assert } from 'node:assert';
import { DynamicBatcher, systemClock } from './dynamic-batcher';

describe('DynamicBatcher maxPaddingRatio', () => {
  it('keeps requests whose length would make a batch mostly padding for a batch of their own', async () => {
    const batches: number[][] = [];
    let releaseFirst!: () => void;
    const firstDone = new Promise<void>((resolve) => (releaseFirst = resolve));
    const batcher = new DynamicBatcher<number, number>(
      { maxBatchRows: 16, maxQueueDelayUs: 0, preferredBatchRows: [], maxQueueSize: 0, defaultQueueTimeoutUs: 0, maxConcurrentBatches: 1, maxPaddingRatio: 0.3 },
      async (items) => {
        batches.push([...items]);
        if (batches.length === 1) await firstDone;
        return items;
      },
      systemClock,
    );
    const signal = new AbortController().signal;
    const lengths = [10, 10, 11, 40, 42];
    const results = lengths.map((length) => batcher.enqueue(length, { rows: 1, sequenceLength: length, signal }));
    releaseFirst();
    assert.deepEqual(await Promise.all(results), lengths);
    assert.deepEqual(batches, [[10], [10, 11], [40, 42]]);

    const unlimited = new DynamicBatcher<number, number>(
      { maxBatchRows: 16, maxQueueDelayUs: 0, preferredBatchRows: [], maxQueueSize: 0, defaultQueueTimeoutUs: 0, maxConcurrentBatches: 1 },
      async (items) => {
        batches.push([...items]);
        return items;
      },
      systemClock,
    );
    batches.length = 0;
    const blocker = unlimited.enqueue(1, { rows: 1, sequenceLength: 1, signal });
    await Promise.all([blocker, ...[10, 40].map((length) => unlimited.enqueue(length, { rows: 1, sequenceLength: length, signal }))]);
    assert.deepEqual(batches, [[1], [10, 40]], 'without the limit, any lengths share a batch');
  });
});

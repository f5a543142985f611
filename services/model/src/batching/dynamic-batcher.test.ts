import { strict as assert } from 'node:assert';
import { getEventListeners } from 'node:events';
import { status } from '@grpc/grpc-js';
import { isServiceError } from '@inference-mesh/service-kit';
import {
  DynamicBatcher,
  systemClock,
  type BatchStats,
  type BatcherObserver,
  type BatcherOptions,
  type BatcherRejectReason,
  type Clock,
} from './dynamic-batcher';

/** Time moves only when a test calls `advance`; due timers fire in order, each at its own due time. */
class FakeClock implements Clock {
  private nowMs = 0;
  private sequence = 0;
  private timers: { dueMs: number; sequence: number; callback: () => void }[] = [];

  now(): number {
    return this.nowMs;
  }

  setTimer(callback: () => void, delayMs: number): { cancel(): void } {
    const timer = { dueMs: this.nowMs + Math.max(0, delayMs), sequence: this.sequence++, callback };
    this.timers.push(timer);
    return { cancel: () => (this.timers = this.timers.filter((other) => other !== timer)) };
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  advance(ms: number): void {
    const targetMs = this.nowMs + ms;
    for (let fired = 0; ; fired++) {
      // A batcher that keeps re-arming a timer for a moment already past would spin here forever.
      if (fired > 10_000) throw new Error('timer storm: more than 10000 timers fired in one advance');
      const due = this.timers
        .filter((timer) => timer.dueMs <= targetMs)
        .sort((a, b) => a.dueMs - b.dueMs || a.sequence - b.sequence)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.nowMs = Math.max(this.nowMs, due.dueMs);
      due.callback();
    }
    this.nowMs = targetMs;
  }
}

interface RecordedBatch {
  readonly items: readonly string[];
  readonly stats: BatchStats;
  readonly atMs: number;
  resolve(results: readonly string[]): void;
  reject(error: unknown): void;
}

/** Records every batch and settles it when the test says so. */
class FakeRunner {
  readonly batches: RecordedBatch[] = [];
  inFlight = 0;
  constructor(private readonly clock: Clock) {}

  readonly run = (items: readonly string[], stats: BatchStats): Promise<readonly string[]> => {
    this.inFlight++;
    return new Promise((resolve, reject) => {
      this.batches.push({
        items: [...items],
        stats,
        atMs: this.clock.now(),
        resolve: (results) => {
          this.inFlight--;
          resolve(results);
        },
        reject: (error) => {
          this.inFlight--;
          reject(error);
        },
      });
    });
  };

  batch(index: number): RecordedBatch {
    const batch = this.batches[index];
    assert.ok(batch, `no batch #${index}; batches: ${JSON.stringify(this.batches.map((b) => b.items))}`);
    return batch;
  }

  /** Answers batch #index with `result:<item>` per item, in item order. */
  succeed(index: number): void {
    const batch = this.batch(index);
    batch.resolve(batch.items.map(resultFor));
  }

  get itemsSeen(): string[] {
    return this.batches.flatMap((batch) => batch.items);
  }
}

const resultFor = (item: string) => `result:${item}`;

interface Tracked<T> {
  state: 'pending' | 'fulfilled' | 'rejected';
  value?: T;
  error?: unknown;
}

function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked: Tracked<T> = { state: 'pending' };
  promise.then(
    (value) => Object.assign(tracked, { state: 'fulfilled', value }),
    (error: unknown) => Object.assign(tracked, { state: 'rejected', error }),
  );
  return tracked;
}

/** Lets promise reactions (batch settling, callers' handlers) run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function assertRejected(tracked: Tracked<unknown>, code: status, message?: RegExp): void {
  assert.equal(tracked.state, 'rejected', `expected a rejection with code ${status[code]}, got ${tracked.state}`);
  const error = tracked.error;
  assert.ok(isServiceError(error), `not a ServiceError: ${String(error)}`);
  assert.equal(error.code, code, `code ${status[error.code]} (${error.message}), expected ${status[code]}`);
  if (message) assert.match(error.message, message);
}

function options(overrides: Partial<BatcherOptions> = {}): BatcherOptions {
  return {
    maxBatchRows: 4,
    maxQueueDelayUs: 10_000,
    preferredBatchRows: [],
    maxQueueSize: 0,
    defaultQueueTimeoutUs: 0,
    maxConcurrentBatches: 2,
    ...overrides,
  };
}

interface Harness {
  clock: FakeClock;
  runner: FakeRunner;
  batcher: DynamicBatcher<string, string>;
  /** Enqueues `item` (1 row, length 10 unless told) and tracks its promise. */
  add(item: string, extra?: { rows?: number; length?: number; signal?: AbortSignal; deadlineMs?: number }): Tracked<string>;
}

function harness(overrides: Partial<BatcherOptions> = {}, observer?: BatcherObserver, clock = new FakeClock()): Harness {
  const runner = new FakeRunner(clock);
  const batcher = new DynamicBatcher<string, string>(options(overrides), runner.run, clock, observer);
  const add: Harness['add'] = (item, extra = {}) =>
    track(
      batcher.enqueue(item, {
        rows: extra.rows ?? 1,
        sequenceLength: extra.length ?? 10,
        signal: extra.signal ?? new AbortController().signal,
        ...(extra.deadlineMs === undefined ? {} : { deadlineMs: extra.deadlineMs }),
      }),
    );
  return { clock, runner, batcher, add };
}

/** Occupies every batch slot with full batches (`maxBatchRows` rows each) and returns their indices. */
function fillSlots(h: Harness, slots: number, maxBatchRows: number): number[] {
  const indices: number[] = [];
  for (let slot = 0; slot < slots; slot++) {
    h.add(`blocker${slot}`, { rows: maxBatchRows });
    indices.push(h.runner.batches.length - 1);
  }
  assert.equal(h.runner.inFlight, slots);
  return indices;
}

describe('DynamicBatcher', () => {
  describe('cutting batches', () => {
    it('cuts the moment the batch reaches maxBatchRows, without waiting for the delay', async () => {
      const h = harness({ maxBatchRows: 4, maxQueueDelayUs: 10_000 });
      const tracked = ['a', 'b', 'c'].map((item) => h.add(item));
      assert.equal(h.runner.batches.length, 0, 'three rows of four must wait');
      assert.equal(h.batcher.queueDepth, 3);
      tracked.push(h.add('d'));
      assert.equal(h.runner.batches.length, 1);
      assert.deepEqual(h.runner.batch(0).items, ['a', 'b', 'c', 'd']);
      assert.equal(h.runner.batch(0).atMs, 0);
      assert.equal(h.batcher.queueDepth, 0);
      h.runner.succeed(0);
      await flush();
      assert.deepEqual(tracked.map((t) => t.value), ['result:a', 'result:b', 'result:c', 'result:d']);
    });

    it('cuts exactly when the oldest request has waited maxQueueDelayUs, not before', async () => {
      const h = harness({ maxBatchRows: 8, maxQueueDelayUs: 10_000 });
      h.add('a');
      h.clock.advance(4);
      h.add('b');
      h.clock.advance(5.75);
      h.add('c');
      assert.equal(h.runner.batches.length, 0, 'cut before the delay elapsed');
      h.clock.advance(0.25);
      assert.equal(h.runner.batches.length, 1, 'not cut when the delay elapsed');
      assert.deepEqual(h.runner.batch(0).items, ['a', 'b', 'c']);
      assert.equal(h.runner.batch(0).atMs, 10);
      assert.deepEqual(h.runner.batch(0).stats.queueTimesMs, [10, 6, 0.25]);
      assert.equal(h.clock.pendingTimers, 0);
    });

    it('cutWhenIdle: a lone request runs at once despite the delay; arrivals while a batch computes wait for company', async () => {
      const h = harness({ maxBatchRows: 8, maxQueueDelayUs: 10_000, maxConcurrentBatches: 2, cutWhenIdle: true });
      h.add('a');
      assert.deepEqual(h.runner.batches.map((b) => b.items), [['a']], 'nothing was running: no wait');
      assert.equal(h.runner.batch(0).atMs, 0);
      h.add('b');
      h.add('c');
      assert.equal(h.runner.batches.length, 1, 'a batch computes: the free slot waits the delay for company');
      h.clock.advance(10);
      assert.deepEqual(h.runner.batches.map((b) => b.items), [['a'], ['b', 'c']]);
      h.runner.succeed(0);
      h.runner.succeed(1);
      await flush();
      h.add('d');
      h.add('e');
      assert.deepEqual(h.runner.batches.slice(2).map((b) => b.items), [['d']], 'idle again: the next lone request runs at once');
      h.runner.succeed(2);
      await flush();
      assert.deepEqual(h.runner.batches.slice(3).map((b) => b.items), [['e']], 'and what queued behind it goes when the model is idle');
    });

    it('without cutWhenIdle (Triton\'s rule) a lone request waits the whole delay', () => {
      const h = harness({ maxBatchRows: 8, maxQueueDelayUs: 10_000, maxConcurrentBatches: 2 });
      h.add('a');
      assert.equal(h.runner.batches.length, 0);
      h.clock.advance(10);
      assert.deepEqual(h.runner.batches.map((b) => b.items), [['a']]);
    });

    it('with maxQueueDelayUs 0 cuts at once with whatever is queued, and batches what piles up behind busy slots', async () => {
      const h = harness({ maxBatchRows: 8, maxQueueDelayUs: 0, maxConcurrentBatches: 1 });
      h.add('a');
      assert.deepEqual(h.runner.batches.map((b) => b.items), [['a']]);
      h.add('b');
      h.add('c');
      assert.equal(h.runner.batches.length, 1, 'the only slot is busy');
      h.runner.succeed(0);
      await flush();
      assert.deepEqual(h.runner.batches.map((b) => b.items), [['a'], ['b', 'c']]);
      assert.equal(h.clock.pendingTimers, 0);
    });

    it('cuts at a preferred size at once', () => {
      const h = harness({ maxBatchRows: 8, preferredBatchRows: [2, 4] });
      h.add('a');
      assert.equal(h.runner.batches.length, 0, '1 row is not a preferred size');
      h.add('b');
      assert.deepEqual(h.runner.batches.map((b) => b.items), [['a', 'b']]);
    });

    it('sends the largest preferred size reachable with what is queued, and the rest after the delay', async () => {
      const h = harness({ maxBatchRows: 8, preferredBatchRows: [2, 4], maxConcurrentBatches: 1 });
      fillSlots(h, 1, 8);
      for (const item of ['a', 'b', 'c', 'd', 'e']) h.add(item);
      h.runner.succeed(0);
      await flush();
      assert.deepEqual(h.runner.batch(1).items, ['a', 'b', 'c', 'd'], 'not 2 (a smaller preferred size) nor 5');
      h.runner.succeed(1);
      await flush();
      assert.equal(h.runner.batches.length, 2, '1 row is not preferred: it waits for the delay');
      h.clock.advance(10);
      assert.deepEqual(h.runner.batch(2).items, ['e']);
    });

    it('keeps a multi-row request whole; one of maxBatchRows rows is a batch alone', async () => {
      const h = harness({ maxBatchRows: 4, maxConcurrentBatches: 1 });
      const alone = h.add('whole', { rows: 4 });
      assert.deepEqual(h.runner.batches.map((b) => b.items), [['whole']]);
      assert.equal(h.runner.batch(0).stats.rows, 4);
      h.add('a');
      h.add('big', { rows: 4 });
      h.add('c');
      h.runner.succeed(0);
      await flush();
      assert.equal(alone.value, 'result:whole');
      assert.equal(h.runner.batches.length, 1, 'a and c (2 rows) wait for the delay; big does not fit with them');
      h.clock.advance(10);
      assert.deepEqual(h.runner.batch(1).items, ['a', 'c'], 'big must be neither split nor squeezed in');
      h.runner.succeed(1);
      await flush();
      assert.deepEqual(h.runner.batch(2).items, ['big']);
      assert.deepEqual({ rows: h.runner.batch(2).stats.rows, requests: h.runner.batch(2).stats.requests }, { rows: 4, requests: 1 });
    });

    it('a multi-row request makes a batch full with fewer requests', () => {
      const h = harness({ maxBatchRows: 4 });
      h.add('a', { rows: 3 });
      assert.equal(h.batcher.queuedRows, 3);
      h.add('b');
      assert.deepEqual(h.runner.batches.map((b) => b.items), [['a', 'b']]);
      assert.equal(h.batcher.queuedRows, 0);
    });
  });

  describe('refusals at enqueue', () => {
    it('refuses a full queue at once with RESOURCE_EXHAUSTED (not UNAVAILABLE) and leaves the queue as it was', async () => {
      const rejected: BatcherRejectReason[] = [];
      const h = harness({ maxQueueSize: 2, maxConcurrentBatches: 1 }, { onRejected: (reason) => rejected.push(reason) });
      fillSlots(h, 1, 4);
      const a = h.add('a');
      const b = h.add('b', { rows: 2 });
      const c = h.add('c');
      await Promise.resolve();
      await Promise.resolve();
      assertRejected(c, status.RESOURCE_EXHAUSTED, /^model queue is full \(2 requests waiting\); retry with backoff$/);
      assert.deepEqual({ depth: h.batcher.queueDepth, rows: h.batcher.queuedRows }, { depth: 2, rows: 3 });
      assert.deepEqual(rejected, ['queue_full']);
      assert.equal(h.runner.batches.length, 1);
      // A full queue cannot grow, so waiting out the delay would only add latency: it is cut as soon as a slot frees.
      h.runner.succeed(0);
      await flush();
      assert.deepEqual(h.runner.batch(1).items, ['a', 'b']);
      h.runner.succeed(1);
      await flush();
      assert.deepEqual([a.value, b.value], ['result:a', 'result:b']);
      assert.ok(!h.runner.itemsSeen.includes('c'));
    });

    it('refuses rows above maxBatchRows (and rows that are not a positive integer) with INVALID_ARGUMENT', async () => {
      const h = harness({ maxBatchRows: 4 });
      const tooMany = h.add('x', { rows: 5 });
      const zero = h.add('y', { rows: 0 });
      const fraction = h.add('z', { rows: 1.5 });
      await flush();
      assertRejected(tooMany, status.INVALID_ARGUMENT, /5 rows .* at most 4/);
      assertRejected(zero, status.INVALID_ARGUMENT);
      assertRejected(fraction, status.INVALID_ARGUMENT);
      assert.equal(h.batcher.queueDepth, 0);
      h.clock.advance(100);
      assert.equal(h.runner.batches.length, 0);
    });

    it('refuses an already-aborted caller with CANCELLED, or DEADLINE_EXCEEDED when its deadline caused it', async () => {
      const h = harness();
      const cancelled = new AbortController();
      cancelled.abort();
      const timedOut = new AbortController();
      timedOut.abort(Object.assign(new Error('deadline'), { name: 'TimeoutError' }));
      const a = h.add('a', { signal: cancelled.signal });
      const b = h.add('b', { signal: timedOut.signal });
      const c = h.add('c', { deadlineMs: 0 });
      await flush();
      assertRejected(a, status.CANCELLED);
      assertRejected(b, status.DEADLINE_EXCEEDED);
      assertRejected(c, status.DEADLINE_EXCEEDED);
      assert.equal(h.batcher.queueDepth, 0);
      assert.equal(getEventListeners(cancelled.signal, 'abort').length, 0);
    });
  });

  describe('requests that leave while queued', () => {
    it('rejects a request whose deadline passes while queued, when it passes, and never runs it', async () => {
      const h = harness({ maxBatchRows: 8, maxQueueDelayUs: 10_000 });
      const a = h.add('a', { deadlineMs: 5 });
      const b = h.add('b');
      h.clock.advance(5);
      await flush();
      assertRejected(a, status.DEADLINE_EXCEEDED);
      assert.equal(h.batcher.queueDepth, 1);
      h.clock.advance(5);
      assert.deepEqual(h.runner.itemsSeen, ['b']);
      h.runner.succeed(0);
      await flush();
      assert.equal(b.value, 'result:b');
    });

    it('notices an expiry on time even while every batch slot is busy', async () => {
      const h = harness({ maxConcurrentBatches: 1 });
      fillSlots(h, 1, 4);
      const a = h.add('a', { deadlineMs: 3 });
      h.clock.advance(3);
      await flush();
      assertRejected(a, status.DEADLINE_EXCEEDED);
      assert.equal(h.batcher.queueDepth, 0);
      h.runner.succeed(0);
      await flush();
      h.clock.advance(100);
      assert.deepEqual(h.runner.itemsSeen, ['blocker0']);
    });

    it('removes a cancelled request at once: rejected, queueDepth drops, its batch-mates unaffected', async () => {
      const rejected: BatcherRejectReason[] = [];
      const h = harness({ maxBatchRows: 8 }, { onRejected: (reason) => rejected.push(reason) });
      const controller = new AbortController();
      const a = h.add('a');
      const b = h.add('b', { rows: 2, signal: controller.signal });
      const c = h.add('c');
      assert.deepEqual({ depth: h.batcher.queueDepth, rows: h.batcher.queuedRows }, { depth: 3, rows: 4 });
      controller.abort();
      assert.deepEqual({ depth: h.batcher.queueDepth, rows: h.batcher.queuedRows }, { depth: 2, rows: 2 });
      assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
      await flush();
      assertRejected(b, status.CANCELLED);
      assert.deepEqual(rejected, ['cancelled']);
      h.clock.advance(10);
      assert.deepEqual(h.runner.itemsSeen, ['a', 'c']);
      h.runner.succeed(0);
      await flush();
      assert.deepEqual([a.value, c.value], ['result:a', 'result:c']);
    });

    it('maps a queued caller whose deadline signal fires to DEADLINE_EXCEEDED', async () => {
      const h = harness();
      const controller = new AbortController();
      const a = h.add('a', { signal: controller.signal });
      controller.abort(Object.assign(new Error('deadline'), { name: 'TimeoutError' }));
      await flush();
      assertRejected(a, status.DEADLINE_EXCEEDED);
      assert.equal(h.batcher.queueDepth, 0);
      assert.equal(h.clock.pendingTimers, 0, 'the delay timer of the only request must go with it');
    });

    it('rejects a request that waited defaultQueueTimeoutUs with RESOURCE_EXHAUSTED and never runs it', async () => {
      const rejected: BatcherRejectReason[] = [];
      const h = harness(
        { defaultQueueTimeoutUs: 3_000, maxQueueDelayUs: 10_000, maxConcurrentBatches: 1 },
        { onRejected: (reason) => rejected.push(reason) },
      );
      fillSlots(h, 1, 4);
      const a = h.add('a');
      h.clock.advance(1);
      const b = h.add('b');
      h.clock.advance(2);
      await flush();
      assertRejected(a, status.RESOURCE_EXHAUSTED, /^waited 3000 µs in the model queue \(default queue timeout\)$/);
      assert.equal(b.state, 'pending');
      assert.deepEqual(rejected, ['queue_timeout']);
      h.runner.succeed(0);
      await flush();
      assert.deepEqual(h.runner.batches.map((batch) => batch.items), [['blocker0']], 'b waits out its delay');
      h.clock.advance(1);
      await flush();
      assertRejected(b, status.RESOURCE_EXHAUSTED);
      assert.deepEqual(h.runner.itemsSeen, ['blocker0']);
    });
  });

  describe('running batches', () => {
    it('a caller that leaves after dispatch gets CANCELLED at once; its batch runs once and its mates get results', async () => {
      const h = harness({ maxBatchRows: 2 });
      const controller = new AbortController();
      const a = h.add('a', { signal: controller.signal });
      const b = h.add('b');
      assert.equal(h.runner.batches.length, 1);
      controller.abort();
      await flush();
      assertRejected(a, status.CANCELLED);
      assert.equal(b.state, 'pending');
      h.runner.succeed(0);
      await flush();
      assert.equal(b.value, 'result:b');
      assert.equal(h.runner.batches.length, 1, 'the batch must not be re-run');
      assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    });

    it('gives each caller its own result when length grouping forms batches out of FIFO order', async () => {
      const h = harness({ maxBatchRows: 2, maxConcurrentBatches: 1 });
      fillSlots(h, 1, 2);
      const lengths = [10, 100, 12, 98];
      const tracked = lengths.map((length) => h.add(`len${length}`, { length }));
      h.runner.succeed(0);
      await flush();
      h.runner.succeed(1);
      await flush();
      h.runner.succeed(2);
      await flush();
      assert.deepEqual(h.runner.batches.slice(1).map((b) => b.items), [['len10', 'len12'], ['len100', 'len98']]);
      assert.deepEqual(
        tracked.map((t) => t.value),
        lengths.map((length) => `result:len${length}`),
      );
      const padded = h.runner.batches.slice(1).reduce((sum, batch) => sum + batch.stats.paddedCells, 0);
      const fifoPadded = (100 - 10) + (98 - 12);
      assert.equal(padded, 2 + 2);
      assert.ok(padded < fifoPadded);
    });

    it('always puts the oldest request in the next batch, so an odd length is not starved', async () => {
      const h = harness({ maxBatchRows: 2, maxConcurrentBatches: 1 });
      fillSlots(h, 1, 2);
      h.add('len10', { length: 10 });
      const odd = h.add('len500', { length: 500 });
      h.add('len12', { length: 12 });
      h.runner.succeed(0);
      await flush();
      assert.deepEqual(h.runner.batch(1).items, ['len10', 'len12']);
      h.add('len11', { length: 11 });
      h.add('len13', { length: 13 });
      h.runner.succeed(1);
      await flush();
      assert.deepEqual(h.runner.batch(2).items, ['len500', 'len13'], 'the oldest leads; ties in closeness go to the older');
      h.runner.succeed(2);
      await flush();
      assert.equal(odd.value, 'result:len500');
    });

    it('runs at most maxConcurrentBatches at once; the next batch is cut while one runs and dispatched when a slot frees', async () => {
      const h = harness({ maxBatchRows: 2, maxConcurrentBatches: 2 });
      h.add('a');
      h.add('b');
      assert.equal(h.runner.inFlight, 1);
      h.add('c');
      h.add('d');
      assert.equal(h.runner.inFlight, 2, 'the second batch is cut while the first runs');
      h.add('e');
      h.add('f');
      h.clock.advance(50);
      assert.equal(h.runner.inFlight, 2, 'never more than two in flight');
      assert.equal(h.batcher.queueDepth, 2);
      h.runner.succeed(0);
      await flush();
      assert.equal(h.runner.inFlight, 2);
      assert.deepEqual(h.runner.batches.map((b) => b.items), [['a', 'b'], ['c', 'd'], ['e', 'f']]);
      assert.equal(h.runner.batch(2).atMs, 50);
    });

    it('fails every member of a batch whose runBatch rejects (or throws), and keeps serving', async () => {
      const clock = new FakeClock();
      const failure = new Error('session crashed');
      let calls = 0;
      const batcher = new DynamicBatcher<string, string>(
        options({ maxBatchRows: 2 }),
        (items) => {
          calls++;
          if (calls === 1) return Promise.reject(failure);
          if (calls === 2) throw failure;
          return Promise.resolve(items.map(resultFor));
        },
        clock,
      );
      const enqueue = (item: string) => track(batcher.enqueue(item, { rows: 1, sequenceLength: 1, signal: new AbortController().signal }));
      const first = [enqueue('a'), enqueue('b')];
      const second = [enqueue('c'), enqueue('d')];
      await flush();
      for (const t of [...first, ...second]) assert.equal(t.error, failure);
      const third = [enqueue('e'), enqueue('f')];
      await flush();
      assert.deepEqual(third.map((t) => t.value), ['result:e', 'result:f']);
    });

    it('fails every member with INTERNAL when runBatch returns the wrong number of results', async () => {
      const h = harness({ maxBatchRows: 2 });
      const a = h.add('a');
      const b = h.add('b');
      h.runner.batch(0).resolve(['only one']);
      await flush();
      assertRejected(a, status.INTERNAL, /1 results for a batch of 2/);
      assertRejected(b, status.INTERNAL);
    });

    it('reports rows, requests, padding and queue times in BatchStats', async () => {
      const h = harness({ maxBatchRows: 4 });
      h.add('a', { length: 10 });
      h.clock.advance(2);
      h.add('b', { rows: 2, length: 4 });
      h.clock.advance(1);
      h.add('c', { length: 7 });
      const stats = h.runner.batch(0).stats;
      assert.deepEqual(stats, {
        rows: 4,
        requests: 3,
        maxSequenceLength: 10,
        paddedCells: 0 + 2 * (10 - 4) + (10 - 7),
        totalCells: 4 * 10,
        queueTimesMs: [3, 0, 1],
      });
      assert.deepEqual(h.runner.batch(0).items, ['a', 'c', 'b'], 'joined by closeness to the oldest length');
    });
  });

  describe('observer', () => {
    it('reports queue depth, batches with their compute time, and rejections; a throwing observer breaks nothing', async () => {
      const depths: number[] = [];
      const batches: { requests: number; computeMs: number }[] = [];
      const failures: { error: unknown; computeMs: number }[] = [];
      const failure = new Error('boom');
      const rejected: BatcherRejectReason[] = [];
      const observer: BatcherObserver = {
        onQueueDepth: (depth) => {
          depths.push(depth);
          throw new Error('broken metrics');
        },
        onBatch: (stats, computeMs) => {
          batches.push({ requests: stats.requests, computeMs });
          throw new Error('broken metrics');
        },
        onBatchFailed: (_stats, computeMs, error) => {
          failures.push({ error, computeMs });
          throw new Error('broken metrics');
        },
        onRejected: (reason) => {
          rejected.push(reason);
          throw new Error('broken metrics');
        },
      };
      const h = harness({ maxBatchRows: 2, maxQueueSize: 2, maxConcurrentBatches: 1 }, observer);
      const x = h.add('x', { rows: 2 });
      const a = h.add('a');
      const controller = new AbortController();
      const c = h.add('c', { signal: controller.signal });
      const full = h.add('full');
      controller.abort();
      h.clock.advance(7);
      h.runner.succeed(0);
      await flush();
      assert.equal(h.runner.batches.length, 1, 'a has waited 7 of its 10 ms');
      h.clock.advance(3);
      h.clock.advance(2);
      h.runner.batch(1).reject(failure);
      await flush();
      assert.equal(x.value, 'result:x');
      assert.equal(a.error, failure);
      assertRejected(full, status.RESOURCE_EXHAUSTED);
      assertRejected(c, status.CANCELLED);
      assert.deepEqual(depths, [1, 2, 1, 0]);
      assert.deepEqual(batches, [{ requests: 1, computeMs: 7 }]);
      assert.deepEqual(failures, [{ error: failure, computeMs: 2 }]);
      assert.deepEqual(rejected, ['queue_full', 'cancelled']);
    });
  });

  describe('lifecycle and hygiene', () => {
    it('close() refuses new work with UNAVAILABLE, cuts what is queued without waiting, and resolves once drained', async () => {
      const h = harness({ maxBatchRows: 4, maxQueueDelayUs: 10_000, maxConcurrentBatches: 1 });
      fillSlots(h, 1, 4);
      const a = h.add('a');
      const b = h.add('b');
      let closed = false;
      const closing = h.batcher.close().then(() => (closed = true));
      assert.equal(h.batcher.close(), h.batcher.close(), 'idempotent');
      const late = h.add('late');
      await flush();
      assertRejected(late, status.UNAVAILABLE, /^the model service is shutting down$/);
      h.runner.succeed(0);
      await flush();
      assert.deepEqual(h.runner.batch(1).items, ['a', 'b'], 'cut at once: nothing more can join');
      assert.equal(closed, false, 'a batch still runs');
      h.runner.succeed(1);
      await closing;
      assert.deepEqual([a.value, b.value], ['result:a', 'result:b']);
      assert.equal(h.clock.pendingTimers, 0);
    });

    it('close() on an idle batcher resolves at once', async () => {
      const h = harness();
      await h.batcher.close();
    });

    it('leaves no abort listener on a long-lived signal and no timer once everything settled', async () => {
      const h = harness({ maxBatchRows: 3, defaultQueueTimeoutUs: 50_000 });
      const shared = new AbortController();
      const tracked = ['a', 'b', 'c', 'd', 'e'].map((item) => h.add(item, { signal: shared.signal, deadlineMs: 1_000 }));
      assert.equal(getEventListeners(shared.signal, 'abort').length, 5);
      h.clock.advance(10);
      h.runner.succeed(0);
      h.runner.succeed(1);
      await flush();
      assert.ok(tracked.every((t) => t.state === 'fulfilled'));
      assert.equal(getEventListeners(shared.signal, 'abort').length, 0);
      assert.equal(h.clock.pendingTimers, 0);
    });

    it('keeps two batchers on one clock apart', async () => {
      const clock = new FakeClock();
      const one = harness({ maxBatchRows: 2 }, undefined, clock);
      const two = harness({ maxBatchRows: 2 }, undefined, clock);
      const a = one.add('one-a');
      const b = two.add('two-a');
      one.add('one-b');
      assert.deepEqual(one.runner.batches.map((x) => x.items), [['one-a', 'one-b']]);
      assert.equal(two.batcher.queueDepth, 1);
      clock.advance(10);
      assert.deepEqual(two.runner.batches.map((x) => x.items), [['two-a']]);
      one.runner.succeed(0);
      two.runner.succeed(0);
      await flush();
      assert.deepEqual([a.value, b.value], ['result:one-a', 'result:two-a']);
    });

    it('runs on the system clock with real timers', async () => {
      const batches: string[][] = [];
      const batcher = new DynamicBatcher<string, string>(
        options({ maxBatchRows: 8, maxQueueDelayUs: 5_000 }),
        async (items) => {
          batches.push([...items]);
          return items.map(resultFor);
        },
      );
      const started = systemClock.now();
      const signal = new AbortController().signal;
      const results = await Promise.all([
        batcher.enqueue('a', { rows: 1, sequenceLength: 3, signal }),
        batcher.enqueue('b', { rows: 1, sequenceLength: 3, signal }),
      ]);
      assert.deepEqual(results, ['result:a', 'result:b']);
      assert.deepEqual(batches, [['a', 'b']]);
      assert.ok(systemClock.now() - started >= 4, 'the delay was waited');
      await batcher.close();
    });

    it('refuses options Triton would refuse', () => {
      const run = async () => [];
      assert.throws(() => new DynamicBatcher(options({ maxBatchRows: 0 }), run), RangeError);
      assert.throws(() => new DynamicBatcher(options({ maxBatchRows: 4, preferredBatchRows: [8] }), run), RangeError);
      assert.throws(() => new DynamicBatcher(options({ maxConcurrentBatches: 0 }), run), RangeError);
      assert.throws(() => new DynamicBatcher(options({ maxQueueDelayUs: -1 }), run), RangeError);
    });
  });
});

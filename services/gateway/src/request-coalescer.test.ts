import { status } from '@grpc/grpc-js';
import { ServiceError } from '@inference-mesh/service-kit';
import assert from 'node:assert/strict';
import { RequestCoalescer, type MemberBudget } from './request-coalescer';

/** A downstream under the test's control: each call waits until the test answers it. */
class ControlledRun {
  readonly calls: { rows: readonly string[]; budget: MemberBudget; answer: (rows?: readonly string[]) => void; fail: (error: unknown) => void }[] = [];

  readonly run = (rows: readonly string[], budget: MemberBudget): Promise<readonly string[]> =>
    new Promise((resolve, reject) => {
      this.calls.push({ rows, budget, answer: (answer) => resolve(answer ?? rows.map((row) => `result of ${row}`)), fail: reject });
    });
}

const budget = (deadlineInMs = 10_000, controller = new AbortController()): MemberBudget => ({
  deadlineMs: Date.now() + deadlineInMs,
  signal: controller.signal,
});

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('RequestCoalescer', () => {
  it('sends a request at once when a slot is free', async () => {
    const downstream = new ControlledRun();
    const coalescer = new RequestCoalescer<string, string>({ maxRows: 64, maxInFlight: 1 });
    const answer = coalescer.submit('k', ['a', 'b'], budget(), downstream.run);
    assert.equal(downstream.calls.length, 1);
    assert.deepEqual(downstream.calls[0]!.rows, ['a', 'b']);
    downstream.calls[0]!.answer();
    assert.deepEqual(await answer, ['result of a', 'result of b']);
  });

  it('merges the requests that arrive while every slot is busy into one call, and splits the answer in order', async () => {
    const downstream = new ControlledRun();
    const coalescer = new RequestCoalescer<string, string>({ maxRows: 64, maxInFlight: 1 });
    const first = coalescer.submit('k', ['a'], budget(), downstream.run);
    const second = coalescer.submit('k', ['b', 'c'], budget(), downstream.run);
    const third = coalescer.submit('k', ['d'], budget(), downstream.run);
    assert.equal(downstream.calls.length, 1, 'the next call waits for the slot');
    assert.equal(coalescer.waiting, 2);
    downstream.calls[0]!.answer();
    await first;
    await tick();
    assert.equal(downstream.calls.length, 2);
    assert.deepEqual(downstream.calls[1]!.rows, ['b', 'c', 'd']);
    downstream.calls[1]!.answer();
    assert.deepEqual(await second, ['result of b', 'result of c']);
    assert.deepEqual(await third, ['result of d']);
  });

  it('never merges requests with different keys, and never beyond maxRows', async () => {
    const downstream = new ControlledRun();
    const coalescer = new RequestCoalescer<string, string>({ maxRows: 3, maxInFlight: 1 });
    const blocker = coalescer.submit('k', ['x'], budget(), downstream.run);
    const answers = [
      coalescer.submit('k', ['a', 'b'], budget(), downstream.run),
      coalescer.submit('other', ['c'], budget(), downstream.run),
      coalescer.submit('k', ['d', 'e'], budget(), downstream.run),
      coalescer.submit('k', ['f'], budget(), downstream.run),
    ];
    for (let i = 0; i < 4; i++) {
      downstream.calls[i]!.answer();
      await tick();
    }
    assert.deepEqual(
      downstream.calls.map((call) => call.rows),
      [['x'], ['a', 'b', 'f'], ['c'], ['d', 'e']],
    );
    await blocker;
    assert.deepEqual(await answers[3], ['result of f']);
  });

  it('answers a request cancelled while waiting with CANCELLED and sends only the others', async () => {
    const downstream = new ControlledRun();
    const coalescer = new RequestCoalescer<string, string>({ maxRows: 64, maxInFlight: 1 });
    const blocker = coalescer.submit('k', ['x'], budget(), downstream.run);
    const cancelled = new AbortController();
    const gone = coalescer.submit('k', ['a'], budget(10_000, cancelled), downstream.run);
    const kept = coalescer.submit('k', ['b'], budget(), downstream.run);
    cancelled.abort();
    await assert.rejects(gone, (error: ServiceError) => error.code === status.CANCELLED);
    downstream.calls[0]!.answer();
    await blocker;
    await tick();
    assert.deepEqual(downstream.calls[1]!.rows, ['b']);
    downstream.calls[1]!.answer();
    assert.deepEqual(await kept, ['result of b']);
  });

  it('answers DEADLINE_EXCEEDED, not CANCELLED, when the signal aborted because the call\'s deadline passed', async () => {
    const downstream = new ControlledRun();
    const coalescer = new RequestCoalescer<string, string>({ maxRows: 64, maxInFlight: 1 });
    const blocker = coalescer.submit('k', ['x'], budget(), downstream.run);
    // What openCallContext does at the deadline: abort with a TimeoutError, maybe before this member's own timer.
    const timedOut = new AbortController();
    const late = coalescer.submit('k', ['a'], budget(10_000, timedOut), downstream.run);
    timedOut.abort(Object.assign(new Error("the call's deadline passed"), { name: 'TimeoutError' }));
    await assert.rejects(late, (error: ServiceError) => error.code === status.DEADLINE_EXCEEDED);
    await assert.rejects(coalescer.submit('k', ['b'], budget(10_000, timedOut), downstream.run), (error: ServiceError) => error.code === status.DEADLINE_EXCEEDED);
    downstream.calls[0]!.answer();
    await blocker;
  });

  it('lets a member leave a running call without harming its batch-mates; cancels the call once nobody waits', async () => {
    const downstream = new ControlledRun();
    const coalescer = new RequestCoalescer<string, string>({ maxRows: 64, maxInFlight: 1 });
    const blocker = coalescer.submit('k', ['x'], budget(), downstream.run);
    const a = new AbortController();
    const b = new AbortController();
    const first = coalescer.submit('k', ['a'], budget(10_000, a), downstream.run);
    const second = coalescer.submit('k', ['b'], budget(10_000, b), downstream.run);
    downstream.calls[0]!.answer();
    await blocker;
    await tick();
    const merged = downstream.calls[1]!;
    a.abort();
    await assert.rejects(first, (error: ServiceError) => error.code === status.CANCELLED);
    assert.equal(merged.budget.signal.aborted, false, 'b still waits for the merged call');
    b.abort();
    await assert.rejects(second, (error: ServiceError) => error.code === status.CANCELLED);
    assert.equal(merged.budget.signal.aborted, true);
  });

  it('gives each member its own deadline, and the merged call the latest of them', async () => {
    const downstream = new ControlledRun();
    const coalescer = new RequestCoalescer<string, string>({ maxRows: 64, maxInFlight: 1 });
    const blocker = coalescer.submit('k', ['x'], budget(), downstream.run);
    const short = budget(30);
    const long = budget(10_000);
    const hurried = coalescer.submit('k', ['a'], short, downstream.run);
    const patient = coalescer.submit('k', ['b'], long, downstream.run);
    downstream.calls[0]!.answer();
    await blocker;
    await tick();
    assert.equal(downstream.calls[1]!.budget.deadlineMs, long.deadlineMs);
    await assert.rejects(hurried, (error: ServiceError) => error.code === status.DEADLINE_EXCEEDED);
    downstream.calls[1]!.answer();
    assert.deepEqual(await patient, ['result of b']);
  });

  it('refuses a request whose deadline already passed, without calling the downstream', async () => {
    const downstream = new ControlledRun();
    const coalescer = new RequestCoalescer<string, string>({ maxRows: 64, maxInFlight: 1 });
    await assert.rejects(coalescer.submit('k', ['a'], budget(-1), downstream.run), (error: ServiceError) => error.code === status.DEADLINE_EXCEEDED);
    assert.equal(downstream.calls.length, 0);
  });

  it('re-runs a merged call refused with INVALID_ARGUMENT member by member, so only the request at fault fails', async () => {
    const downstream = new ControlledRun();
    const coalescer = new RequestCoalescer<string, string>({ maxRows: 64, maxInFlight: 1 });
    const blocker = coalescer.submit('k', ['x'], budget(), downstream.run);
    const good = coalescer.submit('k', ['good'], budget(), downstream.run);
    const bad = coalescer.submit('k', ['bad'], budget(), downstream.run);
    downstream.calls[0]!.answer();
    await blocker;
    await tick();
    downstream.calls[1]!.fail(new ServiceError(status.INVALID_ARGUMENT, 'texts[1] is bad'));
    await tick();
    await tick();
    assert.deepEqual(downstream.calls.slice(2).map((call) => call.rows), [['good'], ['bad']]);
    downstream.calls[2]!.answer();
    downstream.calls[3]!.fail(new ServiceError(status.INVALID_ARGUMENT, 'texts[0] is bad'));
    assert.deepEqual(await good, ['result of good']);
    await assert.rejects(bad, (error: ServiceError) => error.code === status.INVALID_ARGUMENT && /texts\[0\]/.test(error.message));
  });

  it('fails every member with a downstream error that is not about one request', async () => {
    const downstream = new ControlledRun();
    const coalescer = new RequestCoalescer<string, string>({ maxRows: 64, maxInFlight: 1 });
    const blocker = coalescer.submit('k', ['x'], budget(), downstream.run);
    const one = coalescer.submit('k', ['a'], budget(), downstream.run);
    const two = coalescer.submit('k', ['b'], budget(), downstream.run);
    downstream.calls[0]!.answer();
    await blocker;
    await tick();
    downstream.calls[1]!.fail(new ServiceError(status.UNAVAILABLE, 'model down'));
    await assert.rejects(one, (error: ServiceError) => error.code === status.UNAVAILABLE);
    await assert.rejects(two, (error: ServiceError) => error.code === status.UNAVAILABLE);
    assert.equal(downstream.calls.length, 2, 'not re-run');
  });

  it('answers INTERNAL when the downstream returns the wrong number of rows', async () => {
    const downstream = new ControlledRun();
    const coalescer = new RequestCoalescer<string, string>({ maxRows: 64, maxInFlight: 1 });
    const answer = coalescer.submit('k', ['a', 'b'], budget(), downstream.run);
    downstream.calls[0]!.answer(['only one']);
    await assert.rejects(answer, (error: ServiceError) => error.code === status.INTERNAL);
  });
  describe('waiting for the callers it has just answered', () => {
    it('holds a free slot until the callers of the last call are back, then sends everyone at once', async () => {
      const downstream = new ControlledRun();
      const coalescer = new RequestCoalescer<string, string>({ maxRows: 64, maxInFlight: 1, maxGatherUs: 60_000_000 });
      const x = coalescer.submit('k', ['x'], budget(), downstream.run);
      const waiting = ['a', 'b'].map((row) => coalescer.submit('k', [row], budget(), downstream.run));
      downstream.calls[0]!.answer();
      await x;
      await tick();
      assert.equal(downstream.calls.length, 1, "the slot is free, but x's caller is expected back");
      waiting.push(coalescer.submit('k', ['y'], budget(), downstream.run));
      assert.equal(downstream.calls.length, 2);
      assert.deepEqual(downstream.calls[1]!.rows, ['a', 'b', 'y']);
      downstream.calls[1]!.answer();
      await Promise.all(waiting);
      await tick();
      // Three callers answered together come back one by one: they go as one call, not as one and then two.
      const next = ['d', 'e'].map((row) => coalescer.submit('k', [row], budget(), downstream.run));
      await tick();
      assert.equal(downstream.calls.length, 2, 'waits for the third caller');
      next.push(coalescer.submit('k', ['f'], budget(), downstream.run));
      assert.equal(downstream.calls.length, 3);
      assert.deepEqual(downstream.calls[2]!.rows, ['d', 'e', 'f']);
      downstream.calls[2]!.answer();
      assert.deepEqual(await Promise.all(next), [['result of d'], ['result of e'], ['result of f']]);
    });

    it('stops waiting after maxGatherUs and sends who came back', async () => {
      const downstream = new ControlledRun();
      const coalescer = new RequestCoalescer<string, string>({ maxRows: 64, maxInFlight: 1, maxGatherUs: 20_000 });
      const x = coalescer.submit('k', ['x'], budget(), downstream.run);
      const pair = ['a', 'b'].map((row) => coalescer.submit('k', [row], budget(), downstream.run));
      downstream.calls[0]!.answer();
      await x;
      while (downstream.calls.length === 1) await new Promise((resolve) => setTimeout(resolve, 1));
      downstream.calls[1]!.answer();
      await Promise.all(pair);
      await tick();
      const started = performance.now();
      const lone = coalescer.submit('k', ['c'], budget(), downstream.run);
      assert.equal(downstream.calls.length, 2, 'waits for the other caller answered with it');
      while (downstream.calls.length === 2) await new Promise((resolve) => setTimeout(resolve, 1));
      assert.ok(performance.now() - started >= 19, 'not before the wait ran out');
      assert.deepEqual(downstream.calls[2]!.rows, ['c']);
      downstream.calls[2]!.answer();
      assert.deepEqual(await lone, ['result of c']);
    });

    it('never makes a lone caller wait: its own return is the one awaited', async () => {
      const downstream = new ControlledRun();
      const coalescer = new RequestCoalescer<string, string>({ maxRows: 64, maxInFlight: 1, maxGatherUs: 60_000_000 });
      for (const [index, row] of ['a', 'b', 'c'].entries()) {
        const answer = coalescer.submit('k', [row], budget(), downstream.run);
        assert.equal(downstream.calls.length, index + 1, 'sent at once');
        downstream.calls[index]!.answer();
        await answer;
        await tick();
      }
    });

    it('does not wait when the call is already full', async () => {
      const downstream = new ControlledRun();
      const coalescer = new RequestCoalescer<string, string>({ maxRows: 2, maxInFlight: 1, maxGatherUs: 60_000_000 });
      const x = coalescer.submit('k', ['x'], budget(), downstream.run);
      const full = coalescer.submit('k', ['a', 'b'], budget(), downstream.run);
      downstream.calls[0]!.answer();
      await x;
      await tick();
      assert.equal(downstream.calls.length, 2, "a full call goes although x's caller is expected back");
      downstream.calls[1]!.answer();
      await full;
    });
  });
});

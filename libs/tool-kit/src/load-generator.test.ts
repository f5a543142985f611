import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { runClosedLoop } from './load-generator';

describe('runClosedLoop', function () {
  this.timeout(10_000);

  it('counts the requests, rows and latencies answered inside the window, per caller', async () => {
    const callers = new Set<number>();
    const measurement = await runClosedLoop({
      concurrency: 3,
      warmupMs: 20,
      durationMs: 200,
      issue: async (caller) => {
        callers.add(caller);
        await sleep(5);
        return 2;
      },
    });
    assert.deepEqual([...callers].sort(), [0, 1, 2]);
    assert.ok(measurement.requests > 10, `${measurement.requests} requests`);
    assert.equal(measurement.rows, measurement.requests * 2);
    assert.equal(measurement.errors, 0);
    assert.ok(measurement.windowSeconds >= 0.19, `window ${measurement.windowSeconds} s`);
    assert.ok(measurement.latency.p50Ms >= 4 && measurement.latency.p50Ms <= measurement.latency.p99Ms);
    assert.ok(Math.abs(measurement.rowsPerSecond - measurement.rows / measurement.windowSeconds) < 1e-9);
  });

  it('counts failed requests as errors with their messages, warm-up ones apart', async () => {
    const measurement = await runClosedLoop({
      concurrency: 2,
      warmupMs: 30,
      durationMs: 60,
      issue: async (_, sequence) => {
        await sleep(2);
        if (sequence % 2 === 0) throw new Error('INVALID_ARGUMENT: texts[0] is empty');
        return 1;
      },
    });
    assert.ok(measurement.errors > 0 && measurement.requests > 0 && measurement.warmupErrors > 0);
    assert.deepEqual(measurement.errorSamples.slice().sort(), ['INVALID_ARGUMENT: texts[0] is empty', 'warm-up: INVALID_ARGUMENT: texts[0] is empty']);
  });

  it('ends the whole run when an assertion fails inside a caller, and issues nothing after it rejects', async () => {
    let issued = 0;
    const began = Date.now();
    const run = runClosedLoop({
      concurrency: 4,
      warmupMs: 0,
      durationMs: 60_000,
      issue: async (caller) => {
        issued++;
        await sleep(1);
        if (caller === 2 && issued > 20) assert.fail('a wrong answer');
        return 1;
      },
    });
    await assert.rejects(run, /a wrong answer/);
    assert.ok(Date.now() - began < 5_000, 'it stopped long before the window would have closed');
    const afterStop = issued;
    await sleep(50);
    assert.equal(issued, afterStop, 'no caller kept issuing');
  });

  it('ends early on the signal, rejecting with its reason', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('enough')), 50);
    const began = Date.now();
    await assert.rejects(
      runClosedLoop({ concurrency: 2, warmupMs: 0, durationMs: 60_000, signal: controller.signal, issue: () => sleep(1).then(() => 1) }),
      /enough/,
    );
    assert.ok(Date.now() - began < 5_000);
  });

  it('refuses a concurrency below 1', async () => {
    await assert.rejects(runClosedLoop({ concurrency: 0, warmupMs: 0, durationMs: 10, issue: async () => 1 }), RangeError);
  });
});

import { strict as assert } from 'node:assert';
import { coresBusy, cpuMsPerThousandRows, LatencyRecorder, percentile, ratio, summarizeLatencies, throughput } from './stats';

describe('bench stats', () => {
  it('takes nearest-rank percentiles of sorted values', () => {
    const hundred = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    assert.deepEqual([50, 95, 99, 100].map((p) => percentile(hundred, p)), [50, 95, 99, 100]);
    assert.equal(percentile(hundred, 0), 1);
    assert.equal(percentile([7], 99), 7);
    assert.equal(percentile([1, 2, 3, 4], 50), 2);
    assert.equal(percentile([1, 2, 3, 4], 51), 3);
    assert.ok(Number.isNaN(percentile([], 50)));
  });

  it('records latencies past its initial capacity and sorts them numerically', () => {
    const recorder = new LatencyRecorder(16);
    for (let i = 40; i >= 1; i--) recorder.record(i === 3 ? 100 : i / 10);
    assert.equal(recorder.count, 40);
    const sorted = recorder.sorted();
    assert.equal(sorted[0], 0.1);
    assert.equal(sorted[39], 100);
    const summary = summarizeLatencies(sorted);
    assert.equal(summary.count, 40);
    assert.equal(summary.p50Ms, 2.1); // the 20th of 0.1, 0.2, 0.4, 0.5, ...: 0.3 became 100
    assert.equal(summary.maxMs, 100);
    assert.ok(Math.abs(summary.meanMs - (820 / 10 - 0.3 + 100) / 40) < 1e-12);
  });

  it('turns counts over a window into rates, and guards empty windows and zero denominators', () => {
    assert.deepEqual(throughput(3200, 100, 4), { rowsPerSecond: 800, requestsPerSecond: 25 });
    assert.deepEqual(throughput(10, 1, 0), { rowsPerSecond: 0, requestsPerSecond: 0 });
    assert.equal(ratio(3000, 2000), 1.5);
    assert.ok(Number.isNaN(ratio(1, 0)));
    assert.ok(Number.isNaN(ratio(Number.NaN, 2)));
    assert.equal(coresBusy(3, 2), 1.5);
    assert.equal(cpuMsPerThousandRows(0.5, 2000), 250);
    assert.ok(Number.isNaN(cpuMsPerThousandRows(1, 0)));
  });
});

import type { Histogram } from '@opentelemetry/sdk-metrics';
import { strict as assert } from 'node:assert';
import { versionAttributes } from './model-metrics';
import { collectedModelMetrics } from './test-support';

describe('ModelMetrics', () => {
  it('reports queue size, batches, padding and requests per model version', async () => {
    const { metrics, collect, shutdown } = collectedModelMetrics();
    const v2 = versionAttributes('sentiment', '2');
    let depth = { requests: 7, rows: 90 };
    metrics.trackVersion(v2, () => depth, 5_000_000);
    metrics.recordBatch(v2, { rows: 4, paddedCells: 10, totalCells: 40, queueTimesMs: [1, 2, 3], computeMs: 8, computeWaitMs: 3 });
    metrics.recordRequest(v2, 'OK', 0.004);
    metrics.recordRequest(v2, 'OK', 0.006);
    metrics.recordRequest(v2, 'RESOURCE_EXHAUSTED', 0.001);

    let points = await collect();
    assert.deepEqual(points.get('imesh.model.queue.size')!.map((p) => [p.attributes, p.value]), [[v2, 7]]);
    assert.deepEqual(points.get('imesh.model.queue.rows')!.map((p) => [p.attributes, p.value]), [[v2, 90]]);
    assert.equal(points.get('imesh.model.memory.usage')![0]!.value, 5_000_000);
    const padding = points.get('imesh.model.batch.padding')![0]!.value as Histogram;
    assert.deepEqual([padding.count, padding.sum], [1, 0.25]);
    assert.equal((points.get('imesh.model.batch.size')![0]!.value as Histogram).sum, 4);
    assert.equal((points.get('imesh.model.queue.duration')![0]!.value as Histogram).count, 3);
    assert.equal((points.get('imesh.model.compute.duration')![0]!.value as Histogram).sum, 0.008);
    assert.equal((points.get('imesh.model.compute.wait.duration')![0]!.value as Histogram).sum, 0.003);
    assert.equal(points.get('imesh.model.inferences')![0]!.value, 4);
    assert.equal(points.get('imesh.model.executions')![0]!.value, 1);
    const requests = points.get('imesh.model.requests')!.map((p) => [p.attributes['rpc.grpc.status_code'], p.value]);
    assert.deepEqual(requests, [['OK', 2], ['RESOURCE_EXHAUSTED', 1]]);
    const durations = points.get('imesh.model.request.duration')!.map((p) => [p.attributes['rpc.grpc.status_code'], (p.value as Histogram).count, (p.value as Histogram).sum]);
    assert.deepEqual(durations, [['OK', 2, 0.01], ['RESOURCE_EXHAUSTED', 1, 0.001]]);

    depth = { requests: 0, rows: 0 };
    points = await collect();
    assert.equal(points.get('imesh.model.queue.size')![0]!.value, 0, 'the gauge reads the queue when collected');
    assert.equal(points.get('imesh.model.queue.rows')![0]!.value, 0);
    await shutdown();
  });

  it('counts refusals from the batcher per model version and reason', async () => {
    const { metrics, collect, shutdown } = collectedModelMetrics();
    const v1 = versionAttributes('sentiment', '1');
    const v2 = versionAttributes('sentiment', '2');
    metrics.recordRefusal(v2, 'queue_full');
    metrics.recordRefusal(v2, 'queue_full');
    metrics.recordRefusal(v2, 'expired');
    metrics.recordRefusal(v1, 'cancelled');
    const refused = (await collect()).get('imesh.model.requests.refused')!.map((p) => [p.attributes, p.value]);
    assert.deepEqual(refused, [
      [{ ...v2, reason: 'queue_full' }, 2],
      [{ ...v2, reason: 'expired' }, 1],
      [{ ...v1, reason: 'cancelled' }, 1],
    ]);
    await shutdown();
  });
});

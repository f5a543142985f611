import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { strict as assert } from 'node:assert';
import { ModelMetrics, versionAttributes } from './model-metrics';

class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

async function collect(reader: CollectingReader): Promise<Map<string, DataPoint<unknown>[]>> {
  const { resourceMetrics } = await reader.collect();
  const byName = new Map<string, DataPoint<unknown>[]>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric.dataPoints as DataPoint<unknown>[]);
  }
  return byName;
}

describe('ModelMetrics', () => {
  it('reports queue size, batches, padding and requests per model version', async () => {
    const reader = new CollectingReader();
    const provider = new MeterProvider({ readers: [reader] });
    const metrics = new ModelMetrics(provider.getMeter('test'));
    const v2 = versionAttributes('sentiment', '2');
    let depth = { requests: 7, rows: 90 };
    metrics.trackVersion(v2, () => depth, 5_000_000);
    metrics.recordBatch(v2, { rows: 4, paddedCells: 10, totalCells: 40, queueTimesMs: [1, 2, 3], computeMs: 8 });
    metrics.recordRequest(v2, 'OK');
    metrics.recordRequest(v2, 'OK');
    metrics.recordRequest(v2, 'RESOURCE_EXHAUSTED');

    let points = await collect(reader);
    assert.deepEqual(points.get('imesh.model.queue.size')!.map((p) => [p.attributes, p.value]), [[v2, 7]]);
    assert.deepEqual(points.get('imesh.model.queue.rows')!.map((p) => [p.attributes, p.value]), [[v2, 90]]);
    assert.equal(points.get('imesh.model.memory.usage')![0]!.value, 5_000_000);
    const padding = points.get('imesh.model.batch.padding')![0]!.value as Histogram;
    assert.deepEqual([padding.count, padding.sum], [1, 0.25]);
    assert.equal((points.get('imesh.model.batch.size')![0]!.value as Histogram).sum, 4);
    assert.equal((points.get('imesh.model.queue.duration')![0]!.value as Histogram).count, 3);
    assert.equal((points.get('imesh.model.compute.duration')![0]!.value as Histogram).sum, 0.008);
    assert.equal(points.get('imesh.model.inferences')![0]!.value, 4);
    assert.equal(points.get('imesh.model.executions')![0]!.value, 1);
    const requests = points.get('imesh.model.requests')!.map((p) => [p.attributes['rpc.grpc.status_code'], p.value]);
    assert.deepEqual(requests, [['OK', 2], ['RESOURCE_EXHAUSTED', 1]]);

    depth = { requests: 0, rows: 0 };
    points = await collect(reader);
    assert.equal(points.get('imesh.model.queue.size')![0]!.value, 0, 'the gauge reads the queue when collected');
    assert.equal(points.get('imesh.model.queue.rows')![0]!.value, 0);
    await provider.shutdown();
  });
});

import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { strict as assert } from 'node:assert';
import { QueueWorkerMetrics } from './worker-metrics';

class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

async function collect(reader: CollectingReader): Promise<Map<string, DataPoint<unknown>[]>> {
  const { resourceMetrics } = await reader.collect();
  return new Map(resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.map((metric) => [metric.descriptor.name, metric.dataPoints as DataPoint<unknown>[]] as const)));
}

const byAttribute = (points: DataPoint<unknown>[] | undefined, name: string) => Object.fromEntries((points ?? []).map((p) => [String(p.attributes[name]), p.value]));

describe('QueueWorkerMetrics', () => {
  it('counts deliveries consumed, acked by outcome, retried and dead-lettered by status, requeued and reconnects; samples in flight and the connection', async () => {
    const reader = new CollectingReader();
    let inFlight = 3;
    let connected = true;
    const metrics = new QueueWorkerMetrics({ inFlight: () => inFlight, connected: () => connected }, new MeterProvider({ readers: [reader] }).getMeter('test'));
    metrics.recordConsumed(false);
    metrics.recordConsumed(false);
    metrics.recordConsumed(true);
    metrics.recordAcked('result', undefined, 0.5);
    metrics.recordAcked('result', undefined, undefined);
    metrics.recordAcked('retried', 'UNAVAILABLE', undefined);
    metrics.recordAcked('dead_lettered', undefined, undefined);
    metrics.recordAcked('dead_lettered', 'INVALID_ARGUMENT', undefined);
    metrics.recordRequeued();
    metrics.recordReconnect();

    let points = await collect(reader);
    assert.deepEqual(byAttribute(points.get('imesh.queue_worker.consumed'), 'redelivered'), { false: 2, true: 1 });
    assert.deepEqual(byAttribute(points.get('imesh.queue_worker.acked'), 'outcome'), { result: 2, retried: 1, dead_lettered: 2 });
    assert.deepEqual(byAttribute(points.get('imesh.queue_worker.retried'), 'grpc_status'), { UNAVAILABLE: 1 });
    assert.deepEqual(byAttribute(points.get('imesh.queue_worker.dead_lettered'), 'grpc_status'), { none: 1, INVALID_ARGUMENT: 1 });
    assert.equal(points.get('imesh.queue_worker.requeued')![0]!.value, 1);
    assert.equal(points.get('imesh.queue_worker.reconnects')![0]!.value, 1);
    const endToEnd = points.get('imesh.queue_worker.end_to_end.duration')![0]!.value as Histogram;
    assert.deepEqual([endToEnd.count, endToEnd.sum], [1, 0.5], 'only results with a publish time are timed');
    assert.equal(points.get('imesh.queue_worker.inflight')![0]!.value, 3);
    assert.equal(points.get('imesh.queue_worker.broker.connected')![0]!.value, 1);

    inFlight = 0;
    connected = false;
    points = await collect(reader);
    assert.equal(points.get('imesh.queue_worker.inflight')![0]!.value, 0);
    assert.equal(points.get('imesh.queue_worker.broker.connected')![0]!.value, 0);
  });
});

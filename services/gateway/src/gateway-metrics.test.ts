import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { strict as assert } from 'node:assert';
import type { CircuitState } from './circuit-breaker';
import { GatewayMetrics } from './gateway-metrics';

class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

async function collect(reader: CollectingReader): Promise<Map<string, DataPoint<number>[]>> {
  const { resourceMetrics } = await reader.collect();
  const byName = new Map<string, DataPoint<number>[]>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric.dataPoints as DataPoint<number>[]);
  }
  return byName;
}

const byDownstream = (points: DataPoint<number>[] | undefined) =>
  Object.fromEntries((points ?? []).map((p) => [String(p.attributes['downstream'] ?? ''), p.value]));

describe('GatewayMetrics', () => {
  it('reports breaker state per downstream (0 closed, 1 open, 2 half-open), retries, shedding and requests in flight', async () => {
    const reader = new CollectingReader();
    const metrics = new GatewayMetrics(new MeterProvider({ readers: [reader] }).getMeter('test'));
    let model: CircuitState = 'closed';
    metrics.trackBreaker('model', () => model);
    metrics.trackBreaker('tokenizer', () => 'closed');
    metrics.recordRetry('model');
    metrics.recordRetry('model');
    metrics.recordShed('gateway');
    metrics.addInFlight(1);
    metrics.addInFlight(1);
    metrics.addInFlight(-1);

    let points = await collect(reader);
    assert.deepEqual(byDownstream(points.get('imesh.gateway.breaker.state')), { model: 0, tokenizer: 0 });
    assert.deepEqual(byDownstream(points.get('imesh.gateway.retries')), { model: 2 });
    assert.deepEqual(byDownstream(points.get('imesh.gateway.shed')), { gateway: 1 });
    assert.equal(points.get('imesh.gateway.inflight')![0]!.value, 1);

    model = 'open';
    points = await collect(reader);
    assert.equal(byDownstream(points.get('imesh.gateway.breaker.state')).model, 1);
    model = 'half-open';
    points = await collect(reader);
    assert.equal(byDownstream(points.get('imesh.gateway.breaker.state')).model, 2);
  });

  it('records each hop call\'s overhead in seconds, by hop', async () => {
    const reader = new CollectingReader();
    const metrics = new GatewayMetrics(new MeterProvider({ readers: [reader] }).getMeter('test'));
    metrics.recordHopOverhead('tokenizer', 0.5);
    metrics.recordHopOverhead('tokenizer', 1.5);
    metrics.recordHopOverhead('model', 2);
    const points = (await collect(reader)).get('imesh.gateway.hop.overhead.duration') ?? [];
    const byHop = Object.fromEntries(points.map((p) => [String(p.attributes['hop']), p.value as unknown as Histogram]));
    assert.deepEqual([byHop['tokenizer']?.count, byHop['tokenizer']?.sum], [2, 0.002]);
    assert.deepEqual([byHop['model']?.count, byHop['model']?.sum], [1, 0.002]);
  });
});

import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { status } from '@grpc/grpc-js';
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

  it('counts model calls by model, version and final status code, and their whole time by model and version', async () => {
    const reader = new CollectingReader();
    const metrics = new GatewayMetrics(new MeterProvider({ readers: [reader] }).getMeter('test'));
    metrics.recordModelCall('sentiment', '1', status.OK, 0.01);
    metrics.recordModelCall('sentiment', '1', status.OK, 0.03);
    metrics.recordModelCall('sentiment', '2', status.UNAVAILABLE, 0.5);
    metrics.recordModelCall('sentiment', '2', status.OK, 0.02);
    const points = await collect(reader);
    const calls = (points.get('imesh.gateway.model.calls') ?? []).map((p) => `${p.attributes['model.name']}/${p.attributes['model.version']} ${p.attributes['rpc.grpc.status_code']}=${p.value}`);
    assert.deepEqual(calls.sort(), ['sentiment/1 OK=2', 'sentiment/2 OK=1', 'sentiment/2 UNAVAILABLE=1']);
    const durations = (points.get('imesh.gateway.model.call.duration') ?? []).map((p) => {
      const histogram = p.value as unknown as Histogram;
      return [Object.keys(p.attributes).sort().join(','), p.attributes['model.version'], histogram.count, Number((histogram.sum ?? NaN).toFixed(3))];
    });
    assert.deepEqual(durations, [['model.name,model.version', '1', 2, 0.04], ['model.name,model.version', '2', 2, 0.52]]);
  });

  it('counts shadow rows by agreement, the score difference, shed and failed shadows per (model, served, shadow) version pair', async () => {
    const reader = new CollectingReader();
    const metrics = new GatewayMetrics(new MeterProvider({ readers: [reader] }).getMeter('test'));
    metrics.recordShadowRows('sentiment', '1', '2', 30, 2, 0.75);
    metrics.recordShadowRows('sentiment', '1', '2', 8, 0, 0.25);
    metrics.recordShadowRows('sentiment', '2', '3', 0, 16, 14.5);
    metrics.recordShadowShed('sentiment', '1', '2');
    metrics.recordShadowFailed('sentiment', '1', '2', 'DEADLINE_EXCEEDED');
    metrics.recordShadowFailed('sentiment', '1', '2', 'DEADLINE_EXCEEDED');
    metrics.recordShadowFailed('sentiment', '2', '3', 'FAILED_PRECONDITION');
    const points = await collect(reader);
    const series = (name: string) =>
      Object.fromEntries((points.get(name) ?? []).map((p) => [Object.entries(p.attributes).map(([k, v]) => `${k}=${String(v)}`).join(','), p.value]));
    assert.deepEqual(series('imesh.gateway.shadow.rows'), {
      'model.name=sentiment,served.version=1,shadow.version=2,agreement=agree': 38,
      'model.name=sentiment,served.version=1,shadow.version=2,agreement=disagree': 2,
      'model.name=sentiment,served.version=2,shadow.version=3,agreement=agree': 0,
      'model.name=sentiment,served.version=2,shadow.version=3,agreement=disagree': 16,
    });
    assert.deepEqual(series('imesh.gateway.shadow.score.difference'), {
      'model.name=sentiment,served.version=1,shadow.version=2': 1,
      'model.name=sentiment,served.version=2,shadow.version=3': 14.5,
    });
    assert.deepEqual(series('imesh.gateway.shadow.shed'), { 'model.name=sentiment,served.version=1,shadow.version=2': 1 });
    assert.deepEqual(series('imesh.gateway.shadow.failed'), {
      'model.name=sentiment,served.version=1,shadow.version=2,rpc.grpc.status_code=DEADLINE_EXCEEDED': 2,
      'model.name=sentiment,served.version=2,shadow.version=3,rpc.grpc.status_code=FAILED_PRECONDITION': 1,
    });
  });
});

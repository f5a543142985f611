import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { createLogger } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { serveMetrics } from './metrics-endpoint';

describe('serveMetrics', () => {
  it('serves Prometheus text on a free port, and logs instead of crashing when the port is taken', async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const provider = new MeterProvider({ readers: [exporter] });
    provider.getMeter('test').createCounter('imesh.test.calls', { unit: '{call}' }).add(3, { 'model.version': '2' });
    const lines: string[] = [];
    const logger = createLogger('test', 'info', (line) => lines.push(line));
    const first = await serveMetrics(exporter, '127.0.0.1', 0, logger);
    try {
      assert.ok(first.port && first.port > 0);
      const text = await (await fetch(`http://127.0.0.1:${first.port}/metrics`)).text();
      // OpenTelemetry names as Prometheus sees them: dots to underscores, `_total` on counters, attributes as labels.
      assert.match(text, /^imesh_test_calls_total\{model_version="2"\} 3$/m);
      assert.equal((await fetch(`http://127.0.0.1:${first.port}/other`)).status, 404);

      const second = await serveMetrics(exporter, '127.0.0.1', first.port, logger);
      assert.equal(second.port, undefined);
      assert.ok(lines.some((line) => /"level":"error".*metrics endpoint cannot listen.*EADDRINUSE/.test(line)), lines.join('\n'));
      await second.close();
    } finally {
      await first.close();
      await provider.shutdown();
    }
  });
});

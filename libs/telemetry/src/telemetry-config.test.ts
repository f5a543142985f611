import { isConfigError, parseConfig } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { readTelemetryConfig } from './telemetry-config';

function read(env: Record<string, string>, service: 'gateway' | 'model' = 'gateway') {
  return parseConfig(env, (reader) => readTelemetryConfig(reader, service));
}

describe('readTelemetryConfig', () => {
  it('serves Prometheus metrics on the service\'s own port and exports no traces by default', () => {
    assert.deepEqual(read({}), { enabled: true, serviceName: 'imesh-gateway', metricsExporter: 'prometheus', metricsPort: 9464, tracesExporter: 'none' });
    assert.equal(read({}, 'model').metricsPort, 9466);
    assert.equal(read({ IMESH_MODEL_METRICS_PORT: '0', IMESH_GATEWAY_METRICS_PORT: '1' }, 'model').metricsPort, 0);
  });

  it('exports traces by OTLP once an endpoint is configured, unless told otherwise', () => {
    assert.equal(read({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317' }).tracesExporter, 'otlp');
    assert.equal(read({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4317' }).tracesExporter, 'otlp');
    assert.equal(read({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317', OTEL_TRACES_EXPORTER: 'none' }).tracesExporter, 'none');
    assert.equal(read({ OTEL_TRACES_EXPORTER: 'console', OTEL_METRICS_EXPORTER: 'none' }).metricsExporter, 'none');
    assert.equal(read({ OTEL_SDK_DISABLED: 'true' }).enabled, false);
  });

  it('names every bad variable', () => {
    assert.throws(
      () => read({ OTEL_TRACES_EXPORTER: 'zipkin', IMESH_GATEWAY_METRICS_PORT: '70000' }),
      (error: unknown) =>
        isConfigError(error) &&
        /OTEL_TRACES_EXPORTER="zipkin": expected one of otlp, console, none/.test(error.message) &&
        /IMESH_GATEWAY_METRICS_PORT="70000"/.test(error.message),
    );
  });
});

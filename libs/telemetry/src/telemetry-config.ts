import { serviceVariablePart, type EnvReader, type ServiceName } from '@inference-mesh/service-kit';

/** Where each service serves Prometheus's /metrics unless IMESH_<SERVICE>_METRICS_PORT says otherwise. */
export const DEFAULT_METRICS_PORTS: Readonly<Record<ServiceName, number>> = {
  gateway: 9464,
  tokenizer: 9465,
  model: 9466,
  postprocess: 9467,
  'queue-worker': 9468,
};

export type TracesExporterName = 'otlp' | 'console' | 'none';
export type MetricsExporterName = 'prometheus' | 'none';

export interface TelemetryConfig {
  /** False with OTEL_SDK_DISABLED=true: no SDK at all, the OpenTelemetry API stays a no-op. */
  readonly enabled: boolean;
  /** The resource's default service.name; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over it. */
  readonly serviceName: string;
  readonly metricsExporter: MetricsExporterName;
  /** Port of the /metrics endpoint, on the service's IMESH_HOST; 0 picks a free one (logged). */
  readonly metricsPort: number;
  /** `otlp` sends spans to OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT over gRPC; `none` still propagates trace context. */
  readonly tracesExporter: TracesExporterName;
}

/**
 * The standard OTEL_* variables that decide what is exported, plus this service's metrics port. The SDK reads the
 * rest of the standard ones itself: OTEL_EXPORTER_OTLP_*, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*,
 * OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME.
 */
export function readTelemetryConfig(env: EnvReader, service: ServiceName): TelemetryConfig {
  // Traces go out by OTLP once an endpoint is configured; without one there is nowhere to send them.
  const otlpConfigured = env.has('OTEL_EXPORTER_OTLP_ENDPOINT') || env.has('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  return {
    enabled: !env.boolean('OTEL_SDK_DISABLED', false),
    serviceName: `imesh-${service}`,
    metricsExporter: env.oneOf<MetricsExporterName>('OTEL_METRICS_EXPORTER', 'prometheus', ['prometheus', 'none']),
    metricsPort: env.port(`IMESH_${serviceVariablePart(service)}_METRICS_PORT`, DEFAULT_METRICS_PORTS[service]),
    tracesExporter: env.oneOf<TracesExporterName>('OTEL_TRACES_EXPORTER', otlpConfigured ? 'otlp' : 'none', ['otlp', 'console', 'none']),
  };
}

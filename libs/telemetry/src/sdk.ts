import { diag, DiagLogLevel, metrics, type DiagLogger } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { defaultResource, detectResources, envDetector, hostDetector, processDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  ParentBasedSampler,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Logger } from '@inference-mesh/service-kit';
import { serveMetrics, type MetricsEndpoint } from './metrics-endpoint';
import type { TelemetryConfig } from './telemetry-config';

export interface Telemetry {
  /** Port of /metrics; undefined when metrics are off or the port could not be bound. */
  readonly metricsPort: number | undefined;
  /** Flushes spans still buffered and closes /metrics; idempotent. */
  shutdown(): Promise<void>;
}

export interface TelemetryTarget {
  /** Address /metrics binds to: the service's own IMESH_HOST. */
  readonly host: string;
}

/**
 * Sets the OpenTelemetry SDK up for this process, once, before anything asks the API for a meter: a meter
 * provider read by Prometheus on /metrics, and a tracer provider with W3C trace context propagation and async
 * context tracking (so spans follow a request through awaits), exporting by OTLP when configured. Services use
 * only @opentelemetry/api; the SDK's own problems are logged as warnings, never thrown.
 */
export async function startTelemetry(config: TelemetryConfig, target: TelemetryTarget, logger: Logger): Promise<Telemetry> {
  if (!config.enabled) {
    logger.info('telemetry off (OTEL_SDK_DISABLED)');
    return { metricsPort: undefined, shutdown: async () => {} };
  }
  diag.setLogger(diagLogger(logger), DiagLogLevel.WARN);
  const detected = detectResources({ detectors: [envDetector, hostDetector, processDetector] });
  // Some detectors answer asynchronously; the exporters would otherwise warn on every export.
  await detected.waitForAsyncAttributes?.();
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName, 'service.namespace': 'inference-mesh' }))
    .merge(detected);

  const spanProcessors: SpanProcessor[] = [];
  if (config.tracesExporter === 'otlp') spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
  if (config.tracesExporter === 'console') spanProcessors.push(new SimpleSpanProcessor(new ConsoleSpanExporter()));
  // Registered even without an exporter: the context still propagates to downstreams and into log lines. Nothing
  // would read the spans this process starts itself, so those are not recorded (a caller's sampled trace still is,
  // and stays sampled downstream); with an exporter, OTEL_TRACES_SAMPLER decides (default parentbased_always_on).
  const tracerProvider = new NodeTracerProvider({
    resource,
    spanProcessors,
    ...(spanProcessors.length === 0 && { sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }) }),
  });
  tracerProvider.register();

  let meterProvider: MeterProvider | undefined;
  let endpoint: MetricsEndpoint | undefined;
  if (config.metricsExporter === 'prometheus') {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    meterProvider = new MeterProvider({ resource, readers: [exporter] });
    metrics.setGlobalMeterProvider(meterProvider);
    endpoint = await serveMetrics(exporter, target.host, config.metricsPort, logger);
  }
  logger.info('telemetry', {
    traces: config.tracesExporter,
    metrics: config.metricsExporter,
    ...(endpoint?.port !== undefined && { metricsPort: endpoint.port }),
  });

  let stopped: Promise<void> | undefined;
  return {
    metricsPort: endpoint?.port,
    shutdown: () => {
      stopped ??= Promise.allSettled([tracerProvider.shutdown(), meterProvider?.shutdown(), endpoint?.close()]).then((results) => {
        for (const result of results) {
          if (result.status === 'rejected') logger.warn('telemetry shutdown', { error: result.reason as unknown });
        }
      });
      return stopped;
    },
  };
}

function diagLogger(logger: Logger): DiagLogger {
  const ignore = () => {};
  const warn = (message: string, ...args: unknown[]) =>
    logger.warn(`opentelemetry: ${message}`, args.length > 0 ? { details: args.map(describeArgument) } : undefined);
  return { error: warn, warn, info: ignore, debug: ignore, verbose: ignore };
}

function describeArgument(value: unknown): unknown {
  return value instanceof Error ? value.message : value;
}

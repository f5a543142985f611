export { runInstrumentedService } from './run-instrumented-service';
export { startTelemetry, type Telemetry, type TelemetryTarget } from './sdk';
export {
  readTelemetryConfig,
  DEFAULT_METRICS_PORTS,
  type TelemetryConfig,
  type TracesExporterName,
  type MetricsExporterName,
} from './telemetry-config';
export { serverTelemetryInterceptor, type InstrumentationOptions } from './server-interceptor';
export { clientTelemetryInterceptor } from './client-interceptor';
export { recordModelColdStart, type ServingVersion } from './cold-start';

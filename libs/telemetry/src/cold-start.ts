import { metrics, type Meter } from '@opentelemetry/api';
import { INSTRUMENTATION_SCOPE } from './server-interceptor';

/** A model version that loaded and now serves. */
export interface ServingVersion {
  readonly name: string;
  readonly version: string;
  /** Loading and warming it up took this long. */
  readonly loadMs: number;
}

/**
 * Cold start, per model version, as gauges set once: `imesh.model.load.duration` (loading and warm-up) and
 * `imesh.model.cold_start.duration` (process start until the version served, health SERVING). Call it right after
 * the service reports SERVING. What a scale-from-zero costs, and what KEDA's activation has to wait for.
 */
export function recordModelColdStart(versions: readonly ServingVersion[], meter: Meter = metrics.getMeter(INSTRUMENTATION_SCOPE)): void {
  // performance.now() counts from the process's time origin, i.e. its start.
  const sinceProcessStartSeconds = performance.now() / 1000;
  const load = meter.createGauge('imesh.model.load.duration', {
    description: 'Time the model version took to load and warm up',
    unit: 's',
  });
  const coldStart = meter.createGauge('imesh.model.cold_start.duration', {
    description: 'Time from process start until the model version was served (health SERVING)',
    unit: 's',
  });
  for (const version of versions) {
    const attributes = { 'model.name': version.name, 'model.version': version.version };
    load.record(version.loadMs / 1000, attributes);
    coldStart.record(sinceProcessStartSeconds, attributes);
  }
}

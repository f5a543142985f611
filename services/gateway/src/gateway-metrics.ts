import { metrics, ValueType, type Attributes, type Counter, type Histogram, type Meter, type UpDownCounter } from '@opentelemetry/api';
import type { CircuitState } from './circuit-breaker';
import type { VersionWeight } from './version-split';

/** The gauge's value per state: 0 closed, 1 open, 2 half-open (alert on > 0). */
export const BREAKER_STATE_VALUES: Readonly<Record<CircuitState, number>> = { closed: 0, open: 1, 'half-open': 2 };

/** The `downstream` value of `imesh.gateway.shed` for requests refused by the gateway's own in-flight limit. */
export const GATEWAY_SHED_SOURCE = 'gateway';

/** The `version` of `imesh.gateway.version.weight` when no split is in force: unpinned requests get the latest version. */
export const LATEST_VERSION_LABEL = 'latest';

/** Why a split was not loaded: it names a version the model service does not serve, one that is not ready, or is no split at all. */
export type SplitRefusal = 'unknown_version' | 'not_ready' | 'malformed';

/** A hop's own cost is a grpc-js round trip: tens of microseconds to tens of milliseconds. */
const HOP_OVERHEAD_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/**
 * The gateway's resilience metrics, through @opentelemetry/api only: without an SDK installed they cost nothing;
 * the service's telemetry setup decides where they go. Attribute objects are made once per downstream, so
 * recording allocates nothing.
 */
export class GatewayMetrics {
  private readonly breakers = new Map<string, { readonly attributes: Attributes; readonly state: () => CircuitState }>();
  private readonly attributes = new Map<string, Attributes>();
  private readonly retries: Counter;
  private readonly shed: Counter;
  private readonly inFlight: UpDownCounter;
  private readonly hopOverhead: Histogram;
  private readonly hopAttributes = new Map<string, Attributes>();
  private versionWeights: (() => readonly VersionWeight[]) | undefined;
  private readonly versionAttributes = new Map<string, Attributes>();
  private readonly splitRefused: Counter;
  private readonly refusalAttributes = new Map<string, Attributes>();

  constructor(meter: Meter = metrics.getMeter('@inference-mesh/gateway')) {
    meter
      .createObservableGauge('imesh.gateway.breaker.state', {
        description: 'Circuit breaker state per downstream: 0 closed, 1 open, 2 half-open',
        unit: '1',
        valueType: ValueType.INT,
      })
      .addCallback((result) => {
        for (const { attributes, state } of this.breakers.values()) result.observe(BREAKER_STATE_VALUES[state()], attributes);
      });
    this.retries = meter.createCounter('imesh.gateway.retries', {
      description: 'Retries sent to a downstream (first attempts not counted)',
      unit: '{retry}',
      valueType: ValueType.INT,
    });
    this.shed = meter.createCounter('imesh.gateway.shed', {
      description: 'Requests refused with RESOURCE_EXHAUSTED by load shedding: per downstream bulkhead, or "gateway" for its in-flight limit',
      unit: '{request}',
      valueType: ValueType.INT,
    });
    this.inFlight = meter.createUpDownCounter('imesh.gateway.inflight', {
      description: 'Pipeline requests the gateway is working on',
      unit: '{request}',
      valueType: ValueType.INT,
    });
    this.hopOverhead = meter.createHistogram('imesh.gateway.hop.overhead.duration', {
      description: "Per internal call, by hop: the time the gateway observed minus the service's own (its imesh-server-ms trailer): network, HTTP/2, protobuf and grpc-js on both ends",
      unit: 's',
      advice: { explicitBucketBoundaries: HOP_OVERHEAD_BUCKETS_S },
    });
    meter
      .createObservableGauge('imesh.gateway.version.weight', {
        description: `The default model's version split in force: percent of unpinned requests per version (version="${LATEST_VERSION_LABEL}" at 100: no split, the latest version)`,
        unit: '%',
        valueType: ValueType.INT,
      })
      .addCallback((result) => {
        if (!this.versionWeights) return;
        const weights = this.versionWeights();
        const current = new Map<string, number>(weights.length === 0 ? [[LATEST_VERSION_LABEL, 100]] : weights.map((w) => [w.version, w.weight]));
        // A version reported once keeps its series, at 0 once it leaves the split (the SDK would repeat its last value).
        for (const version of this.versionAttributes.keys()) if (!current.has(version)) result.observe(0, this.versionAttributes.get(version)!);
        for (const [version, weight] of current) result.observe(weight, cachedAttributes(this.versionAttributes, 'version', version));
      });
    this.splitRefused = meter.createCounter('imesh.gateway.version.split.refused', {
      description: 'Version splits the gateway refused to load (the last good one stayed in force), by reason: unknown_version, not_ready, malformed',
      unit: '{split}',
      valueType: ValueType.INT,
    });
  }

  /** Reports `weights()`, the split in force, as the version weight gauge from now on. */
  trackVersionSplit(weights: () => readonly VersionWeight[]): void {
    this.versionWeights = weights;
  }

  recordSplitRefused(reason: SplitRefusal): void {
    this.splitRefused.add(1, cachedAttributes(this.refusalAttributes, 'reason', reason));
  }

  /** One call's cost beyond the downstream's own work: client-observed minus server-reported, in milliseconds. */
  recordHopOverhead(hop: string, overheadMs: number): void {
    this.hopOverhead.record(overheadMs / 1000, cachedAttributes(this.hopAttributes, 'hop', hop));
  }

  /** Reports `state()` as the downstream's breaker gauge from now on. */
  trackBreaker(downstream: string, state: () => CircuitState): void {
    this.breakers.set(downstream, { attributes: this.attributesOf(downstream), state });
  }

  recordRetry(downstream: string): void {
    this.retries.add(1, this.attributesOf(downstream));
  }

  recordShed(downstream: string): void {
    this.shed.add(1, this.attributesOf(downstream));
  }

  addInFlight(delta: 1 | -1): void {
    this.inFlight.add(delta);
  }

  private attributesOf(downstream: string): Attributes {
    return cachedAttributes(this.attributes, 'downstream', downstream);
  }
}

/** `{ [name]: value }`, made once per value so that recording allocates nothing. */
function cachedAttributes(cache: Map<string, Attributes>, name: string, value: string): Attributes {
  let attributes = cache.get(value);
  if (!attributes) {
    attributes = Object.freeze({ [name]: value });
    cache.set(value, attributes);
  }
  return attributes;
}

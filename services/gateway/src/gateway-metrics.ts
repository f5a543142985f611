import { metrics, ValueType, type Attributes, type Counter, type Histogram, type Meter, type UpDownCounter } from '@opentelemetry/api';
import type { CircuitState } from './circuit-breaker';

/** The gauge's value per state: 0 closed, 1 open, 2 half-open (alert on > 0). */
export const BREAKER_STATE_VALUES: Readonly<Record<CircuitState, number>> = { closed: 0, open: 1, 'half-open': 2 };

/** The `downstream` value of `imesh.gateway.shed` for requests refused by the gateway's own in-flight limit. */
export const GATEWAY_SHED_SOURCE = 'gateway';

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

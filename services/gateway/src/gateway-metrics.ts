import { metrics, ValueType, type Attributes, type Counter, type Meter, type UpDownCounter } from '@opentelemetry/api';
import type { CircuitState } from './circuit-breaker';

/** The gauge's value per state: 0 closed, 1 open, 2 half-open (alert on > 0). */
export const BREAKER_STATE_VALUES: Readonly<Record<CircuitState, number>> = { closed: 0, open: 1, 'half-open': 2 };

/** The `downstream` value of `imesh.gateway.shed` for requests refused by the gateway's own in-flight limit. */
export const GATEWAY_SHED_SOURCE = 'gateway';

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
    let attributes = this.attributes.get(downstream);
    if (!attributes) {
      attributes = Object.freeze({ downstream });
      this.attributes.set(downstream, attributes);
    }
    return attributes;
  }
}

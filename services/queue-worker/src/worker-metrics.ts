import { metrics, ValueType, type Attributes, type Counter, type Histogram, type Meter } from '@opentelemetry/api';

/** What became of an acked delivery: its result published, sent to a delay queue, or dead-lettered. */
export type AckOutcome = 'result' | 'retried' | 'dead_lettered';

/** Queued time counts: a burst waits seconds to minutes for workers scaled from zero. */
const END_TO_END_BUCKETS_S = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/**
 * The worker's metrics, through @opentelemetry/api only (the service's telemetry decides where they go). Attribute
 * objects are made once per value, so recording allocates nothing. `in flight` and `broker connected` are read from
 * the worker when scraped.
 */
export class QueueWorkerMetrics {
  private readonly consumed: Counter;
  private readonly acked: Counter;
  private readonly retried: Counter;
  private readonly deadLettered: Counter;
  private readonly requeued: Counter;
  private readonly reconnects: Counter;
  private readonly endToEnd: Histogram;
  private readonly ackedAttributes = new Map<AckOutcome, Attributes>();
  private readonly statusAttributes = new Map<string, Attributes>();
  private readonly firstDelivery: Attributes = { redelivered: 'false' };
  private readonly redelivery: Attributes = { redelivered: 'true' };

  constructor(
    sample: { readonly inFlight: () => number; readonly connected: () => boolean },
    meter: Meter = metrics.getMeter('@inference-mesh/queue-worker'),
  ) {
    this.consumed = meter.createCounter('imesh.queue_worker.consumed', {
      description: 'Deliveries taken from the request queue, by redelivered (true: the broker had handed it out before, to a worker that died or lost its connection)',
      unit: '{message}',
      valueType: ValueType.INT,
    });
    this.acked = meter.createCounter('imesh.queue_worker.acked', {
      description: 'Deliveries acked once what they led to was confirmed by the broker, by outcome: result, retried (to a delay queue), dead_lettered',
      unit: '{message}',
      valueType: ValueType.INT,
    });
    this.retried = meter.createCounter('imesh.queue_worker.retried', {
      description: 'Messages sent to a delay queue after a transient failure, by the gRPC status of the failure (grpc_status)',
      unit: '{message}',
      valueType: ValueType.INT,
    });
    this.deadLettered = meter.createCounter('imesh.queue_worker.dead_lettered', {
      description: 'Messages sent to the dead-letter queue, by grpc_status (none: refused before the gateway was asked)',
      unit: '{message}',
      valueType: ValueType.INT,
    });
    this.requeued = meter.createCounter('imesh.queue_worker.requeued', {
      description: 'Deliveries given back to the broker because their result was not confirmed',
      unit: '{message}',
      valueType: ValueType.INT,
    });
    this.reconnects = meter.createCounter('imesh.queue_worker.reconnects', {
      description: 'Connections to the broker made again after losing one',
      unit: '{connection}',
      valueType: ValueType.INT,
    });
    this.endToEnd = meter.createHistogram('imesh.queue_worker.end_to_end.duration', {
      description: "From a request's publish (its x-imesh-published-at header, else its AMQP timestamp) to the broker's confirm of its result: queueing, retries and classification",
      unit: 's',
      advice: { explicitBucketBoundaries: END_TO_END_BUCKETS_S },
    });
    meter
      .createObservableGauge('imesh.queue_worker.inflight', {
        description: 'Deliveries being classified or published, not yet acked (at most the prefetch)',
        unit: '{message}',
        valueType: ValueType.INT,
      })
      .addCallback((result) => result.observe(sample.inFlight()));
    meter
      .createObservableGauge('imesh.queue_worker.broker.connected', {
        description: '1 while connected to the broker and consuming, else 0',
        unit: '1',
        valueType: ValueType.INT,
      })
      .addCallback((result) => result.observe(sample.connected() ? 1 : 0));
  }

  recordConsumed(redelivered: boolean): void {
    this.consumed.add(1, redelivered ? this.redelivery : this.firstDelivery);
  }

  recordAcked(outcome: AckOutcome, grpcStatus: string | undefined, endToEndSeconds: number | undefined): void {
    this.acked.add(1, this.cached(this.ackedAttributes, outcome, () => ({ outcome })));
    if (outcome === 'retried') this.retried.add(1, this.statusAttribute(grpcStatus));
    else if (outcome === 'dead_lettered') this.deadLettered.add(1, this.statusAttribute(grpcStatus));
    else if (endToEndSeconds !== undefined) this.endToEnd.record(endToEndSeconds);
  }

  recordRequeued(): void {
    this.requeued.add(1);
  }

  recordReconnect(): void {
    this.reconnects.add(1);
  }

  private statusAttribute(grpcStatus: string | undefined): Attributes {
    const value = grpcStatus ?? 'none';
    return this.cached(this.statusAttributes, value, () => ({ grpc_status: value }));
  }

  private cached<Key>(map: Map<Key, Attributes>, key: Key, make: () => Attributes): Attributes {
    let attributes = map.get(key);
    if (!attributes) map.set(key, (attributes = make()));
    return attributes;
  }
}

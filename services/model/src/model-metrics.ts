import { metrics, ValueType, type Attributes, type Meter } from '@opentelemetry/api';
import type { BatcherRejectReason } from './batching/dynamic-batcher';

/** The label pair every model metric carries; Prometheus shows them as model_name and model_version. */
export interface VersionAttributes extends Attributes {
  readonly 'model.name': string;
  readonly 'model.version': string;
}

export function versionAttributes(name: string, version: string): VersionAttributes {
  return { 'model.name': name, 'model.version': version };
}

/**
 * How much waits in a version's batchers. Rows are the autoscaling signal: a gateway merges many callers' texts into
 * one request, so the request count stays near its few calls in flight however deep the backlog.
 */
export interface QueueLevel {
  readonly requests: number;
  readonly rows: number;
}

/** What a batch did, as the batcher measures it. */
export interface BatchObservation {
  readonly rows: number;
  readonly paddedCells: number;
  readonly totalCells: number;
  readonly queueTimesMs: readonly number[];
  /** ONNX Runtime's own run time, as the runner measured it where the run happened. */
  readonly computeMs: number;
  /** The rest of the time from handing the batch to the runner to its outputs: waiting behind the batch in flight. */
  readonly computeWaitMs: number;
}

const SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const ROWS_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];
const RATIO_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/**
 * The model service's metrics, through @opentelemetry/api only: without an SDK installed they cost nothing;
 * the service's telemetry setup decides where they go. The queue size gauge is the autoscaling signal.
 */
export class ModelMetrics {
  private readonly queues = new Map<string, { attributes: VersionAttributes; depth: () => QueueLevel }>();
  private readonly memory = new Map<string, { attributes: VersionAttributes; bytes: number }>();
  private readonly queueDuration;
  private readonly computeDuration;
  private readonly computeWaitDuration;
  private readonly batchSize;
  private readonly padding;
  private readonly requests;
  private readonly requestDuration;
  private readonly inferences;
  private readonly executions;
  private readonly refusals;

  constructor(meter: Meter = metrics.getMeter('@inference-mesh/model-service')) {
    meter
      .createObservableGauge('imesh.model.queue.size', {
        description: 'Requests waiting in the dynamic batcher, per model version',
        unit: '{request}',
        valueType: ValueType.INT,
      })
      .addCallback((result) => {
        for (const { attributes, depth } of this.queues.values()) result.observe(depth().requests, attributes);
      });
    meter
      .createObservableGauge('imesh.model.queue.rows', {
        description: 'Rows (texts) waiting in the dynamic batcher, per model version: the autoscaling signal',
        unit: '{row}',
        valueType: ValueType.INT,
      })
      .addCallback((result) => {
        for (const { attributes, depth } of this.queues.values()) result.observe(depth().rows, attributes);
      });
    meter
      .createObservableGauge('imesh.model.memory.usage', {
        description: 'Resident memory the model version added when it loaded',
        unit: 'By',
        valueType: ValueType.INT,
      })
      .addCallback((result) => {
        for (const { attributes, bytes } of this.memory.values()) result.observe(bytes, attributes);
      });
    this.queueDuration = meter.createHistogram('imesh.model.queue.duration', {
      description: 'Time a request waited in the batcher before its batch ran',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.computeDuration = meter.createHistogram('imesh.model.compute.duration', {
      description: 'Time one batch took in ONNX Runtime, as the inference thread measured it',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.computeWaitDuration = meter.createHistogram('imesh.model.compute.wait.duration', {
      description: 'Time a batch handed to ONNX Runtime waited before it ran: behind the batch in flight, and the trip to the inference thread',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.batchSize = meter.createHistogram('imesh.model.batch.size', {
      description: 'Rows per executed batch',
      unit: '{row}',
      valueType: ValueType.INT,
      advice: { explicitBucketBoundaries: ROWS_BUCKETS },
    });
    this.padding = meter.createHistogram('imesh.model.batch.padding', {
      description: 'Fraction of a batch\'s sequence cells that are padding',
      unit: '1',
      advice: { explicitBucketBoundaries: RATIO_BUCKETS },
    });
    this.requests = meter.createCounter('imesh.model.requests', {
      description: 'ModelInfer requests by gRPC status code',
      unit: '{request}',
      valueType: ValueType.INT,
    });
    this.requestDuration = meter.createHistogram('imesh.model.request.duration', {
      description: 'ModelInfer as the model service served it, by gRPC status code: checks, the batcher queue, compute and encoding (what a canary analysis compares; compute alone misses a queue that backs up)',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.inferences = meter.createCounter('imesh.model.inferences', {
      description: 'Rows inferred (inferences / executions = mean batch size)',
      unit: '{row}',
      valueType: ValueType.INT,
    });
    this.executions = meter.createCounter('imesh.model.executions', {
      description: 'Batches executed',
      unit: '{batch}',
      valueType: ValueType.INT,
    });
    this.refusals = meter.createCounter('imesh.model.requests.refused', {
      description: 'Requests the dynamic batcher sent back without compute, by reason (queue_full, expired, queue_timeout, cancelled)',
      unit: '{request}',
      valueType: ValueType.INT,
    });
  }

  /** Starts reporting a version's queue (read when metrics are collected) and memory. */
  trackVersion(attributes: VersionAttributes, queueDepth: () => QueueLevel, memoryBytes: number | undefined): void {
    const key = `${attributes['model.name']}/${attributes['model.version']}`;
    this.queues.set(key, { attributes, depth: queueDepth });
    if (memoryBytes !== undefined) this.memory.set(key, { attributes, bytes: memoryBytes });
  }

  recordBatch(attributes: VersionAttributes, batch: BatchObservation): void {
    for (const ms of batch.queueTimesMs) this.queueDuration.record(ms / 1000, attributes);
    this.computeDuration.record(batch.computeMs / 1000, attributes);
    this.computeWaitDuration.record(batch.computeWaitMs / 1000, attributes);
    this.batchSize.record(batch.rows, attributes);
    if (batch.totalCells > 0) this.padding.record(batch.paddedCells / batch.totalCells, attributes);
    this.inferences.add(batch.rows, attributes);
    this.executions.add(1, attributes);
  }

  /** A request the batcher refused or dropped before it ran: its queue was full, its deadline or the queue timeout passed, or its caller left. */
  recordRefusal(attributes: VersionAttributes, reason: BatcherRejectReason): void {
    this.refusals.add(1, { ...attributes, reason });
  }

  /** `seconds`: from the handler's start to its answer or error. */
  recordRequest(attributes: VersionAttributes | { readonly 'model.name': string }, statusCode: string, seconds: number): void {
    const withStatus = { ...attributes, 'rpc.grpc.status_code': statusCode };
    this.requests.add(1, withStatus);
    this.requestDuration.record(seconds, withStatus);
  }
}

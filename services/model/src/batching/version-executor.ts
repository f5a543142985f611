import { invalidArgument } from '@inference-mesh/service-kit';
import type { Tensor } from 'onnxruntime-node';
import { mergeInputs, paddingPlan, batchKey, sequenceLengthOf, splitOutputs, type BatchMember, type PaddingPlan } from './batch-assembly';
import type { BatchingConfig } from './batching-config';
import { runInLengthGroups } from './length-groups';
import { DynamicBatcher, systemClock, type BatchStats, type Clock } from './dynamic-batcher';
import type { ModelMetrics, VersionAttributes } from '../model-metrics';
import type { ModelRunner } from '../model-runner';
import type { TensorSpec } from '../tensors/datatypes';

/** What the executor needs of a READY version. */
export interface ExecutableVersion {
  readonly runner: ModelRunner;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly batching: BatchingConfig;
  readonly padTokenId: number;
  readonly memoryBytes?: number;
}

export interface InferCall {
  readonly feeds: Readonly<Record<string, Tensor>>;
  readonly outputNames: readonly string[];
  readonly rows: number;
  readonly signal: AbortSignal;
  /** Absolute, in epoch milliseconds (Date.now()); Infinity for none. */
  readonly deadlineMs: number;
}

/** A request's outputs, and the batch it rode in (for the response's parameters and traces). */
export interface InferResult {
  readonly outputs: Record<string, Tensor>;
  /** Batches executed by this version before this one, counting from 1. */
  readonly batchId: number;
  /** Rows and requests in that batch. */
  readonly batchRows: number;
  readonly batchRequests: number;
  /** This request's wait in the batcher's queue, and its batch's ONNX Runtime compute, in milliseconds. */
  readonly queueMs: number;
  readonly computeMs: number;
}

/** A batch, once handed to the inference thread, runs to the end: its members' own cancellations do not stop it. */
const NEVER_ABORTED = new AbortController().signal;

/**
 * Runs one model version's requests: through a dynamic batcher (one per compatible request shape: same outputs
 * and non-sequence dimensions) that merges concurrent requests into one padded tensor batch and splits the
 * outputs back, or one by one when batching is off. Batches never mix versions: each version has its own.
 */
export class VersionExecutor {
  private readonly plan: PaddingPlan;
  private readonly sequenceOutputs: ReadonlySet<string>;
  private readonly batchers = new Map<string, DynamicBatcher<BatchMember, InferResult>>();
  private batchesRun = 0;

  constructor(
    private readonly version: ExecutableVersion,
    private readonly attributes: VersionAttributes,
    private readonly metrics: ModelMetrics,
    private readonly clock: Clock = systemClock,
  ) {
    this.plan = paddingPlan(version.inputs, version.padTokenId);
    this.sequenceOutputs = new Set(
      version.outputs.filter((o) => o.shape.length >= 2 && o.shape[0] === -1 && o.shape[1] === -1).map((o) => o.name),
    );
    metrics.trackVersion(attributes, () => ({ requests: this.queueDepth, rows: this.queuedRows }), version.memoryBytes);
  }

  get maxBatchSize(): number {
    return this.version.batching.maxBatchSize;
  }

  /** Requests waiting across this version's batchers. */
  get queueDepth(): number {
    let depth = 0;
    for (const batcher of this.batchers.values()) depth += batcher.queueDepth;
    return depth;
  }

  /** Rows waiting across this version's batchers: the autoscaling signal. */
  get queuedRows(): number {
    let rows = 0;
    for (const batcher of this.batchers.values()) rows += batcher.queuedRows;
    return rows;
  }

  async infer(call: InferCall): Promise<InferResult> {
    const sequenceLength = sequenceLengthOf(call.feeds, this.plan);
    if (typeof sequenceLength === 'string') throw invalidArgument(sequenceLength);
    const member: BatchMember = { feeds: call.feeds, rows: call.rows, sequenceLength };
    if (!this.version.batching.enabled) {
      call.signal.throwIfAborted();
      const [result] = await this.runBatch([member], call.outputNames, {
        rows: member.rows,
        requests: 1,
        maxSequenceLength: sequenceLength,
        paddedCells: 0,
        totalCells: member.rows * sequenceLength,
        queueTimesMs: [0],
      });
      return result!;
    }
    return this.batcherFor(member, call.outputNames).enqueue(member, {
      rows: call.rows,
      sequenceLength,
      signal: call.signal,
      // The batcher's clock is monotonic; the call's deadline is wall-clock time.
      deadlineMs: Number.isFinite(call.deadlineMs) ? this.clock.now() + (call.deadlineMs - Date.now()) : Infinity,
    });
  }

  /** Lets queued and running batches finish, refusing new requests. */
  async close(): Promise<void> {
    await Promise.all([...this.batchers.values()].map((batcher) => batcher.close()));
  }

  private batcherFor(member: BatchMember, outputNames: readonly string[]): DynamicBatcher<BatchMember, InferResult> {
    const key = batchKey(member, outputNames, this.plan);
    let batcher = this.batchers.get(key);
    if (!batcher) {
      const { batching } = this.version;
      const names = [...outputNames];
      batcher = new DynamicBatcher<BatchMember, InferResult>(
        {
          maxBatchRows: batching.maxBatchSize,
          maxQueueDelayUs: batching.maxQueueDelayUs,
          preferredBatchRows: batching.preferredBatchSizes,
          maxQueueSize: batching.maxQueueSize,
          defaultQueueTimeoutUs: batching.defaultQueueTimeoutUs,
          maxConcurrentBatches: batching.maxConcurrentBatches,
          maxPaddingRatio: batching.maxPaddingRatio,
          cutWhenIdle: batching.cutWhenIdle,
        },
        (members, stats) => this.runBatch(members, names, stats),
        this.clock,
        { onRejected: (reason) => this.metrics.recordRefusal(this.attributes, reason) },
      );
      this.batchers.set(key, batcher);
    }
    return batcher;
  }

  private async runBatch(members: readonly BatchMember[], outputNames: readonly string[], stats: BatchStats): Promise<InferResult[]> {
    // Fresh buffers, safe to transfer to the inference thread: the requests' own stay with their gRPC messages.
    const merged = mergeInputs(members, this.plan);
    const batchId = ++this.batchesRun;
    const started = this.clock.now();
    const run = (feeds: Readonly<Record<string, Tensor>>) => this.version.runner.run(feeds, outputNames, NEVER_ABORTED);
    const { outputs, computeMs } = this.version.batching.groupByLength
      ? await runInLengthGroups(merged.feeds, this.plan, outputNames.some((name) => this.sequenceOutputs.has(name)), run)
      : await run(merged.feeds);
    this.metrics.recordBatch(this.attributes, {
      rows: stats.rows,
      paddedCells: stats.paddedCells,
      totalCells: stats.totalCells,
      queueTimesMs: stats.queueTimesMs,
      computeMs,
      // The rest of the batch's time on this thread's clock: behind the batch already in flight, and the trip to
      // the inference thread and back.
      computeWaitMs: Math.max(0, this.clock.now() - started - computeMs),
    });
    return splitOutputs(outputs, members, merged.sequenceLength, this.sequenceOutputs).map((split, member) => ({
      outputs: split,
      batchId,
      batchRows: stats.rows,
      batchRequests: stats.requests,
      queueMs: stats.queueTimesMs[member] ?? 0,
      computeMs,
    }));
  }
}

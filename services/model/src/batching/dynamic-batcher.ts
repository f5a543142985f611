import { performance } from 'node:perf_hooks';
import { status } from '@grpc/grpc-js';
import { ServiceError, invalidArgument, resourceExhausted, unavailable } from '@inference-mesh/service-kit';

/**
 * The pure core of the model service's dynamic batcher: it groups opaque items into batches and hands each batch
 * to an injected `runBatch`. It knows nothing of gRPC messages, tensors or ONNX; the clock is injected so tests
 * drive time by hand.
 *
 * Semantics follow Triton's dynamic batcher (`max_batch_size`, `preferred_batch_size`,
 * `max_queue_delay_microseconds`, `max_queue_size`, `default_timeout_microseconds` with timeout_action REJECT)
 * and Ray Serve's handling of callers that leave: a caller that leaves while queued costs no compute, one that
 * leaves while its batch runs is answered at once without disturbing its batch-mates.
 */

/** Time and timers, injected so tests can drive them by hand. */
export interface Clock {
  /** Milliseconds on a monotonic timeline (fractions allowed). */
  now(): number;
  setTimer(callback: () => void, delayMs: number): { cancel(): void };
}

/** `performance.now()` and `setTimeout`; the timers are unref'd so a pending batch never keeps a process alive. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(callback, delayMs) {
    const timer = setTimeout(callback, Math.max(0, delayMs));
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

export interface BatcherOptions {
  /** Triton `max_batch_size`, counted in rows. */
  readonly maxBatchRows: number;
  /** Triton `max_queue_delay_microseconds`; 0 cuts at once with whatever is queued (Triton's default). */
  readonly maxQueueDelayUs: number;
  /** Triton `preferred_batch_size`, in rows; may be empty. Each must be from 1 to maxBatchRows. */
  readonly preferredBatchRows: readonly number[];
  /** Requests waiting (not running) before new ones are refused; 0 = unbounded. */
  readonly maxQueueSize: number;
  /** A request that waits longer than this is refused with RESOURCE_EXHAUSTED; 0 = no limit. */
  readonly defaultQueueTimeoutUs: number;
  /** Batches handed to runBatch and not yet settled (2 lets the next batch wait ready while one runs). */
  readonly maxConcurrentBatches: number;
  /**
   * A request does not join a batch if that would make more than this fraction of the batch's cells padding; the
   * batch then counts as full. 1 (the default) never holds one back. Beyond Triton: padding to the longest row
   * can cost more compute than batching saves on short, varied texts.
   */
  readonly maxPaddingRatio?: number;
  /**
   * Cut at once, whatever the delay, when no batch is running: waiting would leave the model idle, and company
   * gathers while a batch computes anyway. A lone request then pays no delay and batches still grow with load.
   * Beyond Triton, which waits the delay even when idle (its default delay of 0 gives up batching instead).
   * Default false.
   */
  readonly cutWhenIdle?: boolean;
}

export interface EnqueueOptions {
  /** Rows this request adds to a batch; a request is never split across batches. */
  readonly rows: number;
  /** Used to group similar lengths into one batch, which means less padding. */
  readonly sequenceLength: number;
  /** The caller left (reason.name 'TimeoutError' means its deadline passed). */
  readonly signal: AbortSignal;
  /** Absolute, on the Clock's timeline; undefined or Infinity = none. */
  readonly deadlineMs?: number;
}

export interface BatchStats {
  rows: number;
  requests: number;
  maxSequenceLength: number;
  /** Sum over items of rows × (maxSequenceLength − sequenceLength): the cells that are padding. */
  paddedCells: number;
  /** rows × maxSequenceLength, so the padding fraction is paddedCells / totalCells. */
  totalCells: number;
  /** How long each item waited in the queue, aligned with the items. */
  queueTimesMs: number[];
}

/** Why a request left without compute. */
export type BatcherRejectReason = 'queue_full' | 'expired' | 'cancelled' | 'queue_timeout';

/**
 * Metrics hooks, all optional. They are called synchronously; whatever they throw is swallowed, because a metrics
 * bug must not break serving.
 */
export interface BatcherObserver {
  /** Requests waiting, called whenever that number changes. */
  onQueueDepth?(depth: number): void;
  /** A batch ran and returned one result per item. */
  onBatch?(stats: BatchStats, computeMs: number): void;
  /** A batch failed (runBatch rejected, or returned the wrong number of results). */
  onBatchFailed?(stats: BatchStats, computeMs: number, error: unknown): void;
  /**
   * A request left without compute: refused at enqueue (queue full, caller already gone or past its deadline) or
   * dropped from the queue (cancelled, expired, queue timeout). Not counted: refusals for being closed or for
   * invalid rows, and a caller that leaves while its batch runs (its compute was spent and shows in onBatch).
   */
  onRejected?(reason: BatcherRejectReason): void;
}

export type RunBatch<Item, Result> = (items: readonly Item[], stats: BatchStats) => Promise<readonly Result[]>;

/** Tolerance for comparing a timer's due time with the clock: `now + (due − now)` may miss `due` by an ulp. */
const CLOCK_SLACK_MS = 1e-6;

type EntryState = 'queued' | 'running' | 'settled';

/**
 * The only per-request allocation (besides the caller's promise). It is also the abort listener
 * (`handleEvent`), so no closure is made per request.
 */
class QueueEntry<Item, Result> {
  state: EntryState = 'queued';
  constructor(
    readonly item: Item,
    readonly rows: number,
    readonly sequenceLength: number,
    readonly signal: AbortSignal,
    readonly enqueuedMs: number,
    readonly deadlineMs: number,
    /** min(deadline, queue timeout): when the queue must drop this entry. */
    readonly expiresAtMs: number,
    readonly resolve: (result: Result) => void,
    readonly reject: (error: unknown) => void,
    private readonly onAbort: (entry: QueueEntry<Item, Result>) => void,
  ) {}

  handleEvent(): void {
    this.onAbort(this);
  }
}

function isTimeoutReason(reason: unknown): boolean {
  return typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
}

function abortError(signal: AbortSignal, where: string): ServiceError {
  return isTimeoutReason(signal.reason)
    ? new ServiceError(status.DEADLINE_EXCEEDED, `the deadline passed ${where}`)
    : new ServiceError(status.CANCELLED, `the request was cancelled ${where}`);
}

function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${value}`);
  }
}

function checkDuration(name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${value}`);
}

export class DynamicBatcher<Item, Result> {
  private readonly maxBatchRows: number;
  private readonly cutWhenIdle: boolean;
  private readonly maxQueueDelayMs: number;
  private readonly preferredRows: ReadonlySet<number>;
  private readonly maxQueueSize: number;
  /** Infinity when there is no default queue timeout. */
  private readonly queueTimeoutMs: number;
  private readonly maxConcurrentBatches: number;
  private readonly maxPaddingRatio: number;

  /** Waiting requests, oldest first. Short in practice, so a plain array. */
  private queue: QueueEntry<Item, Result>[] = [];
  private rowsQueued = 0;
  private runningBatches = 0;
  private timer: { cancel(): void } | undefined;
  private timerAtMs = Infinity;
  private pumping = false;
  private pumpAgain = false;
  private reportedDepth = 0;
  private closed = false;
  private drained: Promise<void> | undefined;
  private resolveDrained: (() => void) | undefined;
  private readonly handleAbort = (entry: QueueEntry<Item, Result>): void => this.abortEntry(entry);
  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAtMs = Infinity;
    this.pump();
  };

  constructor(
    options: BatcherOptions,
    private readonly runBatch: RunBatch<Item, Result>,
    private readonly clock: Clock = systemClock,
    private readonly observer: BatcherObserver = {},
  ) {
    checkInteger('maxBatchRows', options.maxBatchRows, 1);
    checkDuration('maxQueueDelayUs', options.maxQueueDelayUs);
    checkInteger('maxQueueSize', options.maxQueueSize, 0);
    checkDuration('defaultQueueTimeoutUs', options.defaultQueueTimeoutUs);
    checkInteger('maxConcurrentBatches', options.maxConcurrentBatches, 1);
    for (const rows of options.preferredBatchRows) {
      // Triton refuses to load a model whose preferred size exceeds max_batch_size; so do we.
      checkInteger('preferredBatchRows[]', rows, 1);
      if (rows > options.maxBatchRows) {
        throw new RangeError(`preferredBatchRows has ${rows}, above maxBatchRows ${options.maxBatchRows}`);
      }
    }
    this.maxBatchRows = options.maxBatchRows;
    this.cutWhenIdle = options.cutWhenIdle ?? false;
    this.maxPaddingRatio = options.maxPaddingRatio ?? 1;
    if (!(this.maxPaddingRatio > 0 && this.maxPaddingRatio <= 1)) throw new RangeError(`maxPaddingRatio must be in (0, 1], got ${options.maxPaddingRatio}`);
    this.maxQueueDelayMs = options.maxQueueDelayUs / 1000;
    this.preferredRows = new Set(options.preferredBatchRows);
    this.maxQueueSize = options.maxQueueSize;
    this.queueTimeoutMs = options.defaultQueueTimeoutUs > 0 ? options.defaultQueueTimeoutUs / 1000 : Infinity;
    this.maxConcurrentBatches = options.maxConcurrentBatches;
  }

  /** Requests waiting (not yet handed to runBatch). */
  get queueDepth(): number {
    return this.queue.length;
  }

  get queuedRows(): number {
    return this.rowsQueued;
  }

  /**
   * Resolves with this item's result once its batch has run. Refusals that need no waiting (closed, caller
   * already gone, bad rows, full queue) come back as an already-rejected promise and queue nothing.
   */
  enqueue(item: Item, options: EnqueueOptions): Promise<Result> {
    const { rows, sequenceLength, signal } = options;
    const deadlineMs = options.deadlineMs ?? Infinity;
    if (this.closed) return Promise.reject(unavailable('the model service is shutting down'));
    if (signal.aborted) {
      const reason = isTimeoutReason(signal.reason) ? 'expired' : 'cancelled';
      return Promise.reject(this.refused(abortError(signal, 'before the request reached the model queue'), reason));
    }
    if (!Number.isSafeInteger(rows) || rows < 1) {
      return Promise.reject(invalidArgument(`rows must be a positive integer, got ${rows}`));
    }
    if (rows > this.maxBatchRows) {
      return Promise.reject(
        invalidArgument(
          `the request has ${rows} rows but the model takes at most ${this.maxBatchRows} per batch; split it`,
        ),
      );
    }
    if (!Number.isFinite(sequenceLength) || sequenceLength < 0) {
      return Promise.reject(invalidArgument(`sequenceLength must be a finite number >= 0, got ${sequenceLength}`));
    }
    if (Number.isNaN(deadlineMs)) return Promise.reject(invalidArgument('deadlineMs is NaN'));
    const now = this.clock.now();
    if (now + CLOCK_SLACK_MS >= deadlineMs) {
      const error = new ServiceError(status.DEADLINE_EXCEEDED, 'the deadline passed before the request reached the model queue');
      return Promise.reject(this.refused(error, 'expired'));
    }
    if (this.maxQueueSize > 0 && this.queue.length >= this.maxQueueSize) {
      // RESOURCE_EXHAUSTED, not Triton's UNAVAILABLE: behind Envoy UNAVAILABLE is a 503 that gets a healthy but
      // busy host ejected, while RESOURCE_EXHAUSTED is a 429 the caller backs off from.
      const error = resourceExhausted(`model queue is full (${this.queue.length} requests waiting); retry with backoff`);
      return Promise.reject(this.refused(error, 'queue_full'));
    }

    const expiresAtMs = Math.min(deadlineMs, now + this.queueTimeoutMs);
    let entry!: QueueEntry<Item, Result>;
    const promise = new Promise<Result>((resolve, reject) => {
      entry = new QueueEntry(
        item, rows, sequenceLength, signal, now, deadlineMs, expiresAtMs, resolve, reject, this.handleAbort,
      );
    });
    signal.addEventListener('abort', entry, { once: true });
    this.queue.push(entry);
    this.rowsQueued += rows;
    this.pump();
    return promise;
  }

  /**
   * Refuses new items with UNAVAILABLE and resolves once every queued and running batch has settled. Queued
   * requests no longer wait for the queue delay (nothing can join them now); they are cut as soon as a batch slot
   * is free. Idempotent.
   */
  close(): Promise<void> {
    if (this.drained === undefined) {
      this.closed = true;
      this.drained = new Promise<void>((resolve) => (this.resolveDrained = resolve));
      this.pump();
    }
    return this.drained;
  }

  /**
   * Forms and dispatches every batch whose cut rule fires, then sets one timer for the next moment something can
   * change on its own (the oldest request's delay elapsing, or a request expiring). Called on every change:
   * enqueue, abort, timer, batch settling. Re-entrant calls (from runBatch or an observer) are folded into the
   * running one.
   */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        this.dropExpired(this.clock.now());
        while (this.runningBatches < this.maxConcurrentBatches && this.queue.length > 0) {
          const now = this.clock.now();
          const batch = this.formBatch(now);
          if (batch === undefined) break;
          this.dispatch(batch, now);
        }
      } while (this.pumpAgain);
      this.armTimer();
      this.reportDepth();
      this.checkDrained();
    } finally {
      this.pumping = false;
    }
  }

  /**
   * The next batch if a cut rule fires now, else undefined. The oldest request always leads (nothing starves);
   * the others join by closeness of sequence length to it (ties: older first), skipping any that would overflow
   * maxBatchRows. Cut whole when full, when the oldest has waited the delay, or when nothing more can join
   * (closing; a full queue, which Triton would keep waiting on). Otherwise cut at the largest preferred size met
   * along that fill order, as Triton sends the largest preferred size it can form. O(n log n) for n queued.
   */
  private formBatch(now: number): QueueEntry<Item, Result>[] | undefined {
    const queue = this.queue;
    const oldest = queue[0]!;
    const chosen = [oldest];
    let rows = oldest.rows;
    let preferredCount = this.preferredRows.has(rows) ? 1 : 0;
    let heldBackByPadding = false;
    if (rows < this.maxBatchRows && queue.length > 1) {
      let longest = oldest.sequenceLength;
      let cells = oldest.rows * oldest.sequenceLength;
      const leadLength = oldest.sequenceLength;
      const order: number[] = [];
      for (let index = 1; index < queue.length; index++) order.push(index);
      order.sort(
        (a, b) =>
          Math.abs(queue[a]!.sequenceLength - leadLength) - Math.abs(queue[b]!.sequenceLength - leadLength) || a - b,
      );
      for (const index of order) {
        const entry = queue[index]!;
        if (rows + entry.rows > this.maxBatchRows) continue;
        const nextLongest = Math.max(longest, entry.sequenceLength);
        const nextCells = cells + entry.rows * entry.sequenceLength;
        // Candidates come in order of distance from the leader's length, so the padding only grows from here.
        if (1 - nextCells / ((rows + entry.rows) * nextLongest) > this.maxPaddingRatio) {
          heldBackByPadding = true;
          break;
        }
        longest = nextLongest;
        cells = nextCells;
        chosen.push(entry);
        rows += entry.rows;
        if (this.preferredRows.has(rows)) preferredCount = chosen.length;
        if (rows === this.maxBatchRows) break;
      }
    }
    const cutWhole =
      rows === this.maxBatchRows ||
      heldBackByPadding ||
      (this.cutWhenIdle && this.runningBatches === 0) ||
      now + CLOCK_SLACK_MS >= oldest.enqueuedMs + this.maxQueueDelayMs ||
      // No later arrival can join: closing refuses them, and so does a full queue. Waiting would only add latency.
      this.closed ||
      (this.maxQueueSize > 0 && queue.length >= this.maxQueueSize);
    if (cutWhole) return chosen;
    // Triton: when preferred sizes can be formed, send the largest one available at once.
    if (preferredCount > 0) {
      chosen.length = preferredCount;
      return chosen;
    }
    return undefined;
  }

  private dispatch(entries: QueueEntry<Item, Result>[], now: number): void {
    const items: Item[] = [];
    const queueTimesMs: number[] = [];
    let rows = 0;
    let maxSequenceLength = 0;
    for (const entry of entries) {
      entry.state = 'running';
      items.push(entry.item);
      queueTimesMs.push(now - entry.enqueuedMs);
      rows += entry.rows;
      maxSequenceLength = Math.max(maxSequenceLength, entry.sequenceLength);
    }
    let paddedCells = 0;
    for (const entry of entries) paddedCells += entry.rows * (maxSequenceLength - entry.sequenceLength);
    const stats: BatchStats = {
      rows,
      requests: entries.length,
      maxSequenceLength,
      paddedCells,
      totalCells: rows * maxSequenceLength,
      queueTimesMs,
    };
    this.removeFromQueue();
    this.runningBatches++;

    let run: Promise<readonly Result[]>;
    try {
      run = Promise.resolve(this.runBatch(items, stats));
    } catch (error) {
      run = Promise.reject(error);
    }
    run.then(
      (results) => this.finish(entries, stats, now, results, undefined),
      (error: unknown) => this.finish(entries, stats, now, undefined, error),
    );
  }

  private finish(
    entries: readonly QueueEntry<Item, Result>[],
    stats: BatchStats,
    startedMs: number,
    results: readonly Result[] | undefined,
    error: unknown,
  ): void {
    this.runningBatches--;
    const computeMs = this.clock.now() - startedMs;
    if (results !== undefined && (!Array.isArray(results) || results.length !== entries.length)) {
      const count = Array.isArray(results) ? results.length : typeof results;
      const message = `the model runner returned ${count} results for a batch of ${entries.length}`;
      error = new ServiceError(status.INTERNAL, message);
      results = undefined;
    }
    if (results === undefined) {
      this.notify(() => this.observer.onBatchFailed?.(stats, computeMs, error));
      for (const entry of entries) if (entry.state === 'running') this.settle(entry, false, error);
    } else {
      this.notify(() => this.observer.onBatch?.(stats, computeMs));
      entries.forEach((entry, index) => {
        if (entry.state === 'running') this.settle(entry, true, results[index]);
      });
    }
    this.pump();
  }

  /**
   * A caller left. Queued: it leaves the queue at once and costs nothing. Running: its promise is rejected at
   * once (like Ray Serve, whose awaiting caller is cancelled while the batch goes on); the batch is neither
   * disturbed nor re-run, and its result for this caller is dropped.
   */
  private abortEntry(entry: QueueEntry<Item, Result>): void {
    if (entry.state === 'queued') {
      entry.state = 'settled';
      this.removeFromQueue();
      this.settle(entry, false, abortError(entry.signal, 'while the request waited in the model queue'));
      this.notify(() => this.observer.onRejected?.(isTimeoutReason(entry.signal.reason) ? 'expired' : 'cancelled'));
      this.pump();
    } else if (entry.state === 'running') {
      this.settle(entry, false, abortError(entry.signal, 'while its batch ran'));
    }
  }

  private dropExpired(now: number): void {
    let expired: QueueEntry<Item, Result>[] | undefined;
    for (const entry of this.queue) {
      if (now + CLOCK_SLACK_MS < entry.expiresAtMs) continue;
      entry.state = 'settled';
      (expired ??= []).push(entry);
    }
    if (expired === undefined) return;
    // Compact first, so that observers and callers only ever see a consistent queue.
    this.removeFromQueue();
    for (const entry of expired) {
      if (entry.deadlineMs <= entry.expiresAtMs) {
        const message = 'the deadline passed while the request waited in the model queue';
        this.settle(entry, false, new ServiceError(status.DEADLINE_EXCEEDED, message));
        this.notify(() => this.observer.onRejected?.('expired'));
      } else {
        // RESOURCE_EXHAUSTED rather than DEADLINE_EXCEEDED: the caller's own deadline has not passed; this server
        // could not get to the request in time because it is overloaded, which callers (and Envoy, as a 429)
        // treat as "back off and retry", not as a failure of this host.
        const waitedUs = Math.round((now - entry.enqueuedMs) * 1000);
        const message = `waited ${waitedUs} µs in the model queue (default queue timeout)`;
        this.settle(entry, false, resourceExhausted(message));
        this.notify(() => this.observer.onRejected?.('queue_timeout'));
      }
    }
  }

  /** Drops every entry that is no longer 'queued', in place, keeping the order. */
  private removeFromQueue(): void {
    const queue = this.queue;
    let kept = 0;
    let rows = 0;
    for (const entry of queue) {
      if (entry.state !== 'queued') continue;
      queue[kept++] = entry;
      rows += entry.rows;
    }
    queue.length = kept;
    this.rowsQueued = rows;
  }

  /** Settles once: callers skip entries already 'settled' (a caller that left while its batch ran). */
  private settle(entry: QueueEntry<Item, Result>, fulfilled: boolean, value: unknown): void {
    entry.state = 'settled';
    entry.signal.removeEventListener('abort', entry);
    if (fulfilled) entry.resolve(value as Result);
    else entry.reject(value);
  }

  private armTimer(): void {
    let wakeAtMs = Infinity;
    for (const entry of this.queue) wakeAtMs = Math.min(wakeAtMs, entry.expiresAtMs);
    const oldest = this.queue[0];
    // While every batch slot is busy, a settling batch re-runs the formation; only expiries need a timer then.
    if (oldest !== undefined && this.runningBatches < this.maxConcurrentBatches) {
      wakeAtMs = Math.min(wakeAtMs, oldest.enqueuedMs + this.maxQueueDelayMs);
    }
    if (wakeAtMs === this.timerAtMs) return;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAtMs = wakeAtMs;
    if (wakeAtMs !== Infinity) this.timer = this.clock.setTimer(this.onTimer, Math.max(0, wakeAtMs - this.clock.now()));
  }

  private reportDepth(): void {
    const depth = this.queue.length;
    if (depth === this.reportedDepth) return;
    this.reportedDepth = depth;
    this.notify(() => this.observer.onQueueDepth?.(depth));
  }

  private checkDrained(): void {
    if (!this.closed || this.queue.length > 0 || this.runningBatches > 0) return;
    this.resolveDrained?.();
    this.resolveDrained = undefined;
  }

  private refused(error: ServiceError, reason: BatcherRejectReason): ServiceError {
    this.notify(() => this.observer.onRejected?.(reason));
    return error;
  }

  private notify(hook: () => void): void {
    try {
      hook();
    } catch {
      // A metrics hook must never break serving.
    }
  }
}

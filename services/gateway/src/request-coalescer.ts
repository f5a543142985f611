import { status } from '@grpc/grpc-js';
import { abortedStatus, ServiceError } from '@inference-mesh/service-kit';
import type { RequestTimer } from './timing';

/** A caller's time limit and cancellation, as the pipeline takes them, and its timing breakdown if it keeps one. */
export interface MemberBudget {
  readonly deadlineMs: number;
  readonly signal: AbortSignal;
  readonly timing?: RequestTimer;
}

export interface CoalescerOptions {
  /** Most rows one merged call may carry (the downstreams' batch limit). */
  readonly maxRows: number;
  /** Merged calls running at once; while all are busy, arrivals gather into the next one. */
  readonly maxInFlight: number;
  /**
   * Longest a free slot waits for callers just answered to come back (microseconds; 0: never waits). See
   * RequestCoalescer: without it, a closed loop of callers alternates one-request calls with full ones.
   */
  readonly maxGatherUs?: number;
}

/** Runs one merged call: `rows` holds every member's rows in order; the answer has one result per row. */
export type RunMerged<Row, Result> = (rows: readonly Row[], budget: MemberBudget) => Promise<readonly Result[]>;

interface Member<Row, Result> {
  readonly rows: readonly Row[];
  readonly budget: MemberBudget;
  readonly resolve: (results: Result[]) => void;
  readonly reject: (error: unknown) => void;
  settled: boolean;
  release: () => void;
}

interface Group<Row, Result> {
  readonly key: string;
  readonly run: RunMerged<Row, Result>;
  readonly members: Member<Row, Result>[];
  rows: number;
}

/**
 * Merges concurrent requests that share a key (model, version, top-k) into one call per hop, and splits the
 * answer back. A request that finds the coalescer quiet goes at once (no added latency when idle); while every
 * slot is busy, arrivals gather, and the next free slot takes all of them. So batches grow as fast as load does.
 *
 * One rule keeps them grown: callers answered together come back together (a client that sends its next request
 * when the last one is answered), but not at the same instant. Taking the first of them alone would send a call of
 * one request and leave the others waiting for it to come back through every hop: under a closed loop, calls would
 * alternate between one request and all the others. So the coalescer counts the members it has answered and not
 * yet seen again (any arrival counts as one of them); while that count is above zero, a free slot waits for them,
 * at most `maxGatherUs` after the first arrival, or until the call is full. A lone caller is answered, comes back,
 * brings the count to zero and goes at once: it never waits.
 *
 * Each member keeps its own deadline and cancellation: it is answered DEADLINE_EXCEEDED / CANCELLED on its own,
 * its batch-mates are unaffected, and a merged call is cancelled only once no member still waits for it. A
 * request's own bad input must not fail its batch-mates: a merged call refused with INVALID_ARGUMENT is re-run
 * member by member, so only the request at fault gets the error.
 */
export class RequestCoalescer<Row, Result> {
  private readonly queue: Group<Row, Result>[] = [];
  private inFlight = 0;
  /** Members answered whose callers have not (as far as the coalescer can tell) come back yet. */
  private returning = 0;
  private gatherTimer: NodeJS.Timeout | undefined;
  private readonly maxGatherMs: number;

  constructor(private readonly options: CoalescerOptions) {
    if (!(options.maxRows >= 1) || !(options.maxInFlight >= 1)) throw new RangeError('maxRows and maxInFlight must be at least 1');
    this.maxGatherMs = (options.maxGatherUs ?? 0) / 1000;
  }

  submit(key: string, rows: readonly Row[], budget: MemberBudget, run: RunMerged<Row, Result>): Promise<Result[]> {
    return new Promise<Result[]>((resolve, reject) => {
      const refusal = budgetRefusal(budget);
      if (refusal) {
        reject(refusal);
        return;
      }
      const member: Member<Row, Result> = { rows, budget, resolve, reject, settled: false, release: () => undefined };
      this.watch(member);
      let group = this.queue.find((g) => g.key === key && g.rows + rows.length <= this.options.maxRows);
      if (!group) {
        group = { key, run, members: [], rows: 0 };
        this.queue.push(group);
      }
      group.members.push(member);
      group.rows += rows.length;
      if (this.returning > 0) this.returning--;
      this.pump();
    });
  }

  /** Requests waiting for a slot, for metrics and tests. */
  get waiting(): number {
    let count = 0;
    for (const group of this.queue) for (const member of group.members) if (!member.settled) count++;
    return count;
  }

  private pump(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      if (this.returning > 0 && this.maxGatherMs > 0 && this.queue[0]!.rows < this.options.maxRows) {
        this.gatherTimer ??= setTimeout(() => {
          this.gatherTimer = undefined;
          this.returning = 0;
          this.pump();
        }, this.maxGatherMs);
        return;
      }
      if (this.gatherTimer) {
        clearTimeout(this.gatherTimer);
        this.gatherTimer = undefined;
      }
      const group = this.queue.shift()!;
      const live = group.members.filter((member) => !member.settled);
      if (live.length > 0) this.dispatch(group.run, live);
    }
  }

  private dispatch(run: RunMerged<Row, Result>, members: Member<Row, Result>[]): void {
    this.inFlight++;
    const controller = new AbortController();
    let answered = false;
    let deadlineMs = 0;
    const rows: Row[] = [];
    // The merged call's hop times are collected once, in one member's timer, and shared by every member's.
    let batchTiming: RequestTimer | undefined;
    for (const member of members) {
      const timing = member.budget.timing;
      if (timing) {
        batchTiming ??= timing;
        timing.joined(batchTiming);
      }
      deadlineMs = Math.max(deadlineMs, member.budget.deadlineMs);
      for (const row of member.rows) rows.push(row);
      // A member leaving early may be the last one waiting: then nobody needs the merged call any more.
      const previous = member.release;
      member.release = () => {
        previous();
        if (!answered && members.every((m) => m.settled)) controller.abort();
      };
    }
    let call: Promise<readonly Result[]>;
    try {
      call = run(rows, { deadlineMs, signal: controller.signal, timing: batchTiming });
    } catch (error) {
      call = Promise.reject(error);
    }
    call
      .then(
        (results) => {
          answered = true;
          this.deliver(members, results);
        },
        (error: unknown) => {
          answered = true;
          this.fail(run, members, error);
        },
      )
      .finally(() => {
        this.inFlight--;
        this.returning += members.length;
        this.pump();
      });
  }

  private deliver(members: readonly Member<Row, Result>[], results: readonly Result[]): void {
    const expected = members.reduce((sum, member) => sum + member.rows.length, 0);
    if (results.length !== expected) {
      const error = new ServiceError(status.INTERNAL, `a merged call answered ${results.length} rows for ${expected}`);
      for (const member of members) settle(member, false, error);
      return;
    }
    let offset = 0;
    for (const member of members) {
      settle(member, true, results.slice(offset, offset + member.rows.length));
      offset += member.rows.length;
    }
  }

  private fail(run: RunMerged<Row, Result>, members: readonly Member<Row, Result>[], error: unknown): void {
    const live = members.filter((member) => !member.settled);
    if (live.length > 1 && isInvalidArgument(error)) {
      // One member's input; find out whose by asking for each on its own (outside the slots: this is rare).
      for (const member of live) {
        member.budget.timing?.detach();
        Promise.resolve()
          .then(() => run(member.rows, member.budget))
          .then(
            (results) => this.deliver([member], results),
            (own: unknown) => settle(member, false, own),
          );
      }
      return;
    }
    for (const member of live) settle(member, false, error);
  }

  /** Answers a member on its own when its deadline passes or its caller cancels, wherever it is. */
  private watch(member: Member<Row, Result>): void {
    const { signal, deadlineMs } = member.budget;
    const onAbort = () => settle(member, false, abortedError(signal));
    const timer = setTimeout(
      () => settle(member, false, new ServiceError(status.DEADLINE_EXCEEDED, 'the deadline passed before the answer arrived')),
      Math.max(0, deadlineMs - Date.now()),
    );
    signal.addEventListener('abort', onAbort, { once: true });
    member.release = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
  }
}

function settle<Row, Result>(member: Member<Row, Result>, fulfilled: boolean, value: unknown): void {
  if (member.settled) return;
  member.settled = true;
  member.release();
  if (fulfilled) member.resolve(value as Result[]);
  else member.reject(value);
}

function budgetRefusal(budget: MemberBudget): ServiceError | undefined {
  if (budget.signal.aborted) return abortedError(budget.signal);
  if (budget.deadlineMs <= Date.now()) return new ServiceError(status.DEADLINE_EXCEEDED, 'the deadline passed before the call started');
  return undefined;
}

function abortedError(signal: AbortSignal): ServiceError {
  return abortedStatus(signal) === status.DEADLINE_EXCEEDED
    ? new ServiceError(status.DEADLINE_EXCEEDED, 'the deadline passed before the answer arrived')
    : new ServiceError(status.CANCELLED, 'the call was cancelled');
}

function isInvalidArgument(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === status.INVALID_ARGUMENT;
}

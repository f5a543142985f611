import { AssertionError } from 'node:assert';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ownCpuSeconds, ownPeakRssBytes, processCpuSeconds, processPeakRssBytes } from './process-usage';
import { coresBusy, cpuMsPerThousandRows, LatencyRecorder, summarizeLatencies, throughput, type LatencySummary } from './stats';

/**
 * One request: resolves with the rows it carried once answered (and checked), rejects on an error.
 * `sequence` counts requests across all callers of the case, so callers walk one shared list of inputs.
 */
export type IssueRequest = (caller: number, sequence: number) => Promise<number>;

export interface ClosedLoopOptions {
  /** Callers, each issuing its next request as soon as the previous one is answered. */
  readonly concurrency: number;
  /** Requests run but not counted, so connections, caches and thread pools are warm when measuring starts. */
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly issue: IssueRequest;
  /** A process (the service under test) whose CPU time and peak RSS are measured too. */
  readonly servicePid?: number | undefined;
  /** Several processes (a mesh) whose CPU time is measured together, as serviceCpu; their RSS is the caller's. */
  readonly servicePids?: readonly number[];
  /** Distinct error messages kept as samples. Default 5. */
  readonly maxErrorSamples?: number;
  /** Aborting ends the run early: no caller issues another request; the run rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface CpuUsage {
  readonly seconds: number;
  /** seconds / window: cores kept busy on average. */
  readonly cores: number;
  /** CPU milliseconds per 1000 rows served. */
  readonly msPerThousandRows: number;
}

export interface CaseMeasurement {
  readonly concurrency: number;
  /** Actual measurement window, seconds (timers may fire a little late; this is what was measured). */
  readonly windowSeconds: number;
  /** Requests answered inside the window, and the rows they carried. */
  readonly requests: number;
  readonly rows: number;
  /** Failed requests inside the window (warm-up errors count in warmupErrors). */
  readonly errors: number;
  readonly warmupErrors: number;
  readonly errorSamples: readonly string[];
  readonly rowsPerSecond: number;
  readonly requestsPerSecond: number;
  readonly latency: LatencySummary;
  readonly benchCpu: CpuUsage;
  readonly benchPeakRssBytes: number;
  readonly serviceCpu?: CpuUsage | undefined;
  /** The service's peak RSS since it started (VmHWM), read at the end of the case. */
  readonly servicePeakRssBytes?: number | undefined;
}

interface Snapshot {
  readonly at: bigint;
  readonly benchCpu: number;
  readonly serviceCpu: number | undefined;
}

/**
 * A closed-loop load: `concurrency` callers each issue a request, await its answer, and issue the next, for the
 * warm-up and then the measured window. A request counts (rows, latency, or error) when it completes inside the
 * window; requests still in flight when the window closes are awaited but not counted. An AssertionError thrown
 * by `issue`, or the signal, ends the run at once: every caller stops, and then the run rejects with it.
 */
export async function runClosedLoop(options: ClosedLoopOptions): Promise<CaseMeasurement> {
  const { concurrency, warmupMs, durationMs, issue, servicePid } = options;
  const measuredPids = options.servicePids ?? (servicePid === undefined ? [] : [servicePid]);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be >= 1, got ${concurrency}`);
  const maxErrorSamples = options.maxErrorSamples ?? 5;
  const latencies = new LatencyRecorder();
  const errorSamples = new Set<string>();
  let requests = 0;
  let rows = 0;
  let errors = 0;
  let warmupErrors = 0;
  let sequence = 0;

  const snapshot = (): Snapshot => ({
    at: process.hrtime.bigint(),
    benchCpu: ownCpuSeconds(),
    serviceCpu: measuredPids.length === 0 ? undefined : sumDefined(measuredPids.map(processCpuSeconds)),
  });
  const begin = process.hrtime.bigint();
  const windowStartsAt = begin + BigInt(Math.round(warmupMs * 1e6));
  const windowEndsAt = windowStartsAt + BigInt(Math.round(durationMs * 1e6));
  let start: Snapshot | undefined;
  let end: Snapshot | undefined;
  // The window opens and closes on the first of: a timer, or a caller noticing the time (timers run late when
  // the event loop is busy; completions come often under load, so the boundaries stay sharp either way).
  const openWindow = () => {
    start ??= snapshot();
  };
  const closeWindow = () => {
    openWindow();
    end ??= snapshot();
  };
  const tick = (now: bigint) => {
    if (now >= windowStartsAt) openWindow();
    if (now >= windowEndsAt) closeWindow();
  };
  const openTimer = setTimeout(openWindow, warmupMs);
  const closeTimer = setTimeout(closeWindow, warmupMs + durationMs);

  // Every caller stops at the first of: the window closing, the signal, or any caller failing outside `issue`
  // (a bug, or an assertion of the caller's own): the others must not keep the run going on their own, and the
  // run rejects only once every caller has returned, so nothing is left issuing requests behind it.
  let stopped: { readonly reason: unknown } | undefined;
  const stop = (reason: unknown) => {
    stopped ??= { reason };
  };
  const onAbort = () => stop(options.signal?.reason ?? new Error('the load was aborted'));
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  const caller = async (index: number) => {
    try {
      while (stopped === undefined) {
        const sent = process.hrtime.bigint();
        tick(sent);
        if (end) return;
        let answeredRows: number;
        try {
          answeredRows = await issue(index, sequence++);
        } catch (error) {
          // A failed request is counted; a failed assertion of the caller's own about an answer ends the run.
          if (error instanceof AssertionError) throw error;
          tick(process.hrtime.bigint());
          if (start && !end) {
            errors++;
            if (errorSamples.size < maxErrorSamples) errorSamples.add(messageOf(error));
          } else if (!start) {
            warmupErrors++;
            if (errorSamples.size < maxErrorSamples) errorSamples.add(`warm-up: ${messageOf(error)}`);
          }
          // A failing target can answer at once: let timers and I/O run before the next try.
          await nextTurn();
          continue;
        }
        const now = process.hrtime.bigint();
        tick(now);
        if (start && !end) {
          requests++;
          rows += answeredRows;
          latencies.record(Number(now - sent) / 1e6);
        }
      }
    } catch (error) {
      stop(error);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, (_, i) => caller(i)));
  } finally {
    clearTimeout(openTimer);
    clearTimeout(closeTimer);
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (stopped) throw stopped.reason;
  const first = start!;
  const last = end!;
  const windowSeconds = Number(last.at - first.at) / 1e9;
  const rates = throughput(rows, requests, windowSeconds);
  const usage = (from: number | undefined, to: number | undefined): CpuUsage | undefined => {
    if (from === undefined || to === undefined) return undefined;
    const seconds = to - from;
    return { seconds, cores: coresBusy(seconds, windowSeconds), msPerThousandRows: cpuMsPerThousandRows(seconds, rows) };
  };
  return {
    concurrency,
    windowSeconds,
    requests,
    rows,
    errors,
    warmupErrors,
    errorSamples: [...errorSamples],
    rowsPerSecond: rates.rowsPerSecond,
    requestsPerSecond: rates.requestsPerSecond,
    latency: summarizeLatencies(latencies.sorted()),
    benchCpu: usage(first.benchCpu, last.benchCpu)!,
    benchPeakRssBytes: ownPeakRssBytes(),
    serviceCpu: usage(first.serviceCpu, last.serviceCpu),
    servicePeakRssBytes: servicePid === undefined ? undefined : processPeakRssBytes(servicePid),
  };
}

function sumDefined(values: readonly (number | undefined)[]): number | undefined {
  let sum = 0;
  for (const value of values) {
    if (value === undefined) return undefined;
    sum += value;
  }
  return sum;
}

/** An Error's message (grpc-js's and the SDK's name the status: `4 DEADLINE_EXCEEDED: ...`, `INVALID_ARGUMENT: ...`). */
function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error && typeof error === 'object' && 'code' in error && 'details' in error) {
    const { code, details } = error as { code: unknown; details: unknown };
    return `gRPC status ${String(code)}: ${String(details)}`;
  }
  return String(error);
}

/** Pure arithmetic over one measured case: latency percentiles and throughput. */

/** Per-request latencies in milliseconds, kept in a growing Float64Array (no per-sample allocation). */
export class LatencyRecorder {
  private values: Float64Array;
  private size = 0;

  constructor(initialCapacity = 1 << 16) {
    this.values = new Float64Array(Math.max(16, initialCapacity));
  }

  get count(): number {
    return this.size;
  }

  record(ms: number): void {
    if (this.size === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.size++] = ms;
  }

  /** The recorded values, sorted ascending (a copy). */
  sorted(): Float64Array {
    return this.values.slice(0, this.size).sort();
  }
}

/**
 * The nearest-rank percentile of ascending `sorted` values: the smallest value with at least p% of the values at
 * or below it. NaN when there are none; p is clamped to [0, 100] (p = 0 gives the minimum).
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const clamped = Math.min(100, Math.max(0, p));
  const rank = Math.max(1, Math.ceil((clamped / 100) * n));
  return sorted[rank - 1]!;
}

export interface LatencySummary {
  readonly count: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export function summarizeLatencies(sorted: ArrayLike<number>): LatencySummary {
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  return {
    count: n,
    meanMs: n === 0 ? Number.NaN : sum / n,
    p50Ms: percentile(sorted, 50),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    maxMs: n === 0 ? Number.NaN : sorted[n - 1]!,
  };
}

export interface Throughput {
  readonly rowsPerSecond: number;
  readonly requestsPerSecond: number;
}

/** Completed rows and requests over a measurement window; zero for an empty or non-positive window. */
export function throughput(rows: number, requests: number, windowSeconds: number): Throughput {
  if (!(windowSeconds > 0)) return { rowsPerSecond: 0, requestsPerSecond: 0 };
  return { rowsPerSecond: rows / windowSeconds, requestsPerSecond: requests / windowSeconds };
}

/** `numerator / denominator`, NaN when the denominator is 0 or either is not finite. */
export function ratio(numerator: number, denominator: number): number {
  if (!Number.isFinite(numerator) || !Number.isFinite(denominator) || denominator === 0) return Number.NaN;
  return numerator / denominator;
}

/** CPU seconds spent over a wall-clock window, as cores kept busy on average. */
export function coresBusy(cpuSeconds: number, windowSeconds: number): number {
  return windowSeconds > 0 ? cpuSeconds / windowSeconds : Number.NaN;
}

/** CPU milliseconds per 1000 rows: the cost of the work, independent of how long the case ran. */
export function cpuMsPerThousandRows(cpuSeconds: number, rows: number): number {
  return rows > 0 ? (cpuSeconds * 1000 * 1000) / rows : Number.NaN;
}

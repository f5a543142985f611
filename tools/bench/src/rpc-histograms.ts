/**
 * The mesh's own view of each hop: the `rpc_client_duration` (gateway: each downstream call as it sees it) and
 * `rpc_server_duration` (every service: its inbound calls) histograms from a service's Prometheus /metrics,
 * read before and after a case and subtracted, per RPC method.
 */

/** One method's histogram over a window: calls, their summed milliseconds, and cumulative bucket counts. */
export interface MethodHistogram {
  readonly count: number;
  readonly sumMs: number;
  /** Upper bound (ms, Infinity for +Inf) -> calls at or below it, ascending by bound. */
  readonly buckets: ReadonlyArray<readonly [number, number]>;
}

export type RpcHistograms = Readonly<Record<'client' | 'server', Readonly<Record<string, MethodHistogram>>>>;

const SAMPLE = /^rpc_(client|server)_duration(?:_milliseconds)?_(bucket|sum|count)\{([^}]*)\} (\S+)/;

/** Parses the exposition text; every status code of a method is added together. */
export function parseRpcHistograms(exposition: string): RpcHistograms {
  const acc = { client: new Map<string, { count: number; sumMs: number; buckets: Map<number, number> }>(), server: new Map<string, { count: number; sumMs: number; buckets: Map<number, number> }>() };
  for (const line of exposition.split('\n')) {
    const match = SAMPLE.exec(line);
    if (!match) continue;
    const [, side, part, labelText, valueText] = match as unknown as [string, 'client' | 'server', 'bucket' | 'sum' | 'count', string, string];
    const method = /rpc_method="([^"]*)"/.exec(labelText)?.[1];
    if (method === undefined) continue;
    const value = Number(valueText);
    let entry = acc[side].get(method);
    if (!entry) acc[side].set(method, (entry = { count: 0, sumMs: 0, buckets: new Map() }));
    if (part === 'count') entry.count += value;
    else if (part === 'sum') entry.sumMs += value;
    else {
      const le = /le="([^"]*)"/.exec(labelText)?.[1];
      const bound = le === '+Inf' ? Infinity : Number(le);
      entry.buckets.set(bound, (entry.buckets.get(bound) ?? 0) + value);
    }
  }
  const freeze = (side: 'client' | 'server') =>
    Object.fromEntries(
      [...acc[side]].map(([method, e]) => [method, { count: e.count, sumMs: e.sumMs, buckets: [...e.buckets].sort((a, b) => a[0] - b[0]) }]),
    );
  return { client: freeze('client'), server: freeze('server') };
}

export async function scrapeRpcHistograms(metricsAddress: string): Promise<RpcHistograms> {
  const response = await fetch(`http://${metricsAddress}/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET http://${metricsAddress}/metrics: HTTP ${response.status}`);
  return parseRpcHistograms(await response.text());
}

/** What happened between two scrapes. */
export function histogramDelta(before: RpcHistograms, after: RpcHistograms): RpcHistograms {
  const side = (s: 'client' | 'server') =>
    Object.fromEntries(
      Object.entries(after[s]).map(([method, a]) => {
        const b = before[s][method];
        const earlier = new Map(b?.buckets ?? []);
        return [method, { count: a.count - (b?.count ?? 0), sumMs: a.sumMs - (b?.sumMs ?? 0), buckets: a.buckets.map(([le, n]) => [le, n - (earlier.get(le) ?? 0)] as const) }];
      }),
    );
  return { client: side('client'), server: side('server') };
}

export function meanMs(histogram: MethodHistogram | undefined): number {
  return histogram && histogram.count > 0 ? histogram.sumMs / histogram.count : NaN;
}

/**
 * A quantile read from the buckets, linear inside the bucket it falls in (as Prometheus's histogram_quantile
 * does): only as fine as the buckets (0.5, 1, 2.5, 5 ms ...), so it is shown beside the exact mean.
 */
export function bucketQuantileMs(histogram: MethodHistogram | undefined, q: number): number {
  if (!histogram || histogram.count <= 0) return NaN;
  const rank = q * histogram.count;
  let lower = 0;
  let below = 0;
  for (const [bound, cumulative] of histogram.buckets) {
    if (cumulative >= rank) {
      if (bound === Infinity) return lower;
      const inBucket = cumulative - below;
      return inBucket > 0 ? lower + ((bound - lower) * (rank - below)) / inBucket : bound;
    }
    lower = bound;
    below = cumulative;
  }
  return lower;
}

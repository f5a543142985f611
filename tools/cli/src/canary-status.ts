import type { CanaryStatusCommand, MetricsSource } from './canary-args';

/** What Prometheus says about one version over the window. NaN: no data. */
export interface VersionHealth {
  readonly version: string;
  readonly requests: number;
  /** Failed requests / requests, 0 to 1. */
  readonly errorRatio: number;
  readonly p99Seconds: number;
}

export type CanaryDecision = 'promote' | 'rollback' | 'wait';

export interface CanaryVerdict {
  readonly decision: CanaryDecision;
  readonly reasons: readonly string[];
  readonly stable: VersionHealth;
  readonly canary: VersionHealth;
  /** What `p99Seconds` measures, for the report. */
  readonly latencyMeasure: string;
}

export type CanaryStatusOptions = Omit<CanaryStatusCommand, 'kind'>;

/**
 * Status codes that count against a version: failures the server owns. A caller's bad input (INVALID_ARGUMENT,
 * NOT_FOUND), its cancellation, and load shedding (RESOURCE_EXHAUSTED: too few replicas, not a bad version) do not.
 * FAILED_PRECONDITION does: the version failed to load, or was deployed with the wrong tokenizer.
 */
const FAILURE_CODES = ['UNKNOWN', 'DEADLINE_EXCEEDED', 'FAILED_PRECONDITION', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS'];
/** The same codes as numbers: Istio's grpc_response_status label holds the number. */
const FAILURE_CODE_NUMBERS = ['2', '4', '9', '12', '13', '14', '15'];

interface QuerySet {
  /** The label that holds the version, and how a version number appears in it. */
  readonly versionLabel: string;
  readonly labelValue: (version: string) => string;
  readonly requests: string;
  readonly failures: string;
  readonly p99: string;
  /** Multiplier from the p99 query's unit to seconds. */
  readonly p99ToSeconds: number;
  readonly latencyMeasure: string;
}

/**
 * `sum by (BY) (EXPR)`, with each pod counted once however many jobs scrape it. Under Istio a pod is scraped twice
 * (k8s/overlays/prod/pod-monitors.yaml: its `metrics` port, and the sidecar's merged stats, which repeat the app's
 * metrics); a second scraper of the sidecar (Istio's own PodMonitor) doubles Envoy's. So: sum each scrape's series
 * of a pod (job and instance tell the scrapes apart), keep the largest of a pod's scrapes (they agree), then sum over
 * pods. Needs the `namespace` and `pod` labels Kubernetes discovery sets; k8s/monitoring/queries.yaml has the rule.
 */
export function countedOncePerPod(by: string, expr: string): string {
  return `sum by (${by}) (max by (namespace, pod, ${by}) (sum by (namespace, pod, job, instance, ${by}) (${expr})))`;
}

/** The PromQL each source answers with; every query groups by the version label. */
export function canaryQueries(source: MetricsSource, options: Pick<CanaryStatusOptions, 'model' | 'namespace' | 'window'>): QuerySet {
  const { model, namespace, window } = options;
  if (source === 'app') {
    const selector = `model_name=${JSON.stringify(model)}`;
    return {
      versionLabel: 'model_version',
      labelValue: (version) => version,
      requests: countedOncePerPod('model_version', `increase(imesh_model_requests_total{${selector}}[${window}])`),
      failures: countedOncePerPod('model_version', `increase(imesh_model_requests_total{${selector},rpc_grpc_status_code=~"${FAILURE_CODES.join('|')}"}[${window}])`),
      p99: `histogram_quantile(0.99, ${countedOncePerPod('model_version, le', `rate(imesh_model_request_duration_bucket{${selector}}[${window}])`)})`,
      p99ToSeconds: 1,
      latencyMeasure: 'p99 ModelInfer time, queue included (model service)',
    };
  }
  if (source === 'gateway') {
    // The gateway's model hop per version (imesh_gateway_model_calls_total): each merged call once, with its final
    // status after the gateway's retries, and its whole time, retries and backoff included. It sees what callers
    // see, failures the model service never does included: pods that cannot be reached, a connection that drops.
    const selector = `model_name=${JSON.stringify(model)}`;
    return {
      versionLabel: 'model_version',
      labelValue: (version) => version,
      requests: countedOncePerPod('model_version', `increase(imesh_gateway_model_calls_total{${selector}}[${window}])`),
      failures: countedOncePerPod('model_version', `increase(imesh_gateway_model_calls_total{${selector},rpc_grpc_status_code=~"${FAILURE_CODES.join('|')}"}[${window}])`),
      p99: `histogram_quantile(0.99, ${countedOncePerPod('model_version, le', `rate(imesh_gateway_model_call_duration_bucket{${selector}}[${window}])`)})`,
      p99ToSeconds: 1,
      latencyMeasure: 'p99 model hop, retries included (gateway)',
    };
  }
  // Istio's standard metrics, as the gateway's sidecar reports them: every attempt, failed connections included,
  // and the whole request time as the caller sees it. The model name is not a label there: the Service is.
  const selector = `reporter="source",destination_service_name="model",destination_service_namespace=${JSON.stringify(namespace)}`;
  return {
    versionLabel: 'destination_version',
    labelValue: (version) => `v${version}`,
    requests: countedOncePerPod('destination_version', `increase(istio_requests_total{${selector}}[${window}])`),
    failures: countedOncePerPod('destination_version', `increase(istio_requests_total{${selector},grpc_response_status=~"${FAILURE_CODE_NUMBERS.join('|')}"}[${window}])`),
    p99: `histogram_quantile(0.99, ${countedOncePerPod('destination_version, le', `rate(istio_request_duration_milliseconds_bucket{${selector}}[${window}])`)})`,
    p99ToSeconds: 0.001,
    latencyMeasure: 'p99 request time (Istio, from the gateway)',
  };
}

interface PrometheusVectorResponse {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: { metric?: Record<string, string>; value?: [number, string] }[] };
}

/** Runs an instant query; the result as label value -> number. */
export async function queryByLabel(prometheusUrl: string, query: string, label: string, signal?: AbortSignal): Promise<Map<string, number>> {
  const url = `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`;
  let response: Response;
  try {
    response = await fetch(url, { signal: signal ?? AbortSignal.timeout(10_000) });
  } catch (error) {
    throw new Error(`Prometheus at ${prometheusUrl} did not answer: ${(error as Error).cause ? String((error as Error).cause) : (error as Error).message}`);
  }
  const text = await response.text();
  let body: PrometheusVectorResponse;
  try {
    body = JSON.parse(text) as PrometheusVectorResponse;
  } catch {
    throw new Error(`Prometheus at ${prometheusUrl} answered HTTP ${response.status} with something that is not its API's JSON: ${text.slice(0, 200)}`);
  }
  if (body.status !== 'success') throw new Error(`Prometheus refused ${query}: ${body.error ?? `HTTP ${response.status}`}`);
  if (body.data?.resultType !== 'vector') throw new Error(`Prometheus answered ${query} with a ${body.data?.resultType}, not a vector`);
  const values = new Map<string, number>();
  for (const sample of body.data.result ?? []) {
    const key = sample.metric?.[label];
    if (key !== undefined && sample.value) values.set(key, Number(sample.value[1]));
  }
  return values;
}

/** Reads both versions' health from Prometheus and decides. */
export async function canaryStatus(options: CanaryStatusOptions): Promise<CanaryVerdict> {
  const queries = canaryQueries(options.source, options);
  const [requests, failures, p99] = await Promise.all(
    [queries.requests, queries.failures, queries.p99].map((query) => queryByLabel(options.prometheusUrl, query, queries.versionLabel)),
  );
  const health = (version: string): VersionHealth => {
    const label = queries.labelValue(version);
    const served = requests!.get(label) ?? 0;
    return {
      version,
      requests: served,
      // No failure series means no failures; no request series means no ratio.
      errorRatio: served > 0 ? (failures!.get(label) ?? 0) / served : NaN,
      p99Seconds: (p99!.get(label) ?? NaN) * queries.p99ToSeconds,
    };
  };
  return decide(health(options.stable), health(options.canary), options, queries.latencyMeasure);
}

/** The rule, on numbers alone: enough traffic on both, then error ratio, then latency. */
export function decide(
  stable: VersionHealth,
  canary: VersionHealth,
  limits: Pick<CanaryStatusOptions, 'minRequests' | 'maxErrorRatioIncrease' | 'maxP99Increase' | 'window'>,
  latencyMeasure = 'p99',
): CanaryVerdict {
  const verdict = (decision: CanaryDecision, reasons: string[]): CanaryVerdict => ({ decision, reasons, stable, canary, latencyMeasure });
  const short = [stable, canary].filter((v) => !(v.requests >= limits.minRequests));
  if (short.length > 0) {
    return verdict(
      'wait',
      short.map((v) => `version ${v.version} served ${Math.round(v.requests)} requests in the last ${limits.window}; a verdict needs ${limits.minRequests}`),
    );
  }
  const reasons: string[] = [];
  const errorIncrease = canary.errorRatio - stable.errorRatio;
  const errorsBad = errorIncrease > limits.maxErrorRatioIncrease;
  reasons.push(
    `error ratio ${percent(canary.errorRatio)} vs ${percent(stable.errorRatio)}: ${points(errorIncrease)} ` +
      `(limit +${(limits.maxErrorRatioIncrease * 100).toFixed(2)} points)`,
  );
  if (!Number.isFinite(canary.p99Seconds) || !Number.isFinite(stable.p99Seconds)) {
    if (errorsBad) return verdict('rollback', reasons);
    return verdict('wait', [...reasons, `no ${latencyMeasure} for version ${!Number.isFinite(canary.p99Seconds) ? canary.version : stable.version} yet`]);
  }
  const latencyIncrease = stable.p99Seconds > 0 ? canary.p99Seconds / stable.p99Seconds - 1 : canary.p99Seconds > 0 ? Infinity : 0;
  const latencyBad = latencyIncrease > limits.maxP99Increase;
  reasons.push(
    `${latencyMeasure} ${milliseconds(canary.p99Seconds)} vs ${milliseconds(stable.p99Seconds)}: ` +
      `${latencyIncrease >= 0 ? '+' : ''}${(latencyIncrease * 100).toFixed(1)}% (limit +${(limits.maxP99Increase * 100).toFixed(0)}%)`,
  );
  return verdict(errorsBad || latencyBad ? 'rollback' : 'promote', reasons);
}

/** The report `imesh canary status` prints. */
export function formatVerdict(verdict: CanaryVerdict): string {
  const row = (role: string, v: VersionHealth) =>
    `${`${v.version} (${role})`.padEnd(14)}${String(Math.round(v.requests)).padStart(10)}  ${percent(v.errorRatio).padStart(11)}  ${milliseconds(v.p99Seconds).padStart(10)}`;
  const advice: Record<CanaryDecision, string> = {
    promote: `promote: version ${verdict.canary.version} is within the limits; raise its weight (imesh canary set --weight N)`,
    rollback: `roll back: version ${verdict.canary.version} is worse than version ${verdict.stable.version} (imesh canary set --weight 0)`,
    wait: 'wait: not enough traffic for a verdict yet',
  };
  return [
    `${'version'.padEnd(14)}${'requests'.padStart(10)}  ${'error ratio'.padStart(11)}  ${'p99'.padStart(10)}   (${verdict.latencyMeasure})`,
    row('stable', verdict.stable),
    row('canary', verdict.canary),
    advice[verdict.decision],
    ...verdict.reasons.map((reason) => `  ${reason}`),
    '',
  ].join('\n');
}

function percent(ratio: number): string {
  return Number.isFinite(ratio) ? `${(ratio * 100).toFixed(2)}%` : 'n/a';
}

function points(difference: number): string {
  return `${difference >= 0 ? '+' : ''}${(difference * 100).toFixed(2)} points`;
}

function milliseconds(seconds: number): string {
  return Number.isFinite(seconds) ? `${(seconds * 1000).toFixed(1)} ms` : 'n/a';
}

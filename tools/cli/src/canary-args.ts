import { optionTable, parseStrict, positiveIntegerList, seconds, UsageError } from '@inference-mesh/tool-kit';
import { scheduleProblem } from './rollout-state';

export const CANARY_USAGE = `Usage: imesh canary <set|status|run|resume|abort> [options]

  canary set --weight N    send N% of the default model's unpinned requests to the canary version, 100-N% to
                           the stable one: writes the gateway's split (the "weights" key of ConfigMap
                           gateway-version-split, mounted in the gateway pods, which apply it without
                           restarting), in --file PATH... or through kubectl
  canary status            compare the canary's error ratio and p99 with the stable version's from Prometheus,
                           and say whether to promote or roll back; exit status 0 promote, 3 roll back,
                           4 not enough traffic yet; with a rollout recorded, its history first
  canary run               a rollout controller: step the canary's share through --schedule, hold each step
                           for --interval, analyse it (error ratio, p99, prediction agreement), then go on,
                           hold again (not enough data), roll back (--failure-threshold failed analyses) or,
                           after the last step below 100, promote; runs until done, exit status 0 promoted,
                           3 rolled back or aborted. Its state is kept beside the split, so a controller
                           started again goes on from the recorded step
  canary resume            go on from a --pause-at step
  canary abort             roll back now (share 0); a running controller stops

Set options:
  --weight N               the canary's share, 0 to 100 (0 rolls back, 100 completes the promotion)
  -f, --file PATH          a YAML file to rewrite (repeatable): the split ConfigMap's "weights" key
                           (k8s/base/gateway.yaml), and any Deployment setting IMESH_MODEL_VERSION_WEIGHTS
                           itself; without --file, kubectl patches the ConfigMap in the cluster
  --config-map NAME        the ConfigMap holding the split (default: gateway-version-split)

Status options:
  --prometheus URL         the Prometheus server (default: $IMESH_PROMETHEUS_URL)
  --source gateway|app|istio
                           gateway: the gateway's model calls per version (imesh_gateway_model_calls_total,
                           final status after its retries; the whole model hop's time), what callers see,
                           unreachable pods included;
                           app: the model service's metrics (imesh_model_requests_total, ModelInfer
                           time with the batcher's queue);
                           istio: the sidecars' istio_requests_total and request duration (default: gateway)
  --model NAME             the model (default: sentiment)
  --window DURATION        the Prometheus range to compare over (default: 5m)
  --min-requests N         requests each version needs in the window before a verdict (default: 100)
  --max-error-increase X   roll back if the canary's error ratio exceeds the stable one's by more than X
                           (default: 0.01, one percentage point)
  --max-p99-increase X     roll back if the canary's p99 exceeds the stable one's by more than this fraction
                           (default: 0.25)

Run options (and the status options above):
  --schedule LIST          the canary's share at each step (default: 5,10,25,50,100; the last, 100, is the
                           promotion)
  --interval DURATION      how long each step holds before its analysis, e.g. 30s, 2m (default: 60s; the
                           analysis reads Prometheus over the same window)
  --failure-threshold N    failed analyses that roll back (default: 2)
  --max-inconclusive N     inconclusive analyses in a row (too little traffic) that roll back (default: 10)
  --pause-at SHARE         stop at this share until "canary resume" (repeatable)
  --min-agreement X        roll back if fewer than this share of the gateway's shadowed rows get the same label
                           from both versions (default: 0.9; 0 does not judge agreement)
  --max-score-difference X roll back if the mean |score difference| of shadowed rows exceeds X (default: 0.1)
  --min-agreement-rows N   shadowed rows an agreement verdict needs (default: 50)
  --restart                start afresh over a recorded rollout of these versions that has ended (without it,
                           an ended rollout is reported and not run again)
  --keep-running           after the end, wait for SIGTERM instead of exiting (the controller's Deployment,
                           k8s/rollout/)
  --metrics-port N         serve the rollout's share, phase and analyses by verdict (imesh_rollout_*) on
                           http://:N/metrics, for the dashboard's rollout row

Common options:
  --split-dir DIR          the split as files (DIR/weights, DIR/rollout: a gateway with
                           IMESH_MODEL_VERSION_WEIGHTS_FILE=DIR/weights), instead of the ConfigMap
  --stable VERSION         the version serving most traffic (default: 1; subset v1)
  --canary VERSION         the version under test (default: 2; subset v2)
  -n, --namespace NS       the namespace of the mesh (default: imesh)
`;

export interface CanaryVersions {
  readonly stable: string;
  readonly canary: string;
}

export interface CanarySetCommand extends CanaryVersions {
  readonly kind: 'canary-set';
  readonly canaryPercent: number;
  /** Empty: through kubectl. */
  readonly files: readonly string[];
  readonly namespace: string;
  /** The ConfigMap whose `weights` key the gateway reads (IMESH_MODEL_VERSION_WEIGHTS_FILE). */
  readonly configMap: string;
}

/** Where the error ratio and p99 come from (README, "Rollouts"): the gateway's model hop, the model service, or Istio. */
export type MetricsSource = 'gateway' | 'app' | 'istio';

export interface CanaryStatusCommand extends CanaryVersions {
  readonly kind: 'canary-status';
  /** Where a recorded rollout's history is read from: --split-dir, else the split's ConfigMap. */
  readonly splitDir?: string;
  readonly configMap: string;
  readonly prometheusUrl: string;
  readonly source: MetricsSource;
  readonly model: string;
  readonly namespace: string;
  /** A Prometheus duration, e.g. 5m. */
  readonly window: string;
  readonly minRequests: number;
  readonly maxErrorRatioIncrease: number;
  readonly maxP99Increase: number;
}

/** Where the split lives: a directory of files, or the ConfigMap through kubectl. */
export interface SplitLocation {
  readonly splitDir: string | undefined;
  readonly namespace: string;
  readonly configMap: string;
}

export interface CanaryRunCommand extends Omit<CanaryStatusCommand, 'kind' | 'window' | 'splitDir' | 'configMap'>, SplitLocation {
  readonly kind: 'canary-run';
  readonly schedule: readonly number[];
  readonly intervalMs: number;
  readonly failureThreshold: number;
  readonly maxInconclusive: number;
  readonly pauseAt: readonly number[];
  readonly minAgreement: number;
  readonly maxScoreDifference: number;
  readonly minAgreementRows: number;
  readonly restart: boolean;
  /** After the end, wait for SIGTERM instead of exiting: the controller as a Deployment, which must not restart it. */
  readonly keepRunning: boolean;
  /** Serve the rollout's metrics (imesh_rollout_*) on this port; undefined: none. */
  readonly metricsPort: number | undefined;
}

export interface CanaryControlCommand extends SplitLocation {
  readonly kind: 'canary-resume' | 'canary-abort';
}

export interface CanaryHelpCommand {
  readonly kind: 'canary-help';
}

export type CanaryCommand = CanarySetCommand | CanaryStatusCommand | CanaryRunCommand | CanaryControlCommand | CanaryHelpCommand;

const OPTIONS = optionTable({
  text: [
    'weight', 'config-map', 'prometheus', 'source', 'model', 'window', 'min-requests', 'max-error-increase', 'max-p99-increase', 'stable', 'canary', 'namespace',
    'schedule', 'interval', 'failure-threshold', 'max-inconclusive', 'min-agreement', 'max-score-difference', 'min-agreement-rows', 'split-dir', 'metrics-port',
  ],
  flags: ['help', 'restart', 'keep-running'],
  lists: ['file', 'pause-at'],
  short: { help: 'h', file: 'f', namespace: 'n' },
});

const COMMON = ['stable', 'canary', 'namespace', 'help'];
const ANALYSIS = ['prometheus', 'source', 'model', 'min-requests', 'max-error-increase', 'max-p99-increase'];
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  set: [...COMMON, 'weight', 'file', 'config-map'],
  status: [...COMMON, ...ANALYSIS, 'window', 'split-dir', 'config-map'],
  run: [...COMMON, ...ANALYSIS, 'restart', 'keep-running', 'metrics-port', 'schedule', 'interval', 'failure-threshold', 'max-inconclusive', 'pause-at', 'min-agreement', 'max-score-difference', 'min-agreement-rows', 'split-dir', 'config-map'],
  resume: ['namespace', 'help', 'split-dir', 'config-map'],
  abort: ['namespace', 'help', 'split-dir', 'config-map'],
};

/** Parses what follows `imesh canary`; throws UsageError for anything it cannot run. */
export function parseCanaryCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): CanaryCommand {
  const { values, positionals } = parseStrict(argv, OPTIONS);
  if (values.help) return { kind: 'canary-help' };
  const [action, ...rest] = positionals;
  if (action === undefined) throw new UsageError('"canary" needs "set", "status", "run", "resume" or "abort"');
  const allowed = ALLOWED[action];
  if (!allowed) throw new UsageError(`unknown canary command ${JSON.stringify(action)}: use "set", "status", "run", "resume" or "abort"`);
  if (rest.length > 0) throw new UsageError(`"canary ${action}" takes no arguments, got ${JSON.stringify(rest[0])}`);
  const misplaced = Object.keys(values).find((option) => values[option as keyof typeof values] !== undefined && !allowed.includes(option));
  if (misplaced) throw new UsageError(`--${misplaced} is not an option of "canary ${action}"`);

  const stable = version(values.stable ?? '1', '--stable');
  const canary = version(values.canary ?? '2', '--canary');
  if (stable === canary) throw new UsageError(`--stable and --canary are both ${stable}: name two versions`);
  const namespace = nonEmpty(values.namespace ?? 'imesh', '--namespace');
  const location: SplitLocation = {
    splitDir: values['split-dir'] === undefined ? undefined : nonEmpty(values['split-dir'], '--split-dir'),
    namespace,
    configMap: nonEmpty(values['config-map'] ?? 'gateway-version-split', '--config-map'),
  };
  if (action === 'resume' || action === 'abort') return { kind: action === 'resume' ? 'canary-resume' : 'canary-abort', ...location };

  if (action === 'set') {
    if (values.weight === undefined) throw new UsageError('"canary set" needs --weight N (0 to 100)');
    const files = values.file ?? [];
    if (files.some((file) => file === '')) throw new UsageError('--file needs a file name');
    return {
      kind: 'canary-set',
      stable,
      canary,
      canaryPercent: integer(values.weight, '--weight', 0, 100),
      files,
      namespace,
      configMap: location.configMap,
    };
  }

  const prometheusUrl = values.prometheus ?? env['IMESH_PROMETHEUS_URL'] ?? '';
  if (prometheusUrl === '') throw new UsageError(`"canary ${action}" needs --prometheus URL (or IMESH_PROMETHEUS_URL)`);
  if (!/^https?:\/\/[^/]/.test(prometheusUrl)) throw new UsageError(`--prometheus must be an http:// or https:// URL, got ${JSON.stringify(prometheusUrl)}`);
  const source = values.source ?? 'gateway';
  if (source !== 'gateway' && source !== 'app' && source !== 'istio') throw new UsageError(`--source must be "gateway", "app" or "istio", got ${JSON.stringify(source)}`);
  const analysis = {
    stable,
    canary,
    prometheusUrl: prometheusUrl.replace(/\/+$/, ''),
    source: source as MetricsSource,
    model: nonEmpty(values.model ?? 'sentiment', '--model'),
    namespace,
    minRequests: integer(values['min-requests'] ?? '100', '--min-requests', 1, Number.MAX_SAFE_INTEGER),
    maxErrorRatioIncrease: fraction(values['max-error-increase'] ?? '0.01', '--max-error-increase'),
    maxP99Increase: fraction(values['max-p99-increase'] ?? '0.25', '--max-p99-increase'),
  };
  if (action === 'run') {
    const schedule = positiveIntegerList(values.schedule ?? '5,10,25,50,100', '--schedule');
    const problem = scheduleProblem(schedule);
    if (problem) throw new UsageError(`--schedule ${values.schedule}: ${problem}`);
    const pauseAt = (values['pause-at'] ?? []).map((text) => integer(text, '--pause-at', 1, 100));
    const unknownPause = pauseAt.find((share) => !schedule.includes(share) || share === 100);
    if (unknownPause !== undefined) throw new UsageError(`--pause-at ${unknownPause} is not a step of the schedule below 100 (${schedule.join(', ')})`);
    const minAgreement = fraction(values['min-agreement'] ?? '0.9', '--min-agreement');
    if (minAgreement > 1) throw new UsageError(`--min-agreement is a share from 0 to 1, got ${minAgreement}`);
    return {
      kind: 'canary-run',
      ...analysis,
      ...location,
      schedule,
      intervalMs: seconds(durationSeconds(values.interval ?? '60s', '--interval'), '--interval', 1) * 1000,
      failureThreshold: integer(values['failure-threshold'] ?? '2', '--failure-threshold', 1, 1000),
      maxInconclusive: integer(values['max-inconclusive'] ?? '10', '--max-inconclusive', 1, 100_000),
      pauseAt,
      minAgreement,
      maxScoreDifference: fraction(values['max-score-difference'] ?? '0.1', '--max-score-difference'),
      minAgreementRows: integer(values['min-agreement-rows'] ?? '50', '--min-agreement-rows', 1, Number.MAX_SAFE_INTEGER),
      restart: values.restart === true,
      keepRunning: values['keep-running'] === true,
      metricsPort: values['metrics-port'] === undefined ? undefined : integer(values['metrics-port'], '--metrics-port', 1, 65_535),
    };
  }
  const window = values.window ?? '5m';
  if (!/^[0-9]+(ms|s|m|h|d)$/.test(window)) throw new UsageError(`--window must be a Prometheus duration such as 5m or 1h, got ${JSON.stringify(window)}`);
  return { kind: 'canary-status', ...analysis, window, configMap: location.configMap, ...(location.splitDir !== undefined && { splitDir: location.splitDir }) };
}

/** `30s`, `2m`, `1h` (or plain seconds) as a number of seconds, in text for tool-kit's `seconds` check. */
function durationSeconds(text: string, name: string): string {
  const match = /^([0-9]+)(s|m|h)?$/.exec(text);
  if (!match) throw new UsageError(`${name} must be a duration such as 30s or 2m, got ${JSON.stringify(text)}`);
  return String(Number(match[1]) * { s: 1, m: 60, h: 3600 }[match[2] as 's' | 'm' | 'h' ?? 's']);
}

function version(text: string, name: string): string {
  if (!/^[0-9]+$/.test(text)) throw new UsageError(`${name} must be a version number such as 1, got ${JSON.stringify(text)}`);
  return text;
}

function nonEmpty(text: string, name: string): string {
  if (text === '') throw new UsageError(`${name} must not be empty`);
  return text;
}

function integer(text: string, name: string, min: number, max: number): number {
  const value = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`${name} must be an integer ${range}, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** A non-negative decimal, e.g. 0.01. */
function fraction(text: string, name: string): number {
  const value = /^([0-9]+\.?[0-9]*|\.[0-9]+)$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(value)) throw new UsageError(`${name} must be a non-negative number such as 0.05, got ${JSON.stringify(text)}`);
  return value;
}

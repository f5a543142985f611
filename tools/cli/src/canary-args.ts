import { optionTable, parseStrict, UsageError } from '@inference-mesh/tool-kit';

export const CANARY_USAGE = `Usage: imesh canary <set|status> [options]

  canary set --weight N    send N% of the default model's unpinned requests to the canary version, 100-N% to
                           the stable one: writes the gateway's split (the "weights" key of ConfigMap
                           gateway-version-split, mounted in the gateway pods, which apply it without
                           restarting), in --file PATH... or through kubectl
  canary status            compare the canary's error ratio and p99 with the stable version's from Prometheus,
                           and say whether to promote or roll back; exit status 0 promote, 3 roll back,
                           4 not enough traffic yet

Set options:
  --weight N               the canary's share, 0 to 100 (0 rolls back, 100 completes the promotion)
  -f, --file PATH          a YAML file to rewrite (repeatable): the split ConfigMap's "weights" key
                           (k8s/base/gateway.yaml), and any Deployment setting IMESH_MODEL_VERSION_WEIGHTS
                           itself; without --file, kubectl patches the ConfigMap in the cluster
  --config-map NAME        the ConfigMap holding the split (default: gateway-version-split)

Status options:
  --prometheus URL         the Prometheus server (default: $IMESH_PROMETHEUS_URL)
  --source app|istio       app: the model service's metrics (imesh_model_requests_total, ModelInfer
                           time with the batcher's queue);
                           istio: the sidecars' istio_requests_total and request duration (default: app)
  --model NAME             the model (default: sentiment)
  --window DURATION        the Prometheus range to compare over (default: 5m)
  --min-requests N         requests each version needs in the window before a verdict (default: 100)
  --max-error-increase X   roll back if the canary's error ratio exceeds the stable one's by more than X
                           (default: 0.01, one percentage point)
  --max-p99-increase X     roll back if the canary's p99 exceeds the stable one's by more than this fraction
                           (default: 0.25)

Common options:
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

export type MetricsSource = 'app' | 'istio';

export interface CanaryStatusCommand extends CanaryVersions {
  readonly kind: 'canary-status';
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

export interface CanaryHelpCommand {
  readonly kind: 'canary-help';
}

export type CanaryCommand = CanarySetCommand | CanaryStatusCommand | CanaryHelpCommand;

const OPTIONS = optionTable({
  text: ['weight', 'config-map', 'prometheus', 'source', 'model', 'window', 'min-requests', 'max-error-increase', 'max-p99-increase', 'stable', 'canary', 'namespace'],
  flags: ['help'],
  lists: ['file'],
  short: { help: 'h', file: 'f', namespace: 'n' },
});

const SET_ONLY = ['weight', 'file', 'config-map'] as const;
const STATUS_ONLY = ['prometheus', 'source', 'model', 'window', 'min-requests', 'max-error-increase', 'max-p99-increase'] as const;

/** Parses what follows `imesh canary`; throws UsageError for anything it cannot run. */
export function parseCanaryCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): CanaryCommand {
  const { values, positionals } = parseStrict(argv, OPTIONS);
  if (values.help) return { kind: 'canary-help' };
  const [action, ...rest] = positionals;
  if (action === undefined) throw new UsageError('"canary" needs "set" or "status"');
  if (action !== 'set' && action !== 'status') throw new UsageError(`unknown canary command ${JSON.stringify(action)}: use "set" or "status"`);
  if (rest.length > 0) throw new UsageError(`"canary ${action}" takes no arguments, got ${JSON.stringify(rest[0])}`);
  const misplaced = (action === 'set' ? STATUS_ONLY : SET_ONLY).find((option) => values[option] !== undefined);
  if (misplaced) throw new UsageError(`--${misplaced} is not an option of "canary ${action}"`);

  const stable = version(values.stable ?? '1', '--stable');
  const canary = version(values.canary ?? '2', '--canary');
  if (stable === canary) throw new UsageError(`--stable and --canary are both ${stable}: name two versions`);
  const namespace = nonEmpty(values.namespace ?? 'imesh', '--namespace');

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
      configMap: nonEmpty(values['config-map'] ?? 'gateway-version-split', '--config-map'),
    };
  }

  const prometheusUrl = values.prometheus ?? env['IMESH_PROMETHEUS_URL'] ?? '';
  if (prometheusUrl === '') throw new UsageError('"canary status" needs --prometheus URL (or IMESH_PROMETHEUS_URL)');
  if (!/^https?:\/\/[^/]/.test(prometheusUrl)) throw new UsageError(`--prometheus must be an http:// or https:// URL, got ${JSON.stringify(prometheusUrl)}`);
  const source = values.source ?? 'app';
  if (source !== 'app' && source !== 'istio') throw new UsageError(`--source must be "app" or "istio", got ${JSON.stringify(source)}`);
  const window = values.window ?? '5m';
  if (!/^[0-9]+(ms|s|m|h|d)$/.test(window)) throw new UsageError(`--window must be a Prometheus duration such as 5m or 1h, got ${JSON.stringify(window)}`);
  return {
    kind: 'canary-status',
    stable,
    canary,
    prometheusUrl: prometheusUrl.replace(/\/+$/, ''),
    source,
    model: nonEmpty(values.model ?? 'sentiment', '--model'),
    namespace,
    window,
    minRequests: integer(values['min-requests'] ?? '100', '--min-requests', 1, Number.MAX_SAFE_INTEGER),
    maxErrorRatioIncrease: fraction(values['max-error-increase'] ?? '0.01', '--max-error-increase'),
    maxP99Increase: fraction(values['max-p99-increase'] ?? '0.25', '--max-p99-increase'),
  };
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

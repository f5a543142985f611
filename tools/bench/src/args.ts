/** The bench's command line: `main.js <suite> [options]`. Pure, so it is tested without running anything. */

export const SUITES = ['model', 'mesh'] as const;
export type SuiteName = (typeof SUITES)[number];

export interface BenchOptions {
  readonly suite: SuiteName;
  readonly warmupS: number;
  readonly durationS: number;
  /** Concurrent single-row callers per service case. */
  readonly concurrency: readonly number[];
  /** Concurrent callers of multi-row requests. */
  readonly batchConcurrency: readonly number[];
  /** Rows per multi-row request. */
  readonly requestRows: number;
  /** Batch sizes of the in-process ONNX Runtime baseline. */
  readonly ortBatchSizes: readonly number[];
  /** Results folder; undefined: bench/results of the checkout (bench/quick for --quick). */
  readonly out: string | undefined;
  readonly quick: boolean;
}

export const DEFAULTS = {
  warmupS: 1,
  durationS: 4,
  quickWarmupS: 0.3,
  quickDurationS: 1,
  concurrency: [1, 8, 64],
  batchConcurrency: [1, 4, 8],
  requestRows: 32,
  ortBatchSizes: [1, 8, 16, 32, 64, 128],
} as const;

export const USAGE = `usage: npm run bench -- <suite> [options]

suites:
  model    the model service (KServe v2 ModelInfer) with its dynamic batcher on and off, against
           ONNX Runtime in-process; writes <out>/model.{json,md,svg}
  mesh     the whole mesh through the gateway (not written yet: issue 5)

options:
  --warmup-s S              warm-up per case, not measured (default ${DEFAULTS.warmupS}; --quick: ${DEFAULTS.quickWarmupS})
  --duration-s S            measured time per case (default ${DEFAULTS.durationS}; --quick: ${DEFAULTS.quickDurationS})
  --concurrency A,B,..      single-row callers per case (default ${DEFAULTS.concurrency.join(',')})
  --batch-concurrency A,..  callers of ${DEFAULTS.requestRows}-row requests per case (default ${DEFAULTS.batchConcurrency.join(',')})
  --request-rows N          rows per multi-row request (default ${DEFAULTS.requestRows})
  --ort-batch-sizes A,..    batch sizes of the in-process ONNX Runtime baseline (default ${DEFAULTS.ortBatchSizes.join(',')})
  --out DIR                 results folder (default bench/results; --quick: bench/quick)
  --quick                   a smoke test: short cases, results not worth keeping
  --help                    this text`;

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[]): BenchOptions | 'help' {
  let suite: SuiteName | undefined;
  let warmupS: number | undefined;
  let durationS: number | undefined;
  let concurrency: readonly number[] = DEFAULTS.concurrency;
  let batchConcurrency: readonly number[] = DEFAULTS.batchConcurrency;
  let requestRows: number = DEFAULTS.requestRows;
  let ortBatchSizes: readonly number[] = DEFAULTS.ortBatchSizes;
  let out: string | undefined;
  let quick = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case '--help':
      case '-h':
        return 'help';
      case '--quick':
        quick = true;
        break;
      case '--warmup-s':
        warmupS = seconds(flag, value(), 0);
        break;
      case '--duration-s':
        durationS = seconds(flag, value(), 0.01);
        break;
      case '--concurrency':
        concurrency = positiveIntegers(flag, value());
        break;
      case '--batch-concurrency':
        batchConcurrency = positiveIntegers(flag, value());
        break;
      case '--request-rows':
        requestRows = positiveIntegers(flag, value())[0]!;
        break;
      case '--ort-batch-sizes':
        ortBatchSizes = positiveIntegers(flag, value());
        break;
      case '--out':
        out = value();
        if (out === '') throw new UsageError('--out needs a folder');
        break;
      default:
        if (flag.startsWith('-')) throw new UsageError(`unknown option ${flag}`);
        if (suite !== undefined) throw new UsageError(`one suite at a time: got ${suite} and ${flag}`);
        if (!(SUITES as readonly string[]).includes(flag)) throw new UsageError(`unknown suite ${JSON.stringify(flag)}; suites: ${SUITES.join(', ')}`);
        suite = flag as SuiteName;
    }
  }
  if (suite === undefined) throw new UsageError(`name a suite: ${SUITES.join(', ')}`);
  return {
    suite,
    warmupS: warmupS ?? (quick ? DEFAULTS.quickWarmupS : DEFAULTS.warmupS),
    durationS: durationS ?? (quick ? DEFAULTS.quickDurationS : DEFAULTS.durationS),
    concurrency,
    batchConcurrency,
    requestRows,
    ortBatchSizes,
    out,
    quick,
  };
}

function seconds(flag: string, text: string, min: number): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < min || value > 3600) {
    throw new UsageError(`${flag} must be a number of seconds from ${min} to 3600, got ${JSON.stringify(text)}`);
  }
  return value;
}

function positiveIntegers(flag: string, text: string): number[] {
  const parts = text.split(',').map((p) => p.trim());
  const values = parts.map(Number);
  if (parts.some((p) => p === '') || values.some((v) => !Number.isInteger(v) || v < 1 || v > 100_000)) {
    throw new UsageError(`${flag} must be positive integers separated by commas, got ${JSON.stringify(text)}`);
  }
  return [...new Set(values)];
}

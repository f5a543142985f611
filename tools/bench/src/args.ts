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
  /** The model version benchmarked, and where its repository is (undefined: IMESH_MODEL_REPOSITORY or models/). */
  readonly model: { readonly name: string; readonly version: string; readonly repository: string | undefined };
  /** Use only the first N texts of the dataset (a compute-heavy model needs fewer); undefined: all. */
  readonly texts: number | undefined;
  /** Export the BERT-base-shaped synthetic model first when it is missing (--synthetic-bert). */
  readonly syntheticBert: boolean;
}

/** The compute-heavy option: BERT-base-shaped, random weights, exported by tools/model/export_synthetic.py. */
export const SYNTHETIC_BERT = {
  name: 'bert-base-synthetic',
  version: '1',
  repository: 'bench/models',
  warmupS: 3,
  durationS: 12,
  texts: 1024,
  batchConcurrency: [1, 4],
  ortBatchSizes: [1, 4, 8, 16, 32],
} as const;

export const DEFAULTS = {
  warmupS: 1,
  durationS: 4,
  quickWarmupS: 0.3,
  quickDurationS: 1,
  concurrency: [1, 8, 64],
  meshConcurrency: [1, 8, 64, 256],
  batchConcurrency: [1, 4, 8],
  requestRows: 32,
  ortBatchSizes: [1, 8, 16, 32, 64, 128],
} as const;

export const DEFAULT_BENCH_MODEL = { name: 'sentiment', version: '2' } as const;

export const USAGE = `usage: npm run bench -- <suite> [options]

suites:
  model    the model service (KServe v2 ModelInfer) with its dynamic batcher on and off, against
           ONNX Runtime in-process; writes <out>/model.{json,md,svg}
  mesh     the whole pipeline, one text per request: ONNX Runtime in-process, the same parts in one process,
           the mesh over unary calls and over one stream, and the mesh with batching off;
           writes <out>/mesh.{json,md,svg}

options:
  --warmup-s S              warm-up per case, not measured (default ${DEFAULTS.warmupS}; --quick: ${DEFAULTS.quickWarmupS})
  --duration-s S            measured time per case (default ${DEFAULTS.durationS}; --quick: ${DEFAULTS.quickDurationS})
  --concurrency A,B,..      single-row callers per case (default ${DEFAULTS.concurrency.join(',')}; mesh: ${DEFAULTS.meshConcurrency.join(',')})
  --batch-concurrency A,..  callers of ${DEFAULTS.requestRows}-row requests per case (default ${DEFAULTS.batchConcurrency.join(',')})
  --request-rows N          rows per multi-row request (default ${DEFAULTS.requestRows})
  --ort-batch-sizes A,..    batch sizes of the in-process ONNX Runtime baseline (default ${DEFAULTS.ortBatchSizes.join(',')})
  --model NAME/VERSION      the model version to serve (default sentiment/2)
  --model-repository DIR    its repository (default IMESH_MODEL_REPOSITORY or models/)
  --texts N                 only the first N texts of the dataset (default: all)
  --synthetic-bert          a compute-heavy model instead: a BERT-base-shaped encoder with random weights
                            (${SYNTHETIC_BERT.repository}/${SYNTHETIC_BERT.name}, exported on first use; needs /usr/bin/python3
                            with torch and onnx), with defaults suited to it: --texts ${SYNTHETIC_BERT.texts}
                            --warmup-s ${SYNTHETIC_BERT.warmupS} --duration-s ${SYNTHETIC_BERT.durationS} --batch-concurrency ${SYNTHETIC_BERT.batchConcurrency.join(',')}
                            --ort-batch-sizes ${SYNTHETIC_BERT.ortBatchSizes.join(',')}
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
  let model: BenchOptions['model'] | undefined;
  let modelRepository: string | undefined;
  let texts: number | undefined;
  let syntheticBert = false;
  let batchConcurrencySet = false;
  let concurrencySet = false;
  let ortBatchSizesSet = false;

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
        concurrencySet = true;
        break;
      case '--batch-concurrency':
        batchConcurrency = positiveIntegers(flag, value());
        batchConcurrencySet = true;
        break;
      case '--request-rows':
        requestRows = positiveIntegers(flag, value())[0]!;
        break;
      case '--ort-batch-sizes':
        ortBatchSizes = positiveIntegers(flag, value());
        ortBatchSizesSet = true;
        break;
      case '--model': {
        const text = value();
        const match = /^([A-Za-z0-9_.-]+)\/([0-9]+)$/.exec(text);
        if (!match) throw new UsageError(`--model must be NAME/VERSION, e.g. sentiment/2, got ${JSON.stringify(text)}`);
        model = { name: match[1]!, version: match[2]!, repository: undefined };
        break;
      }
      case '--model-repository':
        modelRepository = value();
        if (modelRepository === '') throw new UsageError('--model-repository needs a folder');
        break;
      case '--texts':
        texts = positiveIntegers(flag, value())[0]!;
        break;
      case '--synthetic-bert':
        syntheticBert = true;
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
  if (syntheticBert && model !== undefined) throw new UsageError('--synthetic-bert names its own model: drop --model');
  const heavy = syntheticBert && !quick;
  return {
    suite,
    warmupS: warmupS ?? (quick ? DEFAULTS.quickWarmupS : heavy ? SYNTHETIC_BERT.warmupS : DEFAULTS.warmupS),
    durationS: durationS ?? (quick ? DEFAULTS.quickDurationS : heavy ? SYNTHETIC_BERT.durationS : DEFAULTS.durationS),
    concurrency: suite === 'mesh' && !concurrencySet ? DEFAULTS.meshConcurrency : concurrency,
    batchConcurrency: syntheticBert && !batchConcurrencySet ? SYNTHETIC_BERT.batchConcurrency : batchConcurrency,
    requestRows,
    ortBatchSizes: syntheticBert && !ortBatchSizesSet ? SYNTHETIC_BERT.ortBatchSizes : ortBatchSizes,
    out,
    quick,
    model: syntheticBert
      ? { name: SYNTHETIC_BERT.name, version: SYNTHETIC_BERT.version, repository: modelRepository ?? SYNTHETIC_BERT.repository }
      : { ...(model ?? DEFAULT_BENCH_MODEL), repository: modelRepository },
    texts: texts ?? (syntheticBert ? SYNTHETIC_BERT.texts : undefined),
    syntheticBert,
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

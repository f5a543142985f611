/** The bench's command line: `main.js <suite> [options]`. Pure, so it is tested without running anything. */
import { optionTable, parseStrict, positiveIntegerList, seconds, UsageError } from '@inference-mesh/tool-kit';

export const SUITES = ['model', 'mesh', 'overhead', 'queue'] as const;
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
  /** overhead: lines of the file `imesh classify --file` classifies (the texts, cycled). */
  readonly bulkTexts: number;
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
  /** SST-2 dev.tsv twelve times over, as the issue measuring it did (issue 14). */
  bulkTexts: 10_464,
  quickBulkTexts: 2_000,
} as const;

export const DEFAULT_BENCH_MODEL = { name: 'sentiment', version: '2' } as const;

export const USAGE = `usage: npm run bench -- <suite> [options]

suites:
  model    the model service (KServe v2 ModelInfer) with its dynamic batcher on and off, against
           ONNX Runtime in-process; writes <out>/model.{json,md,svg}
  mesh     the whole pipeline, one text per request: ONNX Runtime in-process, the same parts in one process,
           the mesh over unary calls and over one stream, and the mesh with batching off;
           writes <out>/mesh.{json,md,svg}
  overhead where the mesh's time goes, in one run, cases interleaved: a bare grpc-js echo at each hop's
           message sizes (the floor per hop), one grpc-js process serving the same PipelineService with
           cross-request batching off and on, the mesh (unary and one stream), and bulk \`imesh classify --file\`
           through both; per-hop p50 and CPU per call beside the echo's; writes <out>/overhead.{json,md,svg}
  queue    bulk through RabbitMQ and a queue-worker (\`imesh submit --file\`) against bulk straight to the gateway
           (\`imesh classify --file\`) on the same file, rounds alternating, answers compared; starts a local
           RabbitMQ node (rabbitmq-server must be installed); writes <out>/queue.{json,md,svg}

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
  --bulk-texts N            overhead, queue: lines of the bulk file, the texts cycled
                            (default ${DEFAULTS.bulkTexts}; --quick: ${DEFAULTS.quickBulkTexts})
  --synthetic-bert          a compute-heavy model instead: a BERT-base-shaped encoder with random weights
                            (${SYNTHETIC_BERT.repository}/${SYNTHETIC_BERT.name}, exported on first use; needs /usr/bin/python3
                            with torch and onnx), with defaults suited to it: --texts ${SYNTHETIC_BERT.texts}
                            --warmup-s ${SYNTHETIC_BERT.warmupS} --duration-s ${SYNTHETIC_BERT.durationS} --batch-concurrency ${SYNTHETIC_BERT.batchConcurrency.join(',')}
                            --ort-batch-sizes ${SYNTHETIC_BERT.ortBatchSizes.join(',')}
  --out DIR                 results folder (default bench/results; --quick: bench/quick)
  --quick                   a smoke test: short cases, results not worth keeping
  --help                    this text`;

const OPTIONS = optionTable({
  text: ['warmup-s', 'duration-s', 'concurrency', 'batch-concurrency', 'request-rows', 'ort-batch-sizes', 'model', 'model-repository', 'texts', 'bulk-texts', 'out'],
  flags: ['help', 'quick', 'synthetic-bert'],
  short: { help: 'h' },
});

export function parseArgs(argv: readonly string[]): BenchOptions | 'help' {
  const { values, positionals } = parseStrict(argv, OPTIONS);
  if (values.help) return 'help';
  if (positionals.length > 1) throw new UsageError(`one suite at a time: got ${positionals.join(' and ')}`);
  const [suiteName] = positionals;
  if (suiteName === undefined) throw new UsageError(`name a suite: ${SUITES.join(', ')}`);
  if (!(SUITES as readonly string[]).includes(suiteName)) throw new UsageError(`unknown suite ${JSON.stringify(suiteName)}; suites: ${SUITES.join(', ')}`);
  const suite = suiteName as SuiteName;
  const list = (name: keyof typeof OPTIONS): number[] | undefined => {
    const text = values[name];
    return typeof text === 'string' ? positiveIntegerList(text, `--${name}`) : undefined;
  };
  const quick = values.quick === true;
  const syntheticBert = values['synthetic-bert'] === true;
  let model: BenchOptions['model'] | undefined;
  if (values.model !== undefined) {
    const match = /^([A-Za-z0-9_.-]+)\/([0-9]+)$/.exec(values.model);
    if (!match) throw new UsageError(`--model must be NAME/VERSION, e.g. sentiment/2, got ${JSON.stringify(values.model)}`);
    model = { name: match[1]!, version: match[2]!, repository: undefined };
  }
  const modelRepository = values['model-repository'];
  if (modelRepository === '') throw new UsageError('--model-repository needs a folder');
  const { out } = values;
  if (out === '') throw new UsageError('--out needs a folder');
  if (syntheticBert && model !== undefined) throw new UsageError('--synthetic-bert names its own model: drop --model');
  const concurrency = list('concurrency');
  const batchConcurrency = list('batch-concurrency');
  const ortBatchSizes = list('ort-batch-sizes');
  const texts = list('texts')?.[0];
  const warmupS = values['warmup-s'] === undefined ? undefined : seconds(values['warmup-s'], '--warmup-s', 0);
  const durationS = values['duration-s'] === undefined ? undefined : seconds(values['duration-s'], '--duration-s', 0.01);
  const heavy = syntheticBert && !quick;
  return {
    suite,
    warmupS: warmupS ?? (quick ? DEFAULTS.quickWarmupS : heavy ? SYNTHETIC_BERT.warmupS : DEFAULTS.warmupS),
    durationS: durationS ?? (quick ? DEFAULTS.quickDurationS : heavy ? SYNTHETIC_BERT.durationS : DEFAULTS.durationS),
    concurrency: concurrency ?? (suite === 'mesh' ? DEFAULTS.meshConcurrency : DEFAULTS.concurrency),
    batchConcurrency: batchConcurrency ?? (syntheticBert ? SYNTHETIC_BERT.batchConcurrency : DEFAULTS.batchConcurrency),
    requestRows: list('request-rows')?.[0] ?? DEFAULTS.requestRows,
    ortBatchSizes: ortBatchSizes ?? (syntheticBert ? SYNTHETIC_BERT.ortBatchSizes : DEFAULTS.ortBatchSizes),
    out,
    quick,
    model: syntheticBert
      ? { name: SYNTHETIC_BERT.name, version: SYNTHETIC_BERT.version, repository: modelRepository ?? SYNTHETIC_BERT.repository }
      : { ...(model ?? DEFAULT_BENCH_MODEL), repository: modelRepository },
    texts: texts ?? (syntheticBert ? SYNTHETIC_BERT.texts : undefined),
    syntheticBert,
    bulkTexts: list('bulk-texts')?.[0] ?? (quick ? DEFAULTS.quickBulkTexts : DEFAULTS.bulkTexts),
  };
}

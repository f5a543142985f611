import { readSst2 } from '@inference-mesh/model-tools';
import { MESH_SERVICES, startLocalBroker, startMesh, startQueueWorker, stopQueueWorker, type LocalBroker, type QueueWorkerProcess, type RunningMesh } from '@inference-mesh/launcher';
import { categoryChartSvg, percentile, processCpuSeconds, processGroupCpuSeconds, ratio } from '@inference-mesh/tool-kit';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchOptions } from './args';
import { runImeshOverFile } from './imesh-file';
import { consoleTable, count, jsonNumbers, markdownSection, num, problemsParagraph, writeFileAtomically, type Table } from './report';
import { commonSettings, type BenchResult, type CommonSettings, type SummaryLine } from './results';
import { startSuite, type SuiteContext } from './suite-context';

/** Issue 17: bulk through the broker and the queue-worker vs bulk straight to the gateway, on the same texts. */
export const QUEUE_TARGETS = { submitVsClassify: 0.8 } as const;

/** Each round runs both paths once; their order alternates, so that a drift of the machine hits both alike. */
const ROUNDS = 3;
const QUICK_ROUNDS = 1;
const QUEUE_NAME = 'imesh.bench';

type Path = 'classify --file' | 'submit --file';
type ProcessName = 'gateway' | 'tokenizer' | 'model' | 'postprocess' | 'queue-worker' | 'broker';

export interface QueueRun {
  readonly round: number;
  readonly path: Path;
  readonly seconds: number;
  readonly textsPerSecond: number;
  /** CPU milliseconds per text of each process over the run (the CLI's own not counted: both paths have one). */
  readonly cpuMsPerText: Partial<Record<ProcessName, number>>;
  readonly error?: string;
}

export interface QueueSettings extends CommonSettings {
  readonly bulkTexts: number;
  readonly rounds: number;
  /** imesh submit's defaults: texts per message and messages in flight. */
  readonly submit: string;
  /** The worker's prefetch (its default). */
  readonly workerPrefetch: string;
}

export interface QueueBenchResult extends BenchResult<'queue', QueueSettings> {
  readonly runs: readonly QueueRun[];
  /** submit texts/s over classify texts/s, per round. */
  readonly ratios: readonly number[];
  readonly summary: readonly SummaryLine[];
}

/**
 * `npm run bench -- queue`: the same file of SST-2 texts through `imesh classify --file` (straight to the gateway)
 * and through `imesh submit --file` (RabbitMQ, then one queue-worker, then the same gateway), round after round,
 * with every process up throughout. The answers of both paths are compared line by line.
 */
export async function runQueueSuite(options: BenchOptions, context: SuiteContext): Promise<QueueBenchResult> {
  const { log } = context;
  const { date, machine, repository, versionDir, inheritedEnv, problems } = await startSuite('queue', options, context, { timedCases: false });
  const texts = readSst2('dev').map((row) => row.text).filter((text) => text !== '').slice(0, options.texts ?? Infinity);
  const rounds = options.quick ? QUICK_ROUNDS : ROUNDS;
  const runs: QueueRun[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'imesh-queue-bench-'));
  const file = join(dir, 'texts.txt');
  writeFileSync(file, Array.from({ length: options.bulkTexts }, (_, i) => texts[i % texts.length]!).join('\n') + '\n');
  log(`inputs: ${count(options.bulkTexts)} lines (SST-2 dev.tsv's ${count(texts.length)} texts, cycled), ${rounds} round${rounds === 1 ? '' : 's'}`);

  let broker: LocalBroker | undefined;
  let mesh: RunningMesh | undefined;
  let worker: QueueWorkerProcess | undefined;
  try {
    log('starting RabbitMQ, the mesh and one queue-worker ...');
    [broker, mesh] = await Promise.all([
      startLocalBroker(),
      startMesh({ env: { IMESH_MODEL_REPOSITORY: repository, IMESH_DEFAULT_MODEL: options.model.name }, onLog: () => undefined, readyTimeoutMs: 180_000 }),
    ]);
    worker = await startQueueWorker({ IMESH_AMQP_URL: broker.url, IMESH_QUEUE_NAME: QUEUE_NAME, IMESH_GATEWAY_TARGET: mesh.gateway });
    const brokerGroup = broker.processGroup;
    const cpuReaders: [ProcessName, () => number | undefined][] = [
      ...MESH_SERVICES.map((service): [ProcessName, () => number | undefined] => [service, () => processCpuSeconds(mesh!.services[service].process.pid!)]),
      ['queue-worker', () => processCpuSeconds(worker!.child.pid!)],
      ['broker', () => (brokerGroup === undefined ? undefined : processGroupCpuSeconds(brokerGroup))],
    ];
    const args: Record<Path, string[]> = {
      'classify --file': ['classify', '--target', mesh.gateway, '--file', file],
      'submit --file': ['submit', '--amqp-url', broker.url, '--queue', QUEUE_NAME, '--file', file],
    };
    const answers = new Map<Path, readonly string[]>();
    const total = rounds * 2;
    for (let round = 1; round <= rounds; round++) {
      const order: Path[] = round % 2 === 1 ? ['classify --file', 'submit --file'] : ['submit --file', 'classify --file'];
      for (const path of order) {
        const before = cpuReaders.map(([, read]) => read() ?? NaN);
        const outcome = await runImeshOverFile(context.repoRoot, args[path], options.bulkTexts, { keepOutput: round === 1 });
        const after = cpuReaders.map(([, read]) => read() ?? NaN);
        const cpuMsPerText = Object.fromEntries(cpuReaders.map(([name], i) => [name, ((after[i]! - before[i]!) * 1000) / options.bulkTexts]));
        const run: QueueRun = { round, path, seconds: outcome.seconds, textsPerSecond: outcome.error ? NaN : options.bulkTexts / outcome.seconds, cpuMsPerText, ...(outcome.error && { error: outcome.error }) };
        runs.push(run);
        if (outcome.error) problems.push(`imesh ${path}, round ${round}: ${outcome.error}`);
        if (outcome.lines) answers.set(path, outcome.lines);
        log(`[${runs.length}/${total}] round ${round}, imesh ${path} ... ${run.error ? 'FAILED' : `${num(run.textsPerSecond)} texts/s, ${run.seconds.toFixed(2)} s`}`);
      }
    }
    const mismatch = firstMismatch(answers.get('classify --file'), answers.get('submit --file'));
    if (mismatch) problems.push(`the two paths answered line ${mismatch.line} differently: ${JSON.stringify(mismatch.classify)} vs ${JSON.stringify(mismatch.submit)}`);
    else if (answers.size === 2) log(`answers: the ${count(options.bulkTexts)} lines of both paths agree (round 1: same text and label, scores within 2e-4)`);
  } catch (error) {
    problems.push(`the queue suite did not run: ${(error as Error).message}`);
  } finally {
    await stopQueueWorker(worker);
    await mesh?.stop();
    await broker?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }

  const ratios = Array.from({ length: rounds }, (_, i) => {
    const of = (path: Path) => runs.find((r) => r.round === i + 1 && r.path === path)?.textsPerSecond ?? NaN;
    return ratio(of('submit --file'), of('classify --file'));
  });
  const partial = {
    suite: 'queue' as const,
    quick: options.quick,
    command: context.command,
    date,
    machine,
    settings: {
      ...commonSettings(options, context, { versionDir, texts: texts.length, inheritedEnv }),
      bulkTexts: options.bulkTexts,
      rounds,
      submit: 'imesh submit defaults: 32 texts per message, 256 messages in flight',
      workerPrefetch: 'IMESH_QUEUE_PREFETCH default (64)',
    },
    errors: runs.filter((r) => r.error).length,
    problems,
    runs,
    ratios,
  };
  const result: QueueBenchResult = { ...partial, summary: summaryLines(ratios) };
  log('');
  log(consoleTable(runTable(result)));
  for (const line of result.summary) log(`${line.verdict.padEnd(6)} ${line.label}: ${line.value} (target ${line.target})`);
  const files = { json: join(context.outDir, 'queue.json'), md: join(context.outDir, 'queue.md'), svg: join(context.outDir, 'queue.svg') };
  writeFileAtomically(files.json, JSON.stringify(result, jsonNumbers, 2) + '\n');
  writeFileAtomically(files.md, markdownReport(result, 'queue.svg'));
  writeFileAtomically(files.svg, chart(result));
  log(`wrote ${files.json}, ${files.md}, ${files.svg}`);
  return result;
}

/**
 * The first line where the two paths disagree: another label (or error), or a score off by more than 2e-4. Not the
 * bytes: the two paths batch a text with different neighbours, padded differently, which can move a float32 score's
 * last bits and so its printed fourth decimal.
 */
function firstMismatch(classify: readonly string[] | undefined, submit: readonly string[] | undefined): { line: number; classify: string; submit: string } | undefined {
  if (!classify || !submit) return undefined;
  const read = (line: string | undefined) => {
    try {
      return JSON.parse(line ?? '') as { text?: string; label?: string; score?: number; error?: { code?: string } };
    } catch {
      return undefined;
    }
  };
  const index = classify.findIndex((line, i) => {
    const [a, b] = [read(line), read(submit[i])];
    if (!a || !b) return line !== submit[i];
    return a.text !== b.text || a.label !== b.label || a.error?.code !== b.error?.code || Math.abs((a.score ?? 0) - (b.score ?? 0)) > 2e-4;
  });
  return index < 0 ? undefined : { line: index + 1, classify: classify[index]!, submit: submit[index] ?? '' };
}

function summaryLines(ratios: readonly number[]): SummaryLine[] {
  const measured = ratios.filter(Number.isFinite);
  const middle = measured.length > 0 ? percentile([...measured].sort((a, b) => a - b), 50) : NaN;
  const target = QUEUE_TARGETS.submitVsClassify;
  return [
    {
      id: 'queue-vs-classify',
      label: 'bulk through the queue (imesh submit --file) vs straight to the gateway (imesh classify --file), median of the rounds',
      value: Number.isFinite(middle) ? `${middle.toFixed(2)}x (rounds: ${measured.map((r) => r.toFixed(2)).join(', ')})` : 'not measured',
      target: `>= ${target}x`,
      verdict: !Number.isFinite(middle) ? 'N/A' : middle >= target ? 'PASS' : 'MISS',
    },
  ];
}

const CPU_COLUMNS = ['gateway', 'tokenizer', 'model', 'postprocess', 'queue-worker', 'broker'] as const satisfies readonly ProcessName[];

function runTable(result: QueueBenchResult): Table {
  return {
    headers: ['round', 'path', 'texts/s', 'seconds', ...CPU_COLUMNS.map((p) => `${p} CPU ms/text`)],
    rows: result.runs.map((r) => [String(r.round), `imesh ${r.path}`, r.error ? 'FAILED' : num(r.textsPerSecond), r.seconds.toFixed(2), ...CPU_COLUMNS.map((p) => num(r.cpuMsPerText[p], 3))]),
  };
}

function markdownReport(result: QueueBenchResult, svgName: string): string {
  const s = result.settings;
  return [
    `# Bulk through the queue vs straight to the gateway${result.quick ? ' (quick run: not worth keeping)' : ''}`,
    '',
    `\`${result.command}\` on ${result.date}, ${result.machine.cpuCount} x ${result.machine.cpuModel}, load average ${result.machine.loadAverageAtStart.join(' ')} at the start.`,
    '',
    `${count(s.bulkTexts)} lines (SST-2 dev.tsv's ${count(s.texts)} texts, cycled) through \`imesh classify --file\` and through \`imesh submit --file\` ` +
      `(${s.submit}; one queue-worker, ${s.workerPrefetch}; a local RabbitMQ node), ${s.rounds} round(s), the order alternating. ` +
      `Model ${s.model}/${s.version}. CPU per text is each process's CPU time over the run.`,
    '',
    ...result.summary.map((line) => `- **${line.verdict}** ${line.label}: ${line.value} (target ${line.target})`),
    '',
    `![texts per second of both paths, per round](${svgName})`,
    '',
    markdownSection('Runs', runTable(result)),
    problemsParagraph(result.errors, result.problems),
  ].join('\n');
}

function chart(result: QueueBenchResult): string {
  const categories = Array.from({ length: result.settings.rounds }, (_, i) => `round ${i + 1}`);
  const of = (path: Path) => categories.map((_, i) => result.runs.find((r) => r.round === i + 1 && r.path === path)?.textsPerSecond);
  return categoryChartSvg({
    title: `Bulk through the queue vs straight to the gateway${result.quick ? ' (quick run)' : ''}: ${count(result.settings.bulkTexts)} texts, ${result.machine.cpuCount} CPUs`,
    yLabel: 'texts/s',
    panels: [
      {
        title: 'throughput (texts/s)',
        xLabel: 'round',
        categories,
        series: [
          { name: 'imesh classify --file', values: of('classify --file') },
          { name: 'imesh submit --file (queue)', values: of('submit --file') },
        ],
      },
    ],
  });
}

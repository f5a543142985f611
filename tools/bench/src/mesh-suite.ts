import { PipelineClient, type ClassifyResponse } from '@inference-mesh/client';
import { categoryChartSvg, processPeakRssBytes, processRssBytes, ratio, runClosedLoop, type CaseMeasurement } from '@inference-mesh/tool-kit';
import { startMesh, MESH_SERVICES, type MeshService, type RunningMesh } from '@inference-mesh/launcher';
import { modelFiles, readModelConfig } from '@inference-mesh/model-repository';
import { readSst2, sst2Dir } from '@inference-mesh/model-tools';
import { statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { BenchOptions } from './args';
import { InProcessPipeline } from './in-process-pipeline';
import { byLength, encoderFor, fullBatches, tokenizeInBatches, type TokenizedBatch } from './inputs';
import { bestRawOrt, createServiceLikeSession, measureRawOrt, referenceLogits, serviceSessionOptions, type RawOrtCase } from './raw-ort';
import { consoleTable, count, jsonNumbers, markdownSection, mib, num, problemsParagraph, writeFileAtomically, type MachineInfo, type Table } from './report';
import { commonSettings, type BenchResult, type CommonSettings, type Verdict } from './results';
import { startSuite, type SuiteContext } from './suite-context';

export const MESH_TARGETS = {
  /** Mesh streaming at 64 callers vs the in-process pipeline's best. */
  streamingVsInProcess: 0.7,
  /** Mesh unary at 64 callers vs the in-process pipeline's best. */
  unaryVsInProcess: 0.5,
  /** Mesh p50 minus in-process p50 at one caller. */
  addedLatencyMs: 2,
  idleRssNonModelBytes: 120 * 1024 * 1024,
  /** The model service's allowance on top of its model files. */
  idleRssModelBaseBytes: 250 * 1024 * 1024,
} as const;

export const MESH_CASES = ['in-process pipeline', 'mesh unary', 'mesh streaming', 'mesh unary, batching off'] as const;
export type MeshCaseKind = (typeof MESH_CASES)[number];

/** A prediction counts as wrong only where the reference's top two logits are further apart than this. */
const LABEL_MARGIN = 1e-3;
const REQUEST_DEADLINE_MS = 30_000;

export interface MeshCase {
  readonly kind: MeshCaseKind;
  readonly measurement: CaseMeasurement;
  /** CPU of the bench and every service process in the window, per 1,000 requests. */
  readonly cpuMsPerThousandRequests: number;
}

export interface MeshRun {
  readonly batching: 'on' | 'off';
  readonly env: Readonly<Record<string, string>>;
  readonly startSeconds: number;
  /** Resident memory once SERVING, before any load, and the peak over the run, per service. */
  readonly idleRssBytes: Partial<Record<MeshService, number>>;
  readonly peakRssBytes: Partial<Record<MeshService, number>>;
  readonly logs: readonly string[];
}

export interface MeshSummaryLine {
  readonly id: string;
  readonly label: string;
  readonly value: string;
  readonly target: string;
  readonly verdict: Extract<Verdict, 'PASS' | 'MISS' | 'N/A'>;
}

export interface MeshBenchResult extends BenchResult<'mesh', CommonSettings & { readonly modelBytes: number }> {
  readonly rawOrt: readonly RawOrtCase[];
  readonly cases: readonly MeshCase[];
  readonly meshes: readonly MeshRun[];
  readonly summary: readonly MeshSummaryLine[];
}

/**
 * The whole pipeline, one text per request, against the best in-process alternative: raw ONNX Runtime, the same
 * parts in one process, the mesh over unary calls and over one stream, and the mesh with batching off. Every
 * answer is checked against in-process ONNX Runtime.
 */
export async function runMeshSuite(options: BenchOptions, context: SuiteContext): Promise<MeshBenchResult> {
  const { log } = context;
  const { name: model, version } = options.model;
  const { date, machine, repository, versionDir, warmupMs, durationMs, inheritedEnv, problems } = await startSuite('mesh', options, context);

  // 1. Inputs and the answers to expect.
  const texts = readSst2('dev').map((row) => row.text).filter((text) => text !== '').slice(0, options.texts ?? Infinity);
  const labels = readModelConfig(versionDir).labels;
  const encoder = encoderFor(versionDir);
  const session = await createServiceLikeSession(versionDir, serviceSessionOptions());
  const total = options.ortBatchSizes.length + options.concurrency.length * MESH_CASES.length;
  let step = 0;
  const rawOrt: RawOrtCase[] = [];
  let expected: (string | undefined)[];
  try {
    const reference = await referenceLogits(session, await tokenizeInBatches(encoder, texts, 64), texts.length);
    expected = expectedLabels(reference.logits, reference.labels, labels);
    log(`inputs: ${texts.length} texts from ${relative(context.repoRoot, join(sst2Dir(), 'dev.tsv'))}, one per request; reference labels from ONNX Runtime in-process`);
    // 2. ONNX Runtime in-process, at its best: texts of similar length batched together (little padding).
    const { sorted } = byLength(texts, (await tokenizeInBatches(encoder, texts, 1)).map((b) => b.sequenceLength));
    for (const size of options.ortBatchSizes) {
      const batches: TokenizedBatch[] = fullBatches(await tokenizeInBatches(encoder, sorted, size), size);
      const rawCase = await measureRawOrt(session, size, batches, warmupMs, durationMs);
      rawOrt.push(rawCase);
      log(`[${++step}/${total}] ONNX Runtime in-process, batch ${size} ... ${describe(rawCase.measurement)}`);
    }
  } finally {
    await session.release();
  }

  const cases: MeshCase[] = [];
  const check = (sequence: number, label: string | undefined): number => {
    const want = expected[sequence % texts.length];
    if (want !== undefined && label !== want) throw new Error(`text ${sequence % texts.length}: got ${label}, ONNX Runtime says ${want}`);
    return 1;
  };
  const measure = async (kind: MeshCaseKind, concurrency: number, issue: (sequence: number) => Promise<number>, pids: readonly number[]) => {
    const measurement = await runClosedLoop({ concurrency, warmupMs, durationMs, issue: (_, sequence) => issue(sequence), servicePids: pids });
    const cpuSeconds = measurement.benchCpu.seconds + (measurement.serviceCpu?.seconds ?? 0);
    const result: MeshCase = { kind, measurement, cpuMsPerThousandRequests: measurement.requests > 0 ? (cpuSeconds * 1e6) / measurement.requests : NaN };
    cases.push(result);
    log(`[${++step}/${total}] ${kind}, ${concurrency} caller${concurrency === 1 ? '' : 's'} ... ${describe(measurement)}, ${num(result.cpuMsPerThousandRequests)} CPU ms/1k req`);
    if (measurement.errors + measurement.warmupErrors > 0) {
      problems.push(`${kind} at ${concurrency}: ${measurement.errors} errors (+${measurement.warmupErrors} in warm-up), e.g. ${measurement.errorSamples.join(' | ')}`);
    }
  };

  // 3. The same parts in one process.
  const inProcess = await InProcessPipeline.start(repository, model, version, process.env);
  try {
    for (const concurrency of options.concurrency) {
      await measure('in-process pipeline', concurrency, async (sequence) => check(sequence, (await inProcess.classify(texts[sequence % texts.length]!))[0]?.label), []);
    }
  } finally {
    await inProcess.close();
  }

  // 4 and 5. The mesh, batching on (unary and streaming), then off.
  const meshes: MeshRun[] = [];
  for (const batching of ['on', 'off'] as const) {
    const env: Record<string, string> = {
      IMESH_MODEL_REPOSITORY: repository,
      IMESH_DEFAULT_MODEL: model,
      IMESH_LOG_LEVEL: 'warn',
      ...(batching === 'off' && { IMESH_GATEWAY_BATCHING: 'off', IMESH_MODEL_BATCHING: 'off' }),
    };
    const logs: string[] = [];
    const started = Date.now();
    let mesh: RunningMesh;
    try {
      mesh = await startMesh({ env, onLog: (service, line) => logs.push(`${service}: ${line}`), readyTimeoutMs: 180_000 });
    } catch (error) {
      problems.push(`the mesh (batching ${batching}) did not start: ${(error as Error).message}`);
      continue;
    }
    const startSeconds = (Date.now() - started) / 1000;
    const pids = MESH_SERVICES.map((service) => mesh.services[service].process.pid!);
    const perService = (read: (pid: number) => number | undefined) =>
      Object.fromEntries(MESH_SERVICES.map((service) => [service, read(mesh.services[service].process.pid!)])) as Partial<Record<MeshService, number>>;
    const idleRssBytes = perService(processRssBytes);
    log(`mesh, batching ${batching}: SERVING after ${startSeconds.toFixed(1)} s; idle RSS ${MESH_SERVICES.map((s) => `${s} ${mib(idleRssBytes[s])} MiB`).join(', ')}`);
    const client = new PipelineClient({ target: mesh.gateway, defaultDeadlineMs: REQUEST_DEADLINE_MS });
    try {
      const unary = async (sequence: number) => check(sequence, (await client.classify([texts[sequence % texts.length]!])).results[0]?.label);
      for (const concurrency of options.concurrency) {
        await measure(batching === 'on' ? 'mesh unary' : 'mesh unary, batching off', concurrency, unary, pids);
      }
      if (batching === 'on') {
        for (const concurrency of options.concurrency) {
          const stream = client.classifyStream({ maxInFlight: concurrency });
          try {
            await measure('mesh streaming', concurrency, async (sequence) => check(sequence, (await stream.send([texts[sequence % texts.length]!]) as ClassifyResponse).results[0]?.label), pids);
          } finally {
            await stream.close().catch(() => undefined);
          }
        }
      }
    } finally {
      client.close();
      const peakRssBytes = perService(processPeakRssBytes);
      await mesh.stop();
      meshes.push({ batching, env, startSeconds, idleRssBytes, peakRssBytes, logs: logs.slice(0, 50) });
      if (logs.length > 0) log(`    ${logs.length} log lines at warn or above, e.g. ${logs[0]}`);
    }
  }

  const modelBytes = statSync(modelFiles(versionDir).model).size;
  const errors = [...rawOrt.map((c) => c.measurement), ...cases.map((c) => c.measurement)].reduce((sum, m) => sum + m.errors + m.warmupErrors, 0);
  const result: MeshBenchResult = {
    suite: 'mesh',
    quick: options.quick,
    command: context.command,
    date,
    machine,
    settings: { ...commonSettings(options, context, { versionDir, texts: texts.length, inheritedEnv }), modelBytes },
    rawOrt,
    cases,
    meshes,
    summary: [],
    errors,
    problems,
  };
  const withSummary: MeshBenchResult = { ...result, summary: summarizeMesh(result) };

  log('');
  log(consoleTable(caseTable(withSummary)));
  log('');
  for (const line of withSummary.summary) log(`  (${line.id}) ${line.label}: ${line.value} (target ${line.target}) ${line.verdict}`);
  if (problems.length > 0) {
    log(`PROBLEMS (${problems.length}):`);
    for (const problem of problems) log(`  - ${problem}`);
  }
  const name = options.syntheticBert ? `mesh-${model}` : 'mesh';
  const files = { json: join(context.outDir, `${name}.json`), md: join(context.outDir, `${name}.md`), svg: join(context.outDir, `${name}.svg`) };
  writeFileAtomically(files.json, JSON.stringify(withSummary, jsonNumbers, 2) + '\n');
  writeFileAtomically(files.md, markdownReport(withSummary, `${name}.svg`));
  writeFileAtomically(files.svg, chart(withSummary));
  log(`wrote ${Object.values(files).map((f) => relative(process.cwd(), f) || f).join(', ')}`);
  return withSummary;
}

/** The label ONNX Runtime gives each text, or undefined where its top two logits nearly tie. */
export function expectedLabels(logits: Float32Array, numLabels: number, labels: readonly string[]): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  for (let row = 0; row * numLabels < logits.length; row++) {
    let best = 0;
    let second = -Infinity;
    for (let i = 1; i < numLabels; i++) {
      const value = logits[row * numLabels + i]!;
      if (value > logits[row * numLabels + best]!) {
        second = logits[row * numLabels + best]!;
        best = i;
      } else second = Math.max(second, value);
    }
    if (numLabels === 1) second = -Infinity;
    out.push(logits[row * numLabels + best]! - second > LABEL_MARGIN ? labels[best] : undefined);
  }
  return out;
}

function findCase(result: MeshBenchResult, kind: MeshCaseKind, concurrency: number): MeshCase | undefined {
  return result.cases.find((c) => c.kind === kind && c.measurement.concurrency === concurrency);
}

function bestOf(result: MeshBenchResult, kind: MeshCaseKind): MeshCase | undefined {
  let best: MeshCase | undefined;
  for (const c of result.cases) if (c.kind === kind && (!best || c.measurement.rowsPerSecond > best.measurement.rowsPerSecond)) best = c;
  return best;
}

export function summarizeMesh(result: MeshBenchResult): MeshSummaryLine[] {
  const lines: MeshSummaryLine[] = [];
  const best = bestOf(result, 'in-process pipeline');
  const callers = result.settings.concurrency.includes(64) ? 64 : Math.max(...result.settings.concurrency);
  const share = (id: string, kind: MeshCaseKind, target: number) => {
    const c = findCase(result, kind, callers);
    const value = c && best ? ratio(c.measurement.rowsPerSecond, best.measurement.rowsPerSecond) : NaN;
    lines.push({
      id,
      label: `${kind} at ${callers} callers vs the in-process pipeline's best (${best ? `${best.measurement.concurrency} callers` : 'none'})`,
      value: Number.isFinite(value) ? `${num(c!.measurement.rowsPerSecond)} / ${num(best!.measurement.rowsPerSecond)} req/s = ${(value * 100).toFixed(0)}%` : 'not measured',
      target: `>= ${(target * 100).toFixed(0)}%`,
      verdict: Number.isFinite(value) ? (value >= target ? 'PASS' : 'MISS') : 'N/A',
    });
  };
  share('a', 'mesh streaming', MESH_TARGETS.streamingVsInProcess);
  share('b', 'mesh unary', MESH_TARGETS.unaryVsInProcess);
  const meshOne = findCase(result, 'mesh unary', 1);
  const inProcessOne = findCase(result, 'in-process pipeline', 1);
  const added = meshOne && inProcessOne ? meshOne.measurement.latency.p50Ms - inProcessOne.measurement.latency.p50Ms : NaN;
  lines.push({
    id: 'c',
    label: 'added latency at 1 caller: mesh unary p50 minus in-process pipeline p50',
    value: Number.isFinite(added) ? `${meshOne!.measurement.latency.p50Ms.toFixed(2)} - ${inProcessOne!.measurement.latency.p50Ms.toFixed(2)} = ${added.toFixed(2)} ms` : 'not measured',
    target: `<= ${MESH_TARGETS.addedLatencyMs} ms`,
    verdict: Number.isFinite(added) ? (added <= MESH_TARGETS.addedLatencyMs ? 'PASS' : 'MISS') : 'N/A',
  });
  const idle = result.meshes.find((m) => m.batching === 'on')?.idleRssBytes;
  for (const service of MESH_SERVICES) {
    const bytes = idle?.[service];
    const limit = service === 'model' ? MESH_TARGETS.idleRssModelBaseBytes + result.settings.modelBytes : MESH_TARGETS.idleRssNonModelBytes;
    lines.push({
      id: `d-${service}`,
      label: `idle RSS of ${service}`,
      value: bytes === undefined ? 'not measured' : `${mib(bytes)} MiB`,
      target: `<= ${mib(limit)} MiB${service === 'model' ? ` (250 + model ${mib(result.settings.modelBytes)})` : ''}`,
      verdict: bytes === undefined ? 'N/A' : bytes <= limit ? 'PASS' : 'MISS',
    });
  }
  return lines;
}

function caseTable(result: MeshBenchResult): Table {
  const rows: string[][] = [];
  for (const c of result.rawOrt) {
    const m = c.measurement;
    rows.push([`ONNX Runtime in-process, batch ${c.batchSize}`, '1', num(m.rowsPerSecond), num(m.latency.p50Ms, 2), num(m.latency.p95Ms, 2), num(m.latency.p99Ms, 2), num((m.benchCpu.seconds * 1e6) / Math.max(1, m.rows)), count(m.errors)]);
  }
  for (const kind of MESH_CASES) {
    for (const concurrency of result.settings.concurrency) {
      const c = findCase(result, kind, concurrency);
      if (!c) continue;
      const m = c.measurement;
      rows.push([kind, String(concurrency), num(m.rowsPerSecond), num(m.latency.p50Ms, 2), num(m.latency.p95Ms, 2), num(m.latency.p99Ms, 2), num(c.cpuMsPerThousandRequests), count(m.errors)]);
    }
  }
  return {
    headers: ['case', 'callers', 'texts/s', 'p50 ms', 'p95 ms', 'p99 ms', 'CPU ms/1k texts', 'errors'],
    rows,
  };
}

function memoryTable(result: MeshBenchResult): Table {
  return {
    headers: ['mesh', ...MESH_SERVICES.flatMap((s) => [`${s} idle MiB`, `${s} peak MiB`])],
    rows: result.meshes.map((m) => [`batching ${m.batching}`, ...MESH_SERVICES.flatMap((s) => [mib(m.idleRssBytes[s]), mib(m.peakRssBytes[s])])]),
  };
}

function markdownReport(result: MeshBenchResult, svgName: string): string {
  const s = result.settings;
  return [
    `# Mesh benchmark: the pipeline through the gateway vs the same parts in one process${result.quick ? ' (QUICK: smoke test)' : ''}`,
    '',
    `Command: \`${result.command}\``,
    '',
    `Run ${result.date} on ${result.machine.cpuCount} x ${result.machine.cpuModel}, Node ${result.machine.node}; load average at start ` +
      `${result.machine.loadAverageAtStart.join(' ')}. The bench (load generator and in-process cases) and the four services share the cores.`,
    '',
    `Model \`${s.model}\` version ${s.version} (\`${s.versionDir}\`, ${mib(s.modelBytes)} MiB). ${s.texts} texts from SST-2 dev.tsv, one per ` +
      `request; closed loop, ${s.warmupS} s warm-up and ${s.durationS} s measured per case. Every answer is checked against ONNX Runtime ` +
      'in-process (a wrong label is an error). `CPU ms/1k texts` counts the bench and all four services.',
    '',
    'Cases: ONNX Runtime in-process (one session, one batch at a time, texts sorted by length into batches); the in-process pipeline (tokenizer, the model service\'s ' +
      'dynamic batcher and ONNX Runtime worker, and postprocess in one process, no RPC); the mesh over unary `Classify` calls; the mesh ' +
      'over one `ClassifyStream`; the mesh with batching off in the gateway and the model service.',
    '',
    markdownSection('Summary', {
      headers: ['', 'comparison', 'value', 'target', 'verdict'],
      align: ['l', 'l', 'l', 'l', 'l'],
      rows: result.summary.map((l) => [`(${l.id})`, l.label, l.value, l.target, l.verdict === 'MISS' ? '**MISS**' : l.verdict]),
    }),
    problemsParagraph(result.errors, result.problems),
    '',
    `![throughput and p99 latency against concurrency](${svgName})`,
    '',
    markdownSection('Throughput and latency', caseTable(result)),
    markdownSection('Memory (RSS per service process)', memoryTable(result)),
  ].join('\n');
}

function chart(result: MeshBenchResult): string {
  const categories = result.settings.concurrency.map(String);
  const series = (value: (c: MeshCase) => number) =>
    MESH_CASES.map((kind) => ({ name: kind, values: result.settings.concurrency.map((level) => { const c = findCase(result, kind, level); return c ? value(c) : undefined; }) }));
  const best = bestRawOrt(result.rawOrt);
  const one = result.rawOrt.find((c) => c.batchSize === 1);
  return categoryChartSvg({
    title: `Mesh vs in-process${result.quick ? ' (quick run)' : ''}: ${result.settings.model}/${result.settings.version}, ${result.machine.cpuCount} CPUs`,
    yLabel: 'texts/s (left) · p99 ms (right)',
    panels: [
      { title: 'throughput (texts/s)', xLabel: 'concurrent callers', categories, series: series((c) => c.measurement.rowsPerSecond) },
      { title: 'p99 latency (ms)', xLabel: 'concurrent callers', categories, series: series((c) => c.measurement.latency.p99Ms) },
    ],
    references: [
      ...(best ? [{ name: `ORT in-process, batch ${best.batchSize} (best)`, value: best.measurement.rowsPerSecond }] : []),
      ...(one && one !== best ? [{ name: 'ORT in-process, batch 1', value: one.measurement.rowsPerSecond }] : []),
    ],
  });
}

function describe(m: CaseMeasurement): string {
  return `${num(m.rowsPerSecond)} texts/s, p50 ${m.latency.p50Ms.toFixed(2)} ms, p99 ${m.latency.p99Ms.toFixed(2)} ms${m.errors ? `, ${m.errors} errors` : ''}`;
}

import { tokenizerFingerprint, modelFiles } from '@inference-mesh/model-repository';
import { readSst2, sst2Dir } from '@inference-mesh/model-tools';
import { categoryChartSvg, ratio, runClosedLoop, type CaseMeasurement } from '@inference-mesh/tool-kit';
import { join, relative } from 'node:path';
import { byLength, encoderFor, fullBatches, permuteRows, meanSequenceLength, tokenizeInBatches, type TokenizedBatch } from './inputs';
import { ModelInferClient, prepareRequests, REQUEST_DEADLINE_MS, type ExpectedLogits, type PreparedRequest } from './model-client';
import { bestRawOrt, createServiceLikeSession, measureRawOrt, referenceLogits, serviceSessionOptions, type RawOrtCase } from './raw-ort';
import { consoleTable, count, jsonNumbers, markdownSection, mib, num, problemsParagraph, writeFileAtomically, type MachineInfo, type Table } from './report';
import { startBenchService, type BenchService } from './service-process';
import { commonSettings, type BenchResult, type CommonSettings, type Verdict } from './results';
import { DEFAULT_BENCH_MODEL, type BenchOptions } from './args';
import { startSuite, type SuiteContext } from './suite-context';
export type { SuiteContext };

/** model.* for the default model, model-<name>.* for another, so runs of both can sit side by side. */
function reportName(settings: { readonly model: { readonly name: string } | string }): string {
  const name = typeof settings.model === 'string' ? settings.model : settings.model.name;
  return name === DEFAULT_BENCH_MODEL.name ? 'model' : `model-${name}`;
}

/** How far a served logit may stray from in-process ONNX Runtime's: rows padded differently sum in another order. */
export const LOGIT_TOLERANCE = 1e-3;

export const TARGETS = {
  /** Batching on vs off, single-row callers at the highest concurrency. */
  batchingGain: 1.5,
  /** Best multi-row case with batching on vs ONNX Runtime in-process at its best batch size. */
  multiRowVsRawOrt: 0.85,
} as const;

export type Batching = 'on' | 'off';
export type { RawOrtCase };


export interface ServiceCase {
  readonly batching: Batching;
  readonly requestRows: number;
  readonly measurement: CaseMeasurement;
}

export interface ServiceRun {
  readonly batching: Batching;
  readonly env: Readonly<Record<string, string>>;
  readonly address?: string | undefined;
  readonly startSeconds?: number | undefined;
  /** How the process ended: after stop() normally 'exit code 0'. */
  readonly ended?: string | undefined;
  readonly crashed?: string | undefined;
  readonly startError?: string | undefined;
  readonly peakRssBytes?: number | undefined;
  /** Its log lines at warn or above (the first 50). */
  readonly logs: readonly string[];
  readonly logLines: number;
}

export interface SummaryLine {
  readonly id: 'a' | 'b' | 'c';
  readonly label: string;
  readonly numerator: { readonly label: string; readonly rowsPerSecond: number | undefined };
  readonly denominator: { readonly label: string; readonly rowsPerSecond: number | undefined };
  readonly ratio: number;
  /** Minimum ratio; undefined where the line only reports. */
  readonly target: number | undefined;
  readonly verdict: Verdict;
}

export interface ModelSettings extends CommonSettings, Pick<BenchOptions, 'batchConcurrency' | 'requestRows'> {
  readonly dataset: string;
  readonly singleRowRequests: number;
  readonly multiRowRequests: number;
  readonly meanSequenceLengthSingleRow: number;
  readonly meanSequenceLengthMultiRow: number;
  readonly requestDeadlineMs: number;
  readonly logitTolerance: number;
  readonly ortSessionOptions: unknown;
}

export interface ModelBenchResult extends BenchResult<'model', ModelSettings> {
  readonly rawOrt: readonly RawOrtCase[];
  readonly serviceCases: readonly ServiceCase[];
  readonly services: readonly ServiceRun[];
  readonly summary: readonly SummaryLine[];
}

/**
 * The service's environment per mode (IMESH_MODEL_REPOSITORY is added so service and bench read one repository).
 * IMESH_* settings in the bench's own environment win over these, so a setting can be tried without editing code.
 */
export function serviceEnv(batching: Batching): Record<string, string> {
  const fromShell = Object.fromEntries(
    Object.entries(process.env).filter((entry): entry is [string, string] => entry[0].startsWith('IMESH_MODEL_') && entry[1] !== undefined),
  );
  return {
    IMESH_MODEL_MAX_QUEUE_DELAY_US: '2000',
    IMESH_MODEL_MAX_BATCH_SIZE: '128',
    IMESH_LOG_LEVEL: 'warn',
    ...fromShell,
    IMESH_MODEL_BATCHING: batching,
  };
}

export async function runModelSuite(options: BenchOptions, context: SuiteContext): Promise<ModelBenchResult> {
  const { log } = context;
  const { name: MODEL, version: VERSION } = options.model;
  const { date, machine, repository, versionDir, warmupMs, durationMs, inheritedEnv, problems } = await startSuite('model', options, context);
  const { requestRows } = options;

  // 1. Inputs, tokenised once.
  const prepareStarted = Date.now();
  const datasetPath = join(sst2Dir(), 'dev.tsv');
  const texts = readSst2('dev').map((row) => row.text).filter((text) => text !== '').slice(0, options.texts ?? Infinity);
  const encoder = encoderFor(versionDir);
  const singleBatches = await tokenizeInBatches(encoder, texts, 1);
  // Multi-row requests and the in-process batches group texts of similar length, as a bulk client would; single-row
  // callers keep the dataset's order, so concurrent single rows vary in length as real traffic does.
  const { sorted: sortedTexts, order: sortedOrder } = byLength(texts, singleBatches.map((b) => b.sequenceLength));
  const multiBatches = fullBatches(await tokenizeInBatches(encoder, sortedTexts, requestRows), requestRows);
  if (multiBatches.length === 0) throw new Error(`${datasetPath} has fewer than ${requestRows} texts`);
  const target = { model: MODEL, version: VERSION, tokenizerFingerprint: tokenizerFingerprint(modelFiles(versionDir).tokenizer) };
  const singleRequests = prepareRequests(singleBatches, target, 'bench-1');
  const multiRequests = prepareRequests(multiBatches, target, `bench-${requestRows}`);
  const ortBatches = new Map<number, TokenizedBatch[]>();
  for (const size of options.ortBatchSizes) {
    const batches = fullBatches(await tokenizeInBatches(encoder, sortedTexts, size), size);
    if (batches.length === 0) throw new Error(`${datasetPath} has fewer than ${size} texts (--ort-batch-sizes)`);
    ortBatches.set(size, batches);
  }
  const tokenisedSeconds = (Date.now() - prepareStarted) / 1000;
  const ortSessionOptions = serviceSessionOptions();
  const session = await createServiceLikeSession(versionDir, ortSessionOptions);
  let expected: ExpectedLogits;
  let expectedSorted: ExpectedLogits;
  const rawOrt: RawOrtCase[] = [];
  const total = options.ortBatchSizes.length + 2 * (options.concurrency.length + options.batchConcurrency.length);
  let step = 0;
  try {
    const referenceStarted = Date.now();
    const reference = await referenceLogits(session, await tokenizeInBatches(encoder, texts, 64), texts.length);
    expected = { ...reference, tolerance: LOGIT_TOLERANCE };
    expectedSorted = { ...expected, logits: permuteRows(reference.logits, reference.labels, sortedOrder) };
    const referenceSeconds = (Date.now() - referenceStarted) / 1000;
    log(
      `inputs: ${texts.length} texts from ${relative(context.repoRoot, datasetPath)}: ${singleRequests.length} single-row requests ` +
        `(mean length ${meanSequenceLength(singleBatches).toFixed(1)} tokens), ${multiRequests.length} ${requestRows}-row requests ` +
        `(padded to ${meanSequenceLength(multiBatches).toFixed(1)}), tokenised in ${tokenisedSeconds.toFixed(1)} s; reference logits ` +
        `in-process in ${referenceSeconds.toFixed(1)} s`,
    );

    // 2. ONNX Runtime in-process, sequential, per batch size.
    for (const size of options.ortBatchSizes) {
      const label = `[${++step}/${total}] ONNX Runtime in-process, batch ${size}`;
      const rawCase = await measureRawOrt(session, size, ortBatches.get(size)!, warmupMs, durationMs);
      rawOrt.push(rawCase);
      log(`${label} ... ${describe(rawCase.measurement)}`);
    }
  } finally {
    // Its thread pool must not compete with the service for the cores.
    await session.release();
  }

  // 3 and 4. The service, batching on, then off.
  const serviceCases: ServiceCase[] = [];
  const services: ServiceRun[] = [];
  for (const batching of ['on', 'off'] as const) {
    const env = { ...serviceEnv(batching), IMESH_MODEL_REPOSITORY: repository };
    const cases = [
      ...options.concurrency.map((concurrency) => ({ concurrency, requests: singleRequests, rows: 1, answers: expected })),
      ...options.batchConcurrency.map((concurrency) => ({ concurrency, requests: multiRequests, rows: requestRows, answers: expectedSorted })),
    ];
    let service: BenchService;
    const started = Date.now();
    try {
      service = await startBenchService('model', env);
    } catch (error) {
      const message = `model service (batching ${batching}) did not start: ${(error as Error).message}`;
      problems.push(message);
      log(message);
      services.push({ batching, env, startError: (error as Error).message, logs: [], logLines: 0 });
      step += cases.length;
      continue;
    }
    const startSeconds = (Date.now() - started) / 1000;
    log(`model service, batching ${batching}: pid ${service.pid} at ${service.address}, SERVING after ${startSeconds.toFixed(1)} s`);
    let printedLogs = 0;
    const printNewLogs = () => {
      for (; printedLogs < service.logs.length && printedLogs < 20; printedLogs++) log(`    service log: ${service.logs[printedLogs]}`);
    };
    let peakRssBytes: number | undefined;
    for (const { concurrency, requests, rows, answers } of cases) {
      const label = `[${++step}/${total}] model service, ${caseName(batching, concurrency, rows)}`;
      const crash = service.exitedEarly();
      if (crash) {
        log(`${label} ... skipped: the service exited (${crash})`);
        continue;
      }
      let measurement: CaseMeasurement;
      try {
        measurement = await measureService(service, requests, concurrency, target, answers, warmupMs, durationMs);
      } catch (error) {
        const message = `${caseName(batching, concurrency, rows)}: ${(error as Error).message}`;
        problems.push(message);
        log(`${label} ... FAILED: ${(error as Error).message}`);
        continue;
      }
      peakRssBytes = measurement.servicePeakRssBytes ?? peakRssBytes;
      serviceCases.push({ batching, requestRows: rows, measurement });
      log(`${label} ... ${describe(measurement)}`);
      printNewLogs();
    }
    const crashed = service.exitedEarly();
    if (crashed) problems.push(`model service (batching ${batching}) exited during the run: ${crashed}`);
    const ended = await service.stop();
    printNewLogs();
    if (!crashed && ended !== 'exit code 0') problems.push(`model service (batching ${batching}) ended with ${ended} after SIGTERM`);
    log(`model service, batching ${batching}: stopped (${ended}), peak RSS ${mib(peakRssBytes)} MiB, ${service.logs.length} log lines at warn or above`);
    services.push({
      batching,
      env,
      address: service.address,
      startSeconds,
      ended,
      crashed,
      peakRssBytes,
      logs: service.logs.slice(0, 50),
      logLines: service.logs.length,
    });
  }

  // 5. Summary.
  const summary = summarize(rawOrt, serviceCases, options);
  const requestErrors = [...rawOrt.map((c) => c.measurement), ...serviceCases.map((c) => c.measurement)].reduce(
    (sum, m) => sum + m.errors + m.warmupErrors,
    0,
  );
  for (const c of rawOrt) {
    if (c.measurement.errors + c.measurement.warmupErrors > 0) {
      problems.push(`ONNX Runtime in-process, batch ${c.batchSize}: ${c.measurement.errors} errors, e.g. ${c.measurement.errorSamples.join(' | ')}`);
    }
  }
  for (const c of serviceCases) {
    if (c.measurement.errors + c.measurement.warmupErrors > 0) {
      problems.push(
        `${caseName(c.batching, c.measurement.concurrency, c.requestRows)}: ${c.measurement.errors} errors ` +
          `(+${c.measurement.warmupErrors} in warm-up), e.g. ${c.measurement.errorSamples.join(' | ')}`,
      );
    }
  }
  const result: ModelBenchResult = {
    suite: 'model',
    quick: options.quick,
    command: context.command,
    date,
    machine,
    settings: {
      ...commonSettings(options, context, { versionDir, texts: texts.length, inheritedEnv }),
      batchConcurrency: options.batchConcurrency,
      requestRows,
      dataset: relative(context.repoRoot, datasetPath),
      singleRowRequests: singleRequests.length,
      multiRowRequests: multiRequests.length,
      meanSequenceLengthSingleRow: meanSequenceLength(singleBatches),
      meanSequenceLengthMultiRow: meanSequenceLength(multiBatches),
      requestDeadlineMs: REQUEST_DEADLINE_MS,
      logitTolerance: LOGIT_TOLERANCE,
      ortSessionOptions,
    },
    rawOrt,
    serviceCases,
    services,
    summary,
    errors: requestErrors,
    problems,
  };

  // 6. Outputs.
  log('');
  log(consoleTable(rawOrtTable(result)));
  log('');
  log(consoleTable(serviceTable(result)));
  log('');
  for (const line of summaryLines(result)) log(line);
  if (problems.length > 0) {
    log('');
    log(`PROBLEMS (${problems.length}):`);
    for (const problem of problems) log(`  - ${problem}`);
  }
  const files = {
    json: join(context.outDir, `${reportName(options)}.json`),
    md: join(context.outDir, `${reportName(options)}.md`),
    svg: join(context.outDir, `${reportName(options)}.svg`),
  };
  writeFileAtomically(files.json, JSON.stringify(result, jsonNumbers, 2) + '\n');
  writeFileAtomically(files.md, markdownReport(result));
  writeFileAtomically(files.svg, chart(result));
  log('');
  log(`wrote ${Object.values(files).map((f) => relative(process.cwd(), f) || f).join(', ')}`);
  return result;
}

async function measureService(
  service: BenchService,
  requests: readonly PreparedRequest[],
  concurrency: number,
  target: { model: string; version: string; tokenizerFingerprint: string },
  expected: ExpectedLogits,
  warmupMs: number,
  durationMs: number,
): Promise<CaseMeasurement> {
  const client = new ModelInferClient(service.address, target, expected);
  try {
    await client.waitForReady(10_000);
    return await runClosedLoop({
      concurrency,
      warmupMs,
      durationMs,
      servicePid: service.pid,
      issue: (_, sequence) => client.infer(requests[sequence % requests.length]!),
    });
  } finally {
    client.close();
  }
}

function caseName(batching: Batching, concurrency: number, rows: number): string {
  return `batching ${batching}, ${concurrency} caller${concurrency === 1 ? '' : 's'} x ${rows} row${rows === 1 ? '' : 's'}`;
}

function describe(m: CaseMeasurement): string {
  const errors = m.errors + m.warmupErrors > 0 ? `, ${m.errors} ERRORS (+${m.warmupErrors} in warm-up): ${m.errorSamples[0] ?? ''}` : '';
  const service = m.serviceCpu ? `, service ${m.serviceCpu.cores.toFixed(2)} cores` : '';
  return `${count(m.rowsPerSecond)} rows/s, ${count(m.requestsPerSecond)} req/s, p50 ${num(m.latency.p50Ms, 2)} ms, p99 ${num(m.latency.p99Ms, 2)} ms${service}${errors}`;
}

/** The best raw ONNX Runtime case by rows/s. */
function findCase(cases: readonly ServiceCase[], batching: Batching, rows: number, concurrency: number): ServiceCase | undefined {
  return cases.find((c) => c.batching === batching && c.requestRows === rows && c.measurement.concurrency === concurrency);
}

export function summarize(rawOrt: readonly RawOrtCase[], cases: readonly ServiceCase[], options: BenchOptions): SummaryLine[] {
  const best = bestRawOrt(rawOrt);
  const bestLabel = best ? `ONNX Runtime in-process, best batch (${best.batchSize})` : 'ONNX Runtime in-process, best batch';
  const callers = options.concurrency.includes(64) ? 64 : Math.max(...options.concurrency);
  const on = findCase(cases, 'on', 1, callers);
  const off = findCase(cases, 'off', 1, callers);
  const multiOn = cases
    .filter((c) => c.batching === 'on' && c.requestRows === options.requestRows)
    .reduce<ServiceCase | undefined>((b, c) => (!b || c.measurement.rowsPerSecond > b.measurement.rowsPerSecond ? c : b), undefined);
  const usable = (c: ServiceCase | undefined) => (c && c.measurement.errors === 0 ? c.measurement.rowsPerSecond : undefined);
  const line = (
    id: SummaryLine['id'],
    label: string,
    numerator: SummaryLine['numerator'],
    denominator: SummaryLine['denominator'],
    targetRatio: number | undefined,
  ): SummaryLine => {
    const value = ratio(numerator.rowsPerSecond ?? Number.NaN, denominator.rowsPerSecond ?? Number.NaN);
    const verdict: Verdict = !Number.isFinite(value) ? 'N/A' : targetRatio === undefined ? 'REPORT' : value >= targetRatio ? 'PASS' : 'MISS';
    return { id, label, numerator, denominator, ratio: value, target: targetRatio, verdict };
  };
  return [
    line(
      'a',
      `batching on vs off, ${callers} single-row callers`,
      { label: `batching on, ${callers} x 1 row`, rowsPerSecond: usable(on) },
      { label: `batching off, ${callers} x 1 row`, rowsPerSecond: usable(off) },
      TARGETS.batchingGain,
    ),
    line(
      'b',
      `best ${options.requestRows}-row case with batching on vs ONNX Runtime in-process at its best batch`,
      {
        label: multiOn ? `batching on, ${multiOn.measurement.concurrency} x ${options.requestRows} rows` : `batching on, ${options.requestRows} rows`,
        rowsPerSecond: usable(multiOn),
      },
      { label: bestLabel, rowsPerSecond: best?.measurement.rowsPerSecond },
      TARGETS.multiRowVsRawOrt,
    ),
    line(
      'c',
      `${callers} single-row callers with batching on vs ONNX Runtime in-process at its best batch`,
      { label: `batching on, ${callers} x 1 row`, rowsPerSecond: usable(on) },
      { label: bestLabel, rowsPerSecond: best?.measurement.rowsPerSecond },
      undefined,
    ),
  ];
}

function summaryLines(result: ModelBenchResult): string[] {
  const lines = [`SUMMARY${result.quick ? ' (quick run: smoke test only)' : ''}`];
  const best = bestRawOrt(result.rawOrt);
  const one = result.rawOrt.find((c) => c.batchSize === 1);
  if (best) {
    lines.push(
      `  ONNX Runtime in-process: batch 1 ${count(one?.measurement.rowsPerSecond)} rows/s, ` +
        `best batch ${best.batchSize} ${count(best.measurement.rowsPerSecond)} rows/s`,
    );
  }
  for (const s of result.summary) {
    const target = s.target === undefined ? 'report only' : `target >= ${formatRatio(s.target)}`;
    lines.push(
      `  (${s.id}) ${s.label}: ${count(s.numerator.rowsPerSecond)} / ${count(s.denominator.rowsPerSecond)} rows/s = ` +
        `${formatRatio(s.ratio)} (${target}) ${s.verdict}`,
    );
  }
  lines.push(
    result.errors > 0 || result.problems.length > 0
      ? `  ${result.errors} failed requests, ${result.problems.length} problems: see below`
      : '  no errors',
  );
  return lines;
}

function formatRatio(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value < 1 ? `${(value * 100).toFixed(0)}%` : `${value.toFixed(2)}x`;
}

function rawOrtTable(result: ModelBenchResult): Table {
  return {
    headers: ['ONNX Runtime in-process', 'rows/s', 'runs/s', 'p50 ms', 'p99 ms', 'mean tokens', 'CPU cores', 'CPU ms/1k rows', 'errors'],
    rows: result.rawOrt.map(({ batchSize, meanSequenceLength, measurement: m }) => [
      `batch ${batchSize}`,
      count(m.rowsPerSecond),
      count(m.requestsPerSecond),
      num(m.latency.p50Ms, 2),
      num(m.latency.p99Ms, 2),
      num(meanSequenceLength, 1),
      num(m.benchCpu.cores, 2),
      num(m.benchCpu.msPerThousandRows, 0),
      String(m.errors),
    ]),
  };
}

function serviceTable(result: ModelBenchResult): Table {
  const best = bestRawOrt(result.rawOrt)?.measurement.rowsPerSecond;
  return {
    headers: [
      'model service',
      'rows/req',
      'callers',
      'rows/s',
      'req/s',
      'p50 ms',
      'p95 ms',
      'p99 ms',
      'errors',
      '% raw best',
      'svc cores',
      'svc CPU ms/1k rows',
      'bench cores',
      'svc peak RSS MiB',
    ],
    rows: result.serviceCases.map(({ batching, requestRows, measurement: m }) => [
      `batching ${batching}`,
      String(requestRows),
      String(m.concurrency),
      count(m.rowsPerSecond),
      count(m.requestsPerSecond),
      num(m.latency.p50Ms, 2),
      num(m.latency.p95Ms, 2),
      num(m.latency.p99Ms, 2),
      m.warmupErrors > 0 ? `${m.errors} (+${m.warmupErrors})` : String(m.errors),
      num(ratio(m.rowsPerSecond, best ?? Number.NaN) * 100, 0),
      num(m.serviceCpu?.cores, 2),
      num(m.serviceCpu?.msPerThousandRows, 0),
      num(m.benchCpu.cores, 2),
      mib(m.servicePeakRssBytes),
    ]),
  };
}

function summaryTable(result: ModelBenchResult): Table {
  return {
    headers: ['', 'comparison', 'rows/s', 'vs rows/s', 'ratio', 'target', 'verdict'],
    align: ['l', 'l', 'r', 'r', 'r', 'r', 'l'],
    rows: result.summary.map((s) => [
      `(${s.id})`,
      `${s.numerator.label} vs ${s.denominator.label}`,
      count(s.numerator.rowsPerSecond),
      count(s.denominator.rowsPerSecond),
      formatRatio(s.ratio),
      s.target === undefined ? 'report' : `>= ${formatRatio(s.target)}`,
      `**${s.verdict}**`,
    ]),
  };
}

function markdownReport(result: ModelBenchResult): string {
  const { machine, settings } = result;
  const best = bestRawOrt(result.rawOrt);
  const one = result.rawOrt.find((c) => c.batchSize === 1);
  const lines = [
    `# Model service benchmark: dynamic batching on and off vs ONNX Runtime in-process`,
    '',
    result.quick ? '> **Quick run** (`--quick`): a smoke test with very short cases; the numbers are not a measurement.\n' : '',
    `Command: \`${result.command}\``,
    '',
    `Run ${result.date} on ${machine.cpuCount} x ${machine.cpuModel} (${mib(machine.totalMemoryBytes)} MiB), ${machine.platform} ${machine.osRelease}, ` +
      `Node ${machine.node}, onnxruntime-node ${machine.onnxruntimeNode}, @grpc/grpc-js ${machine.grpcJs}; ` +
      `load average at start ${machine.loadAverageAtStart.join(' ')}. The bench and the service share the machine's cores.`,
    '',
    `Model \`${settings.model}\` version ${settings.version} (\`${settings.versionDir}\`). Inputs: ${settings.texts} texts from ` +
      `\`${settings.dataset}\`, tokenised once: ${settings.singleRowRequests} single-row requests (each padded to its own length, ` +
      `mean ${settings.meanSequenceLengthSingleRow.toFixed(1)} tokens) and ${settings.multiRowRequests} ${settings.requestRows}-row requests ` +
      `(texts sorted by token count, then ${settings.requestRows} at a time, as a bulk client batches them, padded to their longest: mean ${settings.meanSequenceLengthMultiRow.toFixed(1)} tokens; the in-process batches are formed the same way), raw INT64 ` +
      `\`input_ids\` and \`attention_mask\` with the \`tokenizer_fingerprint\` parameter; callers cycle through them. ` +
      `Closed loop: each caller sends its next request when the previous one is answered; ${settings.warmupS} s warm-up, then ` +
      `${settings.durationS} s measured per case. Every answer is checked against in-process logits (tolerance ${settings.logitTolerance}); ` +
      `a wrong answer counts as an error.`,
    '',
    `ONNX Runtime in-process uses the service's session options (${JSON.stringify(settings.ortSessionOptions)}; intra-op threads ` +
      `left to ONNX Runtime unless IMESH_MODEL_INTRA_OP_THREADS is set, as in the service), one run at a time, before any service starts.`,
    '',
    `Service environment: batching on \`${envLine(result, 'on')}\`; batching off \`${envLine(result, 'off')}\`` +
      (Object.keys(settings.inheritedEnv).length > 0
        ? `; both also inherited \`${Object.entries(settings.inheritedEnv).map(([k, v]) => `${k}=${v}`).join(' ')}\` from the bench's environment.`
        : '.'),
    '',
    markdownSection('Summary', summaryTable(result)),
    best
      ? `ONNX Runtime in-process: batch 1 gives ${count(one?.measurement.rowsPerSecond)} rows/s, the best batch (${best.batchSize}) ` +
        `${count(best.measurement.rowsPerSecond)} rows/s.`
      : '',
    '',
    problemsParagraph(result.errors, result.problems),
    '',
    `![rows/s vs concurrency, batching on and off, with ONNX Runtime in-process as reference](${reportName(result.settings)}.svg)`,
    '',
    markdownSection('ONNX Runtime in-process', rawOrtTable(result)),
    markdownSection('Model service over gRPC', serviceTable(result)),
    '`% raw best`: rows/s as a share of ONNX Runtime in-process at its best batch. `svc cores`, `bench cores`: CPU seconds ' +
      'per second of the service process (every thread) and of the bench process during the measured window. ' +
      '`svc peak RSS`: the service process\'s VmHWM so far. Errors in brackets happened during warm-up.',
    '',
  ];
  for (const service of result.services) {
    if (service.logLines > 0) {
      lines.push(`Service log (batching ${service.batching}, ${service.logLines} lines at warn or above, first ${service.logs.length}):`, '', '```');
      lines.push(...service.logs.slice(0, 10), '```', '');
    }
  }
  return lines.filter((line, i, all) => !(line === '' && all[i - 1] === '')).join('\n');
}

function envLine(result: ModelBenchResult, batching: Batching): string {
  const service = result.services.find((s) => s.batching === batching);
  const env = service?.env ?? serviceEnv(batching);
  return Object.entries(env)
    .filter(([name]) => name !== 'IMESH_MODEL_REPOSITORY')
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
}

function chart(result: ModelBenchResult): string {
  const best = bestRawOrt(result.rawOrt);
  const one = result.rawOrt.find((c) => c.batchSize === 1);
  const { concurrency, batchConcurrency, requestRows } = result.settings;
  const values = (batching: Batching, rows: number, levels: readonly number[]) =>
    levels.map((level) => findCase(result.serviceCases, batching, rows, level)?.measurement.rowsPerSecond);
  return categoryChartSvg({
    title: `Model service throughput${result.quick ? ' (quick run)' : ''}: ${result.settings.model}/${result.settings.version}, ${result.machine.cpuCount} CPUs`,
    yLabel: 'rows/s',
    panels: [
      {
        title: 'single-row requests',
        xLabel: 'concurrent callers',
        categories: concurrency.map(String),
        series: [
          { name: 'batching on', values: values('on', 1, concurrency) },
          { name: 'batching off', values: values('off', 1, concurrency) },
        ],
      },
      {
        title: `${requestRows}-row requests`,
        xLabel: 'concurrent callers',
        categories: batchConcurrency.map(String),
        series: [
          { name: 'batching on', values: values('on', requestRows, batchConcurrency) },
          { name: 'batching off', values: values('off', requestRows, batchConcurrency) },
        ],
      },
    ],
    references: [
      ...(best ? [{ name: `ORT in-process, batch ${best.batchSize} (best)`, value: best.measurement.rowsPerSecond }] : []),
      ...(one && one !== best ? [{ name: 'ORT in-process, batch 1', value: one.measurement.rowsPerSecond }] : []),
    ],
  });
}


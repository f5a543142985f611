import { PipelineClient, type ClassifyResponse } from '@inference-mesh/client';
import { MESH_SERVICES, startMesh, type MeshService, type RunningMesh } from '@inference-mesh/launcher';
import { modelFiles, readModelConfig, tokenizerFingerprint } from '@inference-mesh/model-repository';
import { readSst2, sst2Dir } from '@inference-mesh/model-tools';
import { categoryChartSvg, percentile, processCpuSeconds, ratio, runClosedLoop, type CaseMeasurement } from '@inference-mesh/tool-kit';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { BenchOptions } from './args';
import { spawnChildServer, type ChildServer } from './child-server';
import { echoClient } from './echo-server';
import { runImeshOverFile } from './imesh-file';
import { HOPS, hopSizes, INTERNAL_HOPS, type Hop, type HopSize } from './hop-sizes';
import { encoderFor, tokenizeInBatches } from './inputs';
import { expectedLabels } from './mesh-suite';
import { createServiceLikeSession, referenceLogits, serviceSessionOptions } from './raw-ort';
import { consoleTable, count, jsonNumbers, markdownSection, num, problemsParagraph, writeFileAtomically, type Table } from './report';
import { commonSettings, type BenchResult, type CommonSettings, type SummaryLine } from './results';
import { bucketQuantileMs, histogramDelta, meanMs, scrapeRpcHistograms, type RpcHistograms } from './rpc-histograms';
import { startSuite, type SuiteContext } from './suite-context';

/** Issue 14's targets, read by the summary; the bench reports them, it does not fail on them. */
export const OVERHEAD_TARGETS = {
  /** Mesh at the most callers (64) vs the one-process server without cross-request batching, unary and stream. */
  meshVsOneProcess: 1.0,
  /** Mesh unary p50 minus one-process p50 at one caller. */
  addedLatencyMs: 2.0,
  /** Each internal hop's p50 and CPU per call vs the bare echo at the same message sizes. */
  hopVsEcho: 1.5,
  /** imesh classify --file through the mesh vs through the one-process server. */
  bulkVsOneProcess: 0.9,
} as const;

export const SERVERS = ['one-process, batching off', 'one-process, batching on', 'mesh'] as const;
export type ServerKind = (typeof SERVERS)[number];
export const MODES = ['unary', 'stream'] as const;
export type Mode = (typeof MODES)[number];
/** The processes whose CPU a case counts: the bench (the load generator and SDK client) and the servers'. */
export const PROCESSES = ['bench', 'one-process', 'echo', ...MESH_SERVICES] as const;
export type ProcessName = (typeof PROCESSES)[number];

const REQUEST_DEADLINE_MS = 30_000;

/** One hop's calls in a window as the mesh's own histograms saw them (gateway: client side; service: server side). */
export interface MeshHopWindow {
  readonly calls: number;
  /** From the gateway's rpc_client_duration (for Classify: the gateway's rpc_server_duration). */
  readonly clientMeanMs: number;
  /** Interpolated in the histogram's buckets: only as fine as they are. */
  readonly clientP50Ms: number;
  /** The serving process's own rpc_server_duration. */
  readonly serverMeanMs: number;
}

export interface EchoCase extends HopSize {
  readonly measurement: CaseMeasurement;
  /**
   * p50 of the same call made after ECHO_IDLE_GAP_MS of nothing: at one caller every process of the mesh sits idle
   * between its calls, and on this kind of machine waking an idle process costs time a back-to-back loop never pays.
   */
  readonly idleP50Ms: number;
  readonly clientCpuUsPerCall: number;
  readonly serverCpuUsPerCall: number;
}

export interface LoadCase {
  readonly server: ServerKind;
  readonly mode: Mode;
  readonly measurement: CaseMeasurement;
  /** CPU seconds of each process in the measured window, and per text answered. */
  readonly cpuSeconds: Partial<Record<ProcessName, number>>;
  readonly cpuMsPerText: Partial<Record<ProcessName, number>>;
  /** Mesh cases only. */
  readonly hops?: Partial<Record<Hop, MeshHopWindow>>;
}

export interface BulkCase {
  readonly server: ServerKind;
  readonly texts: number;
  readonly seconds: number;
  readonly textsPerSecond: number;
  /** The servers' processes only: the CLI is a process of its own, gone when its CPU could be read. */
  readonly cpuMsPerText: Partial<Record<ProcessName, number>>;
  readonly error?: string;
}

/** The per-hop table: each hop at one caller beside the echo at its message sizes. */
export interface HopRow extends HopSize {
  readonly echoP50Ms: number;
  readonly echoIdleP50Ms: number;
  readonly echoMeanMs: number;
  readonly echoClientCpuUs: number;
  readonly echoServerCpuUs: number;
  readonly mesh: MeshHopWindow | undefined;
  /** The serving process's CPU per call (for Classify, the gateway's, which makes the three calls too). */
  readonly serverCpuUs: number;
}

export interface OverheadSettings extends CommonSettings {
  readonly bulkTexts: number;
  /** The text the hop sizes are computed for (median token count of the texts) and its tokens. */
  readonly hopText: { readonly text: string; readonly tokens: number };
}

export interface OverheadBenchResult extends BenchResult<'overhead', OverheadSettings> {
  readonly echo: readonly EchoCase[];
  readonly cases: readonly LoadCase[];
  readonly bulk: readonly BulkCase[];
  readonly hops: readonly HopRow[];
  readonly summary: readonly SummaryLine[];
  /** Mesh and server log lines at warn or above. */
  readonly logs: readonly string[];
}

/**
 * Where the mesh's time goes, in one run on the same texts: the floor (a bare grpc-js echo at each hop's message
 * sizes, two processes), the obvious alternative (one grpc-js process serving the same PipelineService from the
 * project's own parts, cross-request batching off and on), the mesh (unary and one stream), and bulk `imesh
 * classify --file` through the mesh and through the one-process server. At each concurrency level the servers'
 * cases run back to back, so that a noisy neighbour hits them alike; the report reads ratios.
 */
export async function runOverheadSuite(options: BenchOptions, context: SuiteContext): Promise<OverheadBenchResult> {
  const { log } = context;
  const { name: model, version } = options.model;
  const { date, machine, repository, versionDir, warmupMs, durationMs, inheritedEnv, problems } = await startSuite('overhead', options, context);
  const logs: string[] = [];

  // 1. Inputs, the answers to expect, and each hop's message sizes for a typical text.
  const texts = readSst2('dev').map((row) => row.text).filter((text) => text !== '').slice(0, options.texts ?? Infinity);
  const config = readModelConfig(versionDir);
  const encoder = encoderFor(versionDir);
  const session = await createServiceLikeSession(versionDir, serviceSessionOptions());
  let expected: (string | undefined)[];
  let sizes: HopSize[];
  let hopText: OverheadSettings['hopText'];
  try {
    const reference = await referenceLogits(session, await tokenizeInBatches(encoder, texts, 64), texts.length);
    expected = expectedLabels(reference.logits, reference.labels, config.labels);
    const lengths = (await tokenizeInBatches(encoder, texts, 1)).map((b) => b.sequenceLength);
    const median = [...lengths.keys()].sort((a, b) => lengths[a]! - lengths[b]! || a - b)[Math.floor(texts.length / 2)]!;
    const encoded = await encoder.encode([texts[median]!]);
    hopText = { text: texts[median]!, tokens: encoded.sequenceLength };
    sizes = hopSizes({
      text: texts[median]!,
      encoded,
      model,
      version,
      modelInputs: session.inputNames,
      outputName: session.outputNames.includes('logits') ? 'logits' : session.outputNames[0]!,
      labels: config.labels,
      tokenizerFingerprint: tokenizerFingerprint(modelFiles(versionDir).tokenizer),
      maxLength: config.maxSequenceLength,
    });
  } finally {
    await session.release();
  }
  log(`inputs: ${texts.length} texts from ${relative(context.repoRoot, join(sst2Dir(), 'dev.tsv'))}, one per request; reference labels from ONNX Runtime in-process`);
  log(`hop sizes for a median text (${hopText.tokens} tokens): ${sizes.map((s) => `${s.hop} ${s.requestBytes}/${s.responseBytes} B`).join(', ')}`);
  const check = (sequence: number, label: string | undefined): number => {
    const want = expected[sequence % texts.length];
    if (want !== undefined && label !== want) throw new Error(`text ${sequence % texts.length}: got ${label}, ONNX Runtime says ${want}`);
    return 1;
  };

  const levels = options.concurrency;
  const total = HOPS.length + levels.length * SERVERS.length * MODES.length + 2;
  let step = 0;
  const progress = (line: string) => log(`[${++step}/${total}] ${line}`);
  const echo: EchoCase[] = [];
  const cases: LoadCase[] = [];
  const bulk: BulkCase[] = [];

  /** A warm-up run, then the measured one, each process's CPU read around the measured window only. */
  const measure = async (
    concurrency: number,
    issue: (sequence: number) => Promise<number>,
    pids: Partial<Record<ProcessName, number>>,
    window: { before(): Promise<void>; after(): Promise<void> } = { before: async () => undefined, after: async () => undefined },
  ) => {
    let warm: CaseMeasurement | undefined;
    if (warmupMs > 0) warm = await runClosedLoop({ concurrency, warmupMs: 0, durationMs: warmupMs, issue: (_, sequence) => issue(sequence) });
    await window.before();
    const entries = Object.entries(pids) as [ProcessName, number][];
    const before = entries.map(([, pid]) => processCpuSeconds(pid) ?? NaN);
    const run = await runClosedLoop({ concurrency, warmupMs: 0, durationMs, issue: (_, sequence) => issue(sequence), servicePids: entries.map(([, pid]) => pid) });
    const after = entries.map(([, pid]) => processCpuSeconds(pid) ?? NaN);
    await window.after();
    const measurement: CaseMeasurement = {
      ...run,
      warmupErrors: warm ? warm.errors + warm.warmupErrors : 0,
      errorSamples: [...new Set([...(warm?.errorSamples ?? []), ...run.errorSamples])].slice(0, 5),
    };
    const cpuSeconds: Partial<Record<ProcessName, number>> = { bench: run.benchCpu.seconds };
    entries.forEach(([name], i) => (cpuSeconds[name] = after[i]! - before[i]!));
    const cpuMsPerText = Object.fromEntries(Object.entries(cpuSeconds).map(([name, s]) => [name, run.rows > 0 ? (s * 1000) / run.rows : NaN]));
    return { measurement, cpuSeconds, cpuMsPerText };
  };
  const noteErrors = (label: string, m: CaseMeasurement) => {
    if (m.errors + m.warmupErrors > 0) problems.push(`${label}: ${m.errors} errors (+${m.warmupErrors} in warm-up), e.g. ${m.errorSamples.join(' | ')}`);
  };

  // 2. Every server up at once (they idle while another is measured), so that cases can interleave.
  const children: ChildServer[] = [];
  const clients: PipelineClient[] = [];
  let mesh: RunningMesh | undefined;
  const bulkDir = mkdtempSync(join(tmpdir(), 'imesh-overhead-'));
  try {
    const responseBytes = Object.fromEntries(sizes.map((s) => [s.hop, s.responseBytes]));
    const oneProcessArgs = [repository, model, version];
    const started = await Promise.allSettled([
      spawnChildServer('echo', 'echo-server', [JSON.stringify(responseBytes)], {}),
      spawnChildServer('one-process, batching off', 'one-process-server', oneProcessArgs, { IMESH_MODEL_BATCHING: 'off' }),
      spawnChildServer('one-process, batching on', 'one-process-server', oneProcessArgs, { IMESH_MODEL_BATCHING: 'on' }),
    ]);
    for (const outcome of started) {
      if (outcome.status === 'fulfilled') children.push(outcome.value);
      else problems.push((outcome.reason as Error).message);
    }
    const metricsAddresses: Partial<Record<MeshService, string>> = {};
    try {
      mesh = await startMesh({
        env: {
          IMESH_MODEL_REPOSITORY: repository,
          IMESH_DEFAULT_MODEL: model,
          // Info, for the "metrics listening" lines; only warnings and errors are kept.
          IMESH_LOG_LEVEL: 'info',
          ...Object.fromEntries(MESH_SERVICES.map((service) => [`IMESH_${service.toUpperCase()}_METRICS_PORT`, '0'])),
        },
        onLog: (service, line) => {
          const listening = /"msg":"metrics listening"/.test(line) && /"port":(\d+)/.exec(line);
          if (listening) metricsAddresses[service] = `127.0.0.1:${listening[1]}`;
          else if (!/"level":"(info|debug|trace)"/.test(line) && logs.length < 50) logs.push(`${service}: ${line}`);
        },
        readyTimeoutMs: 180_000,
      });
    } catch (error) {
      problems.push(`the mesh did not start: ${(error as Error).message}`);
    }
    const unread = MESH_SERVICES.filter((service) => metricsAddresses[service] === undefined);
    if (mesh && unread.length > 0) problems.push(`no "metrics listening" line from ${unread.join(', ')}: the per-hop figures are missing`);
    const child = (name: string) => children.find((c) => c.name === name);
    log(`servers: ${[...children.map((c) => `${c.name} pid ${c.pid}`), ...(mesh ? [`mesh at ${mesh.gateway}`] : [])].join(', ')}`);

    // 3. The floor: a bare echo per hop at one caller.
    const echoServer = child('echo');
    if (echoServer) {
      const client = echoClient(echoServer.address, HOPS);
      try {
        const issuers = sizes.map((size) => {
          const request = Buffer.alloc(size.requestBytes, 0x2a);
          return async () => {
            const got = await client.call(size.hop, request);
            if (got !== size.responseBytes) throw new Error(`echo ${size.hop}: ${got} bytes, expected ${size.responseBytes}`);
            return 1;
          };
        });
        // Every size once round first, so that the first hop measured does not pay for a cold JIT alone.
        if (warmupMs > 0) {
          const warm = await runClosedLoop({ concurrency: 1, warmupMs: 0, durationMs: warmupMs, issue: (_, sequence) => issuers[sequence % issuers.length]!() });
          noteErrors('echo warm-up', warm);
        }
        for (const [i, size] of sizes.entries()) {
          const { measurement, cpuSeconds } = await measure(1, issuers[i]!, { echo: echoServer.pid });
          const calls = Math.max(1, measurement.requests);
          const idleP50Ms = await p50AfterIdle(issuers[i]!, ECHO_IDLE_GAP_MS, options.quick ? 30 : 150);
          echo.push({ ...size, measurement, idleP50Ms, clientCpuUsPerCall: ((cpuSeconds.bench ?? NaN) * 1e6) / calls, serverCpuUsPerCall: ((cpuSeconds.echo ?? NaN) * 1e6) / calls });
          noteErrors(`echo ${size.hop}`, measurement);
          progress(`echo ${size.hop} (${size.requestBytes}/${size.responseBytes} B), 1 caller ... ${describe(measurement)}; after ${ECHO_IDLE_GAP_MS} ms idle p50 ${idleP50Ms.toFixed(2)} ms`);
        }
      } finally {
        client.close();
      }
    }

    // 4. The servers, interleaved per concurrency level.
    const servers: { kind: ServerKind; client: PipelineClient; pids: Partial<Record<ProcessName, number>> }[] = [];
    for (const kind of SERVERS) {
      if (kind === 'mesh') {
        if (!mesh) continue;
        const running = mesh;
        const pids = Object.fromEntries(MESH_SERVICES.map((s) => [s, running.services[s].process.pid!]));
        servers.push({ kind, client: new PipelineClient({ target: mesh.gateway, defaultDeadlineMs: REQUEST_DEADLINE_MS }), pids });
      } else {
        const server = child(kind);
        if (server) servers.push({ kind, client: new PipelineClient({ target: server.address, defaultDeadlineMs: REQUEST_DEADLINE_MS }), pids: { 'one-process': server.pid } });
      }
    }
    clients.push(...servers.map((s) => s.client));
    const scrapeMesh = async (): Promise<Partial<Record<MeshService, RpcHistograms>> | undefined> => {
      if (MESH_SERVICES.some((s) => metricsAddresses[s] === undefined)) return undefined;
      return Object.fromEntries(await Promise.all(MESH_SERVICES.map(async (s) => [s, await scrapeRpcHistograms(metricsAddresses[s]!)] as const)));
    };
    for (const concurrency of levels) {
      for (const { kind, client, pids } of servers) {
        for (const mode of MODES) {
          const stream = mode === 'stream' ? client.classifyStream({ maxInFlight: concurrency }) : undefined;
          const issue = stream
            ? async (sequence: number) => check(sequence, ((await stream.send([texts[sequence % texts.length]!])) as ClassifyResponse).results[0]?.label)
            : async (sequence: number) => check(sequence, (await client.classify([texts[sequence % texts.length]!])).results[0]?.label);
          let before: Partial<Record<MeshService, RpcHistograms>> | undefined;
          let result: Awaited<ReturnType<typeof measure>>;
          let hops: LoadCase['hops'];
          // The mesh's histograms are read around the measured window only, like the CPU.
          const window = {
            before: async () => {
              if (kind === 'mesh') before = await scrapeMesh().catch((error: Error) => void problems.push(`metrics: ${error.message}`));
            },
            after: async () => {
              const after = before && (await scrapeMesh().catch((error: Error) => void problems.push(`metrics: ${error.message}`)));
              if (before && after) hops = meshHops(before, after);
            },
          };
          try {
            result = await measure(concurrency, issue, pids, window);
          } finally {
            await stream?.close().catch(() => undefined);
          }
          const c: LoadCase = { server: kind, mode, ...result, ...(hops && { hops }) };
          cases.push(c);
          noteErrors(`${kind} ${mode} at ${concurrency}`, c.measurement);
          progress(`${kind}, ${mode}, ${concurrency} caller${concurrency === 1 ? '' : 's'} ... ${describe(c.measurement)}, ${num(totalCpuMsPerText(c), 2)} CPU ms/text`);
        }
      }
    }

    // 5. Bulk: the same file through imesh classify --file, to the one-process server and to the mesh.
    const bulkFile = join(bulkDir, 'texts.txt');
    writeFileSync(bulkFile, Array.from({ length: options.bulkTexts }, (_, i) => texts[i % texts.length]!).join('\n') + '\n');
    for (const kind of ['one-process, batching off', 'mesh'] as const) {
      const server = servers.find((s) => s.kind === kind);
      const target = kind === 'mesh' ? mesh?.gateway : child(kind)?.address;
      if (!server || target === undefined) continue;
      const entries = Object.entries(server.pids) as [ProcessName, number][];
      const before = entries.map(([, pid]) => processCpuSeconds(pid) ?? NaN);
      const outcome = await runImeshOverFile(context.repoRoot, ['classify', '--target', target, '--file', bulkFile], options.bulkTexts);
      const after = entries.map(([, pid]) => processCpuSeconds(pid) ?? NaN);
      const cpuMsPerText = Object.fromEntries(entries.map(([name], i) => [name, ((after[i]! - before[i]!) * 1000) / options.bulkTexts]));
      const c: BulkCase = { server: kind, texts: options.bulkTexts, seconds: outcome.seconds, textsPerSecond: outcome.error ? NaN : options.bulkTexts / outcome.seconds, cpuMsPerText, ...(outcome.error && { error: outcome.error }) };
      bulk.push(c);
      if (c.error) problems.push(`imesh classify --file through ${kind}: ${c.error}`);
      progress(`imesh classify --file (${count(c.texts)} texts) through ${kind} ... ${c.error ? 'FAILED' : `${num(c.textsPerSecond)} texts/s, ${c.seconds.toFixed(2)} s`}`);
    }
  } finally {
    for (const client of clients) client.close();
    await mesh?.stop();
    for (const c of children) {
      const early = c.exitedEarly();
      if (early) problems.push(`${c.name} exited on its own (${early}): ${c.output.slice(-3).join(' | ')}`);
      await c.stop();
    }
    rmSync(bulkDir, { recursive: true, force: true });
  }

  const errors = [...echo, ...cases].reduce((sum, c) => sum + c.measurement.errors + c.measurement.warmupErrors, 0) + bulk.filter((b) => b.error).length;
  const partial = {
    suite: 'overhead' as const,
    quick: options.quick,
    command: context.command,
    date,
    machine,
    settings: { ...commonSettings(options, context, { versionDir, texts: texts.length, inheritedEnv }), bulkTexts: options.bulkTexts, hopText },
    echo,
    cases,
    bulk,
    errors,
    problems,
    logs,
  };
  const hops = hopTable(partial);
  const result: OverheadBenchResult = { ...partial, hops, summary: summarizeOverhead({ ...partial, hops }) };

  log('');
  log(consoleTable(caseTable(result)));
  log('');
  log(consoleTable(hopTableView(result)));
  log('');
  for (const line of result.summary) log(`  (${line.id}) ${line.label}: ${line.value} (target ${line.target}) ${line.verdict}`);
  if (problems.length > 0) {
    log(`PROBLEMS (${problems.length}):`);
    for (const problem of problems) log(`  - ${problem}`);
  }
  const files = { json: join(context.outDir, 'overhead.json'), md: join(context.outDir, 'overhead.md'), svg: join(context.outDir, 'overhead.svg') };
  writeFileAtomically(files.json, JSON.stringify(result, jsonNumbers, 2) + '\n');
  writeFileAtomically(files.md, markdownReport(result, 'overhead.svg'));
  writeFileAtomically(files.svg, chart(result));
  log(`wrote ${Object.values(files).map((f) => relative(process.cwd(), f) || f).join(', ')}`);
  return result;
}

/** Each hop in the window: the gateway's view of its calls (Classify: its own serving) and the service's own. */
function meshHops(before: Partial<Record<MeshService, RpcHistograms>>, after: Partial<Record<MeshService, RpcHistograms>>): Partial<Record<Hop, MeshHopWindow>> {
  const delta = (s: MeshService) => histogramDelta(before[s]!, after[s]!);
  const gateway = delta('gateway');
  const servedBy: Record<Hop, MeshService> = { Classify: 'gateway', Encode: 'tokenizer', ModelInfer: 'model', Postprocess: 'postprocess' };
  const out: Partial<Record<Hop, MeshHopWindow>> = {};
  for (const hop of HOPS) {
    const client = hop === 'Classify' ? gateway.server[hop] : gateway.client[hop];
    const server = delta(servedBy[hop]).server[hop];
    out[hop] = { calls: client?.count ?? 0, clientMeanMs: meanMs(client), clientP50Ms: bucketQuantileMs(client, 0.5), serverMeanMs: meanMs(server) };
  }
  return out;
}

function totalCpuMsPerText(c: LoadCase): number {
  return Object.values(c.cpuMsPerText).reduce((sum, v) => sum + (v ?? 0), 0);
}

type Unsummarized = Omit<OverheadBenchResult, 'summary'>;

function findCase(result: Pick<Unsummarized, 'cases'>, server: ServerKind, mode: Mode, concurrency: number): LoadCase | undefined {
  return result.cases.find((c) => c.server === server && c.mode === mode && c.measurement.concurrency === concurrency);
}

/** The per-hop accounting, from the mesh's unary case at the fewest callers (one, by default). */
function hopTable(result: Omit<Unsummarized, 'hops'>): HopRow[] {
  const fewest = Math.min(...result.settings.concurrency);
  const meshCase = findCase(result, 'mesh', 'unary', fewest);
  const servedBy: Record<Hop, MeshService> = { Classify: 'gateway', Encode: 'tokenizer', ModelInfer: 'model', Postprocess: 'postprocess' };
  return result.echo.map((e) => {
    const window = meshCase?.hops?.[e.hop];
    const cpu = meshCase?.cpuSeconds[servedBy[e.hop]];
    return {
      hop: e.hop,
      requestBytes: e.requestBytes,
      responseBytes: e.responseBytes,
      echoP50Ms: e.measurement.latency.p50Ms,
      echoIdleP50Ms: e.idleP50Ms,
      echoMeanMs: e.measurement.latency.meanMs,
      echoClientCpuUs: e.clientCpuUsPerCall,
      echoServerCpuUs: e.serverCpuUsPerCall,
      mesh: window,
      serverCpuUs: cpu !== undefined && window && window.calls > 0 ? (cpu * 1e6) / window.calls : NaN,
    };
  });
}

function verdict(value: number, pass: (v: number) => boolean): SummaryLine['verdict'] {
  return Number.isFinite(value) ? (pass(value) ? 'PASS' : 'MISS') : 'N/A';
}

export function summarizeOverhead(result: Unsummarized): SummaryLine[] {
  const lines: SummaryLine[] = [];
  const levels = result.settings.concurrency;
  const most = levels.includes(64) ? 64 : Math.max(...levels);
  const fewest = Math.min(...levels);
  for (const [id, mode] of [['a', 'unary'], ['b', 'stream']] as const) {
    const meshCase = findCase(result, 'mesh', mode, most);
    for (const [suffix, baseline] of [['', 'one-process, batching off'], ['-batching', 'one-process, batching on']] as const) {
      const base = findCase(result, baseline, mode, most);
      const value = meshCase && base ? ratio(meshCase.measurement.rowsPerSecond, base.measurement.rowsPerSecond) : NaN;
      const reportOnly = suffix !== '';
      lines.push({
        id: `${id}${suffix}`,
        label: `mesh ${mode} at ${most} callers vs ${baseline} ${mode}`,
        value: Number.isFinite(value) ? `${num(meshCase!.measurement.rowsPerSecond)} / ${num(base!.measurement.rowsPerSecond)} texts/s = ${value.toFixed(2)}x` : 'not measured',
        target: reportOnly ? 'reported' : `>= ${OVERHEAD_TARGETS.meshVsOneProcess.toFixed(1)}x`,
        verdict: reportOnly ? (Number.isFinite(value) ? 'REPORT' : 'N/A') : verdict(value, (v) => v >= OVERHEAD_TARGETS.meshVsOneProcess),
      });
    }
  }
  const meshOne = findCase(result, 'mesh', 'unary', fewest);
  const baseOne = findCase(result, 'one-process, batching off', 'unary', fewest);
  const added = meshOne && baseOne ? meshOne.measurement.latency.p50Ms - baseOne.measurement.latency.p50Ms : NaN;
  lines.push({
    id: 'c',
    label: `${fewest} caller${fewest === 1 ? '' : 's'}: mesh unary p50 minus one-process (batching off) unary p50`,
    value: Number.isFinite(added) ? `${meshOne!.measurement.latency.p50Ms.toFixed(2)} - ${baseOne!.measurement.latency.p50Ms.toFixed(2)} = ${added.toFixed(2)} ms` : 'not measured',
    target: `<= ${OVERHEAD_TARGETS.addedLatencyMs.toFixed(1)} ms`,
    verdict: verdict(added, (v) => v <= OVERHEAD_TARGETS.addedLatencyMs),
  });
  // The platform's share of (c): the mesh's four round trips and the one-process server's one, each as a bare echo
  // to a process that sat idle, as at one caller every one of them does.
  const idle = (hop: Hop) => result.echo.find((e) => e.hop === hop)?.idleP50Ms ?? NaN;
  const idleFloorMs = INTERNAL_HOPS.reduce((sum, hop) => sum + idle(hop), 0);
  lines.push({
    id: 'c-floor',
    label: 'the three extra round trips of (c) as bare echoes after 10 ms idle (p50s added): the platform\'s floor under it',
    value: Number.isFinite(idleFloorMs) ? `${INTERNAL_HOPS.map((hop) => idle(hop).toFixed(2)).join(' + ')} = ${idleFloorMs.toFixed(2)} ms` : 'not measured',
    target: 'reported',
    verdict: Number.isFinite(idleFloorMs) ? 'REPORT' : 'N/A',
  });
  const limit = OVERHEAD_TARGETS.hopVsEcho;
  for (const hop of INTERNAL_HOPS) {
    const row = result.hops.find((r) => r.hop === hop);
    const p50 = row?.mesh ? row.mesh.clientP50Ms / row.echoP50Ms : NaN;
    lines.push({
      id: `d-${hop}-p50`,
      label: `${hop} p50 as the gateway sees it (bucket-interpolated) vs the echo's`,
      value: Number.isFinite(p50) ? `${row!.mesh!.clientP50Ms.toFixed(2)} / ${row!.echoP50Ms.toFixed(2)} ms = ${p50.toFixed(2)}x` : 'not measured',
      target: `<= ${limit}x`,
      verdict: verdict(p50, (v) => v <= limit),
    });
    const cpu = row ? row.serverCpuUs / row.echoServerCpuUs : NaN;
    lines.push({
      id: `d-${hop}-cpu`,
      label: `${hop} server CPU per call vs the echo server's`,
      value: Number.isFinite(cpu) ? `${num(row!.serverCpuUs)} / ${num(row!.echoServerCpuUs)} us = ${cpu.toFixed(2)}x` : 'not measured',
      target: `<= ${limit}x`,
      verdict: verdict(cpu, (v) => v <= limit),
    });
  }
  // The gateway is the client of all three hops and the server of Classify: its floor is the echo's CPU for that.
  const classify = result.hops.find((r) => r.hop === 'Classify');
  const internal = INTERNAL_HOPS.map((hop) => result.hops.find((r) => r.hop === hop));
  const floor = classify && internal.every(Boolean) ? classify.echoServerCpuUs + internal.reduce((sum, r) => sum + r!.echoClientCpuUs, 0) : NaN;
  const gateway = classify ? classify.serverCpuUs / floor : NaN;
  lines.push({
    id: 'd-gateway-cpu',
    label: 'gateway CPU per Classify vs the echo floor (Classify server + the three hops\' client side)',
    value: Number.isFinite(gateway) ? `${num(classify!.serverCpuUs)} / ${num(floor)} us = ${gateway.toFixed(2)}x` : 'not measured',
    target: `<= ${limit}x`,
    verdict: verdict(gateway, (v) => v <= limit),
  });
  const bulkMesh = result.bulk.find((b) => b.server === 'mesh');
  const bulkBase = result.bulk.find((b) => b.server === 'one-process, batching off');
  const bulkRatio = bulkMesh && bulkBase ? ratio(bulkMesh.textsPerSecond, bulkBase.textsPerSecond) : NaN;
  lines.push({
    id: 'e',
    label: 'imesh classify --file: mesh vs one-process (batching off)',
    value: Number.isFinite(bulkRatio) ? `${num(bulkMesh!.textsPerSecond)} / ${num(bulkBase!.textsPerSecond)} texts/s = ${bulkRatio.toFixed(2)}x` : 'not measured',
    target: `>= ${OVERHEAD_TARGETS.bulkVsOneProcess}x`,
    verdict: verdict(bulkRatio, (v) => v >= OVERHEAD_TARGETS.bulkVsOneProcess),
  });
  return lines;
}

const CPU_COLUMNS = ['bench', 'one-process', ...MESH_SERVICES] as const satisfies readonly ProcessName[];

function caseTable(result: OverheadBenchResult): Table {
  const rows: string[][] = [];
  for (const concurrency of result.settings.concurrency) {
    for (const server of SERVERS) {
      for (const mode of MODES) {
        const c = findCase(result, server, mode, concurrency);
        if (!c) continue;
        const m = c.measurement;
        rows.push([`${server}, ${mode}`, String(concurrency), num(m.rowsPerSecond), num(m.latency.p50Ms, 2), num(m.latency.p99Ms, 2), ...CPU_COLUMNS.map((p) => num(c.cpuMsPerText[p], 3)), count(m.errors + m.warmupErrors)]);
      }
    }
  }
  for (const b of result.bulk) {
    rows.push([`imesh classify --file, ${b.server}`, 'bulk', num(b.textsPerSecond), '-', '-', ...CPU_COLUMNS.map((p) => num(b.cpuMsPerText[p], 3)), b.error ? '1' : '0']);
  }
  return {
    headers: ['case', 'callers', 'texts/s', 'p50 ms', 'p99 ms', ...CPU_COLUMNS.map((p) => `${p} CPU ms/text`), 'errors'],
    rows,
  };
}

function hopTableView(result: OverheadBenchResult): Table {
  return {
    headers: ['hop', 'req B', 'resp B', 'echo p50 ms', 'echo p50 after 10 ms idle', 'mesh p50 ms', 'x', 'echo mean ms', 'mesh mean ms', 'server own mean ms', 'echo client CPU us', 'echo server CPU us', 'mesh server CPU us', 'x'],
    rows: result.hops.map((r) => [
      r.hop,
      String(r.requestBytes),
      String(r.responseBytes),
      num(r.echoP50Ms, 3),
      num(r.echoIdleP50Ms, 3),
      num(r.mesh?.clientP50Ms, 3),
      r.mesh ? num(r.mesh.clientP50Ms / r.echoP50Ms, 2) : '-',
      num(r.echoMeanMs, 3),
      num(r.mesh?.clientMeanMs, 3),
      num(r.mesh?.serverMeanMs, 3),
      num(r.echoClientCpuUs),
      num(r.echoServerCpuUs),
      num(r.serverCpuUs),
      num(r.serverCpuUs / r.echoServerCpuUs, 2),
    ]),
  };
}

function markdownReport(result: OverheadBenchResult, svgName: string): string {
  const s = result.settings;
  return [
    `# Overhead benchmark: where the mesh's time goes${result.quick ? ' (QUICK: smoke test)' : ''}`,
    '',
    `Command: \`${result.command}\``,
    '',
    `Run ${result.date} on ${result.machine.cpuCount} x ${result.machine.cpuModel}, Node ${result.machine.node}, grpc-js ${result.machine.grpcJs}; ` +
      `load average at start ${result.machine.loadAverageAtStart.join(' ')}. Every process shares the cores; read the ratios, which one run measures alike.`,
    '',
    `Model \`${s.model}\` version ${s.version} (\`${s.versionDir}\`). ${s.texts} texts from SST-2 dev.tsv, one per request, every answer checked ` +
      `against ONNX Runtime in-process; closed loop, ${s.warmupS} s warm-up and ${s.durationS} s measured per case. At each concurrency level the ` +
      'servers run back to back. CPU per text is per process over the measured window (`bench` is the load generator and SDK client), ' +
      'read from /proc in clock ticks (10 ms): a short run reads it coarsely.',
    '',
    'Cases: a bare grpc-js echo (raw bytes, no proto-loader, no interceptors, two processes) at each hop\'s message sizes, one caller; ' +
      'one grpc-js process serving the same PipelineService from the tokenizer\'s BatchEncoder, the model service\'s batcher and ONNX Runtime ' +
      'worker and rankLogits, cross-request batching off (IMESH_MODEL_BATCHING=off: each call run alone) and on; the mesh (`startMesh`), ' +
      `unary \`Classify\` and one \`ClassifyStream\`; and \`imesh classify --file\` over ${count(s.bulkTexts)} lines through the one-process server ` +
      '(batching off) and through the mesh.',
    '',
    markdownSection('Summary', {
      headers: ['', 'comparison', 'value', 'target', 'verdict'],
      align: ['l', 'l', 'l', 'l', 'l'],
      rows: result.summary.map((l) => [`(${l.id})`, l.label, l.value, l.target, l.verdict === 'MISS' ? '**MISS**' : l.verdict]),
    }),
    problemsParagraph(result.errors, result.problems),
    '',
    `![throughput and p50 against concurrency; per-hop p50 against the echo](${svgName})`,
    '',
    markdownSection('Throughput, latency and CPU per text', caseTable(result)),
    markdownSection(`Per hop, mesh unary at ${Math.min(...s.concurrency)} caller(s), beside the echo at the same sizes`, hopTableView(result)),
    `Message sizes are those of a median text of the set (${s.hopText.tokens} tokens: "${s.hopText.text}"), computed from the protos as the gateway ` +
      'and services build the messages. The mesh\'s p50 and mean are the gateway\'s `rpc_client_duration` histogram (for Classify, its ' +
      '`rpc_server_duration`) read from /metrics before and after the case; the p50 is interpolated in its buckets (0.5, 1, 2.5, 5 ms, ...), ' +
      'the mean is exact. "server own" is the serving process\'s `rpc_server_duration` mean. Server CPU per call is the serving process\'s ' +
      'CPU over the window divided by the calls (for Classify: the gateway, which is also the client of the three hops).',
    '',
  ].join('\n');
}

function chart(result: OverheadBenchResult): string {
  const categories = result.settings.concurrency.map(String);
  const series = (value: (c: LoadCase) => number) =>
    SERVERS.flatMap((server) =>
      MODES.map((mode) => ({ name: `${server}, ${mode}`, values: result.settings.concurrency.map((level) => { const c = findCase(result, server, mode, level); return c ? value(c) : undefined; }) })),
    );
  return categoryChartSvg({
    title: `Mesh overhead${result.quick ? ' (quick run)' : ''}: ${result.settings.model}/${result.settings.version}, ${result.machine.cpuCount} CPUs`,
    yLabel: 'texts/s · p50 ms · hop p50 ms',
    panels: [
      { title: 'throughput (texts/s)', xLabel: 'concurrent callers', categories, series: series((c) => c.measurement.rowsPerSecond) },
      { title: 'p50 latency (ms)', xLabel: 'concurrent callers', categories, series: series((c) => c.measurement.latency.p50Ms) },
      {
        title: 'per hop, 1 caller: p50 (ms)',
        xLabel: 'hop',
        categories: result.hops.map((h) => h.hop),
        series: [
          { name: 'bare echo, same sizes', values: result.hops.map((h) => h.echoP50Ms) },
          { name: 'mesh, gateway-observed', values: result.hops.map((h) => h.mesh?.clientP50Ms) },
        ],
      },
    ],
  });
}

/** About what a hop server of the mesh idles between its calls at one caller (the other hops' time). */
const ECHO_IDLE_GAP_MS = 10;

/** The p50 of `calls` calls, each made after `gapMs` with nothing in flight (the gap itself not counted). */
async function p50AfterIdle(issue: () => Promise<number>, gapMs: number, calls: number): Promise<number> {
  const latencies: number[] = [];
  for (let i = 0; i < calls; i++) {
    await new Promise((resolve) => setTimeout(resolve, gapMs));
    const startedMs = performance.now();
    await issue();
    latencies.push(performance.now() - startedMs);
  }
  return percentile(latencies.sort((a, b) => a - b), 50);
}

function describe(m: CaseMeasurement): string {
  return `${num(m.rowsPerSecond)} /s, p50 ${m.latency.p50Ms.toFixed(2)} ms, p99 ${m.latency.p99Ms.toFixed(2)} ms${m.errors ? `, ${m.errors} errors` : ''}`;
}

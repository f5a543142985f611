// `imesh canary run` against the real mesh and a real Prometheus: the controller is the CLI in a process of its
// own, the split a directory laid out as the gateway's ConfigMap volume, the load real callers through the SDK.
import { status } from '@grpc/grpc-js';
import { PipelineClient } from '@inference-mesh/client';
import { freePort, REPO_ROOT, type RunningMesh, startMesh } from '@inference-mesh/launcher';
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FaultProxy } from './fault-proxy';
import { dashboardExpressions } from './monitoring-expressions';
import { SteadyLoad } from './load';
import { startPrometheus, type RunningPrometheus } from './prometheus';
import { useProcessGroup } from './resilience-fixture';
import { buildCanaryRepository, WRONG_CANARY_VERSION, type CanaryRepository } from './wrong-canary';

const CLI = join(REPO_ROOT, 'tools', 'cli', 'bin', 'imesh.js');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Controller {
  readonly child: ChildProcess;
  readonly output: string[];
  readonly exited: Promise<number | null>;
}

interface RecordedRollout {
  readonly phase: string;
  readonly step: number;
  readonly history: { share: number; verdict: string }[];
  readonly reason?: string;
}

/** The split as the controller's --split-dir holds it: what the gateway reads, and the recorded rollout. */
class SplitDirectory {
  constructor(readonly dir: string) {}

  weights(): string {
    return readFileSync(join(this.dir, 'weights'), 'utf8').trim();
  }

  rollout(): RecordedRollout {
    return JSON.parse(readFileSync(join(this.dir, 'rollout'), 'utf8')) as RecordedRollout;
  }

  /** The recorded step; -1 before the controller has written one. */
  step(): number {
    try {
      return this.rollout().step;
    } catch {
      return -1;
    }
  }

  /** Starts a rollout afresh: the split at the stable version alone, no recorded rollout. */
  reset(stable: string, canary: string): void {
    rmSync(join(this.dir, 'rollout'), { force: true });
    writeFileSync(join(this.dir, 'weights'), `${stable}=100,${canary}=0\n`);
  }
}

/** `imesh canary run` as a process of its own on `split`, its output kept; `started` collects it for cleanup. */
function startController(split: SplitDirectory, prometheusUrl: string, args: readonly string[], started: ChildProcess[]): Controller {
  const child = spawn(process.execPath, [CLI, 'canary', 'run', '--split-dir', split.dir, '--prometheus', prometheusUrl, '--min-requests', '10', '--min-agreement-rows', '10', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output, exited };
}

describe('imesh canary run: a rollout controller against the real mesh and Prometheus', function () {
  this.timeout(180_000);
  let repository: CanaryRepository;
  let splitDir: string;
  let mesh: RunningMesh;
  let prometheus: RunningPrometheus;
  let client: PipelineClient;
  /** The port a controller started with --metrics-port serves on; Prometheus scrapes it. */
  let controllerMetrics: number;
  const logs: string[] = [];
  const controllers: ChildProcess[] = [];

  before(async function () {
    this.timeout(120_000);
    repository = buildCanaryRepository();
    splitDir = mkdtempSync(join(tmpdir(), 'imesh-rollout-split-'));
    writeFileSync(join(splitDir, 'weights'), '1=100,2=0\n');
    const [gatewayMetrics, modelMetrics] = [await freePort(), await freePort()];
    mesh = await startMesh({
      env: { IMESH_MODEL_REPOSITORY: repository.root },
      serviceEnv: {
        gateway: {
          IMESH_GATEWAY_METRICS_PORT: String(gatewayMetrics),
          IMESH_MODEL_VERSION_WEIGHTS_FILE: join(splitDir, 'weights'),
          IMESH_MODEL_VERSION_WEIGHTS_POLL_INTERVAL_MS: '200',
          // Every merged call shadowed: a few seconds of load give the agreement signal enough rows.
          IMESH_SHADOW_SAMPLE: '1',
        },
        model: { IMESH_MODEL_METRICS_PORT: String(modelMetrics) },
      },
      onLog: (service, line) => logs.push(`${service}: ${line}`),
    });
    controllerMetrics = await freePort();
    prometheus = await startPrometheus({
      targets: { gateway: `127.0.0.1:${gatewayMetrics}`, model: `127.0.0.1:${modelMetrics}`, controller: `127.0.0.1:${controllerMetrics}` },
    });
    client = new PipelineClient({ target: mesh.gateway });
  });

  afterEach(function () {
    for (const child of controllers.splice(0)) child.kill('SIGKILL');
    if (this.currentTest?.state === 'failed') process.stderr.write(`--- service logs (last 30 lines)\n${logs.slice(-30).join('\n')}\n`);
  });

  after(async function () {
    this.timeout(60_000);
    client?.close();
    await prometheus?.stop();
    await mesh?.stop();
    repository?.cleanup();
    rmSync(splitDir, { recursive: true, force: true });
  });

  const split = () => new SplitDirectory(splitDir);
  const weights = () => split().weights();
  const rollout = () => split().rollout();
  const reset = (stable: string, canary: string) => split().reset(stable, canary);
  const controller = (args: readonly string[]) => startController(split(), prometheus.url, args, controllers);

  it('steps a healthy canary (version 2 over 1) through its schedule and promotes it under load, 0 failed requests, each analysis printed', async () => {
    reset('1', '2');
    await sleep(1_000);
    await using load = new SteadyLoad(client, { concurrency: 4 });
    // This machine's p99 over a 5 s window moves by more than 25% between two identical versions: the healthy
    // case judges errors and agreement, with a p99 limit only a real slowdown passes.
    const run = controller(['--schedule', '20,50,100', '--interval', '5s', '--max-p99-increase', '3']);
    const code = await run.exited;
    const text = run.output.join('');
    assert.equal(code, 0, text);
    assert.match(text, /analysis at 20%: pass/);
    assert.match(text, /analysis at 50%: pass/);
    assert.match(text, /agreement 100\.0% of \d+ rows/);
    assert.match(text, /promoted: every step passed; version 2 takes all traffic/);
    assert.equal(weights(), '1=0,2=100');
    await sleep(1_000);
    const after = load.outcomes.length;
    await sleep(1_500);
    await load.stop();
    const failed = load.outcomes.filter((outcome) => !outcome.ok);
    assert.equal(failed.length, 0, `failed requests: ${JSON.stringify(failed.slice(0, 3))}`);
    const versions = new Set(load.outcomes.slice(after).flatMap((outcome) => outcome.response!.results.map((result) => result.modelVersion)));
    assert.deepEqual([...versions], ['2'], 'after the promotion every request gets version 2');
  });

  it("feeds the dashboard's rollout panels: share, phase and analyses by verdict from the controller's --metrics-port", async () => {
    reset('1', '2');
    await sleep(1_000);
    await using load = new SteadyLoad(client, { concurrency: 4 });
    const run = controller(['--schedule', '20,100', '--interval', '4s', '--max-p99-increase', '3', '--metrics-port', String(controllerMetrics), '--keep-running']);
    const panels = dashboardExpressions().filter(({ expr }) => /\bimesh_rollout_/.test(expr));
    assert.deepEqual([...new Set(panels.map((p) => p.panel))], ['Rollout: analyses by verdict']);
    let seen = '';
    for (let i = 0; i < 150; i++) {
      const [verdicts, share] = await Promise.all(panels.map(({ expr }) => prometheus.query(expr)));
      seen = JSON.stringify([verdicts, share]);
      const pass = verdicts!.find((sample) => sample.metric['verdict'] === 'pass' && sample.metric['canary'] === '2');
      if (pass?.value === 1 && share!.some((sample) => sample.metric['canary'] === '2' && sample.value === 100)) break;
      await sleep(200);
    }
    assert.match(seen, /"verdict":"pass"\},"value":1\}/, `the verdict panel: ${seen}`);
    assert.match(seen, /"canary":"2"\},"value":100\}/, `the share after the promotion: ${seen}`);
    assert.equal((await prometheus.query('imesh_rollout_phase{phase="promoted"} == 1')).length, 1, 'the phase, kept up by --keep-running');
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, 'a promoted rollout exits 0 on SIGTERM after --keep-running');
    await load.stop();
  });

  it('rolls back a healthy but wrong canary (swapped labels) on prediction agreement alone; then no request reaches it', async () => {
    reset('2', WRONG_CANARY_VERSION);
    await sleep(1_000);
    await using load = new SteadyLoad(client, { concurrency: 4 });
    const run = controller(['--stable', '2', '--canary', WRONG_CANARY_VERSION, '--schedule', '20,50,100', '--interval', '5s', '--failure-threshold', '1', '--max-p99-increase', '3']);
    const code = await run.exited;
    const text = run.output.join('');
    assert.equal(code, 3, text);
    assert.match(text, /analysis at 20%: fail/);
    assert.match(text, /error ratio 0\.00% vs 0\.00%/, 'no errors: the canary is healthy');
    assert.match(text, /agreement 0\.0% of \d+ rows \(limit 90\.0%\)/, 'the agreement signal fails it');
    assert.match(rollout().reason!, /1 failed analyses/);
    assert.equal(weights(), `2=100,${WRONG_CANARY_VERSION}=0`);
    await sleep(1_000);
    const after = load.outcomes.length;
    await sleep(2_000);
    await load.stop();
    assert.equal(load.outcomes.filter((outcome) => !outcome.ok).length, 0, 'the callers saw no failure');
    const versions = new Set(load.outcomes.slice(after).flatMap((outcome) => outcome.response!.results.map((result) => result.modelVersion)));
    assert.deepEqual([...versions], ['2'], 'after the rollback no request reaches the canary');
  });

  it('without traffic every analysis is inconclusive, and the rollout never promotes', async () => {
    reset('1', '2');
    const run = controller(['--schedule', '20,100', '--interval', '3s', '--max-inconclusive', '2']);
    const code = await run.exited;
    const text = run.output.join('');
    assert.equal(code, 3, text);
    assert.equal(text.match(/analysis at 20%: inconclusive/g)?.length, 2, text);
    assert.match(text, /served 0 requests in the last 3s; a verdict needs 10/);
    assert.doesNotMatch(text, /promoted/);
    assert.deepEqual([rollout().phase, weights()], ['rolled-back', '1=100,2=0']);
  });

  it('a controller killed mid-rollout and started again goes on from the recorded step', async () => {
    reset('1', '2');
    await sleep(1_000);
    await using load = new SteadyLoad(client, { concurrency: 4 });
    const args = ['--schedule', '20,40,60,100', '--interval', '4s', '--max-p99-increase', '3'];
    const first = controller(args);
    const step = () => split().step();
    for (let i = 0; i < 300 && step() < 1; i++) await sleep(100);
    assert.equal(rollout().step, 1, 'the first step passed');
    first.child.kill('SIGKILL');
    await first.exited;
    const second = controller(args);
    const code = await second.exited;
    const text = second.output.join('');
    assert.equal(code, 0, text);
    assert.match(text, /continuing the rollout of version 2 at step 2 of 4 \(40%\), progressing, 1 analyses so far/);
    assert.doesNotMatch(text, /analysis at 20%/, 'the step recorded as passed is not analysed again');
    assert.deepEqual(rollout().history.map((record) => `${record.share}:${record.verdict}`), ['20:pass', '40:pass', '60:pass']);
    await load.stop();
    assert.equal(load.outcomes.filter((outcome) => !outcome.ok).length, 0);
  });
});

/**
 * A failing canary: the model hop goes through a fault proxy (tests/src/fault-proxy.ts), which fails or holds only
 * version 2's ModelInfer calls once the first step has passed. The model service never sees those failures or
 * that delay; the gateway does, and the default `--source gateway` reads them from its imesh_gateway_model_* metrics.
 */
describe('imesh canary run: a canary that fails or slows down behind the gateway is rolled back', function () {
  this.timeout(180_000);
  const group = useProcessGroup();
  const INTERVAL_MS = 5_000;
  const FAILURE_THRESHOLD = 2;
  /**
   * Beyond interval x threshold: the controller re-reads its store every second during a hold (up to 1 s late,
   * twice), Prometheus scrapes every second, and the analysis' queries and the split's write take a moment.
   */
  const ALLOWANCE_MS = 4_000;
  let repository: CanaryRepository;
  let splitDir: string;
  let proxy: FaultProxy;
  let prometheus: RunningPrometheus;
  let client: PipelineClient;
  let gatewayMetricsUrl: string;
  const controllers: ChildProcess[] = [];

  before(async function () {
    this.timeout(150_000);
    repository = buildCanaryRepository();
    splitDir = mkdtempSync(join(tmpdir(), 'imesh-rollout-fault-split-'));
    writeFileSync(join(splitDir, 'weights'), '1=100,2=0\n');
    const [gatewayMetrics, modelMetrics] = [await freePort(), await freePort()];
    const shared = { IMESH_MODEL_REPOSITORY: repository.root };
    const [tokenizer, model, postprocess] = await Promise.all([
      group.launch('tokenizer', shared),
      group.launch('model', { ...shared, IMESH_MODEL_METRICS_PORT: String(modelMetrics) }),
      group.launch('postprocess', shared),
    ]);
    proxy = await group.proxy(model!.address);
    const gateway = await group.launch('gateway', {
      ...shared,
      IMESH_TOKENIZER_TARGET: tokenizer!.address,
      IMESH_MODEL_TARGET: proxy.address,
      IMESH_POSTPROCESS_TARGET: postprocess!.address,
      IMESH_GATEWAY_METRICS_PORT: String(gatewayMetrics),
      IMESH_MODEL_VERSION_WEIGHTS_FILE: join(splitDir, 'weights'),
      IMESH_MODEL_VERSION_WEIGHTS_POLL_INTERVAL_MS: '200',
      IMESH_SHADOW_SAMPLE: '1',
    });
    gatewayMetricsUrl = `http://127.0.0.1:${gatewayMetrics}/metrics`;
    prometheus = await startPrometheus({ targets: { gateway: `127.0.0.1:${gatewayMetrics}`, model: `127.0.0.1:${modelMetrics}` } });
    client = new PipelineClient({ target: gateway.address });
    await client.classify(['warm up']);
  });

  afterEach(async () => {
    for (const child of controllers.splice(0)) child.kill('SIGKILL');
    await proxy?.setMode({ kind: 'pass' });
  });

  after(async function () {
    this.timeout(60_000);
    client?.close();
    await prometheus?.stop();
    repository?.cleanup();
    rmSync(splitDir, { recursive: true, force: true });
  });

  const split = () => new SplitDirectory(splitDir);
  const weights = () => split().weights();
  const rollout = () => split().rollout();
  const step = () => split().step();
  const controller = (args: readonly string[]) => startController(split(), prometheus.url, args, controllers);

  /**
   * Starts a rollout of 2 over 1 under load, switches the proxy to `fault` for version 2 once the first step has
   * passed, and returns when the controller has rolled back: the time from the fault to the split's rollback,
   * what the controller printed, and what happened to the callers and to version 2 afterwards.
   */
  async function rollBackUnder(fault: Parameters<FaultProxy['setMode']>[0], maxP99Increase: string) {
    split().reset('1', '2');
    await sleep(1_000);
    await using load = new SteadyLoad(client, { concurrency: 4 });
    const run = controller(['--schedule', '20,50,100', '--interval', `${INTERVAL_MS / 1000}s`, '--failure-threshold', String(FAILURE_THRESHOLD), '--max-p99-increase', maxP99Increase]);
    for (let i = 0; i < 300 && step() < 1; i++) await sleep(50);
    assert.equal(step(), 1, `the first step passed: ${run.output.join('')}`);
    await proxy.setMode(fault);
    const faultAt = Date.now();
    const beforeFault = load.outcomes.length;
    while (weights() !== '1=100,2=0' && Date.now() - faultAt < 60_000) await sleep(20);
    const rolledBackMs = Date.now() - faultAt;
    const code = await run.exited;
    const text = run.output.join('');
    const duringFault = load.outcomes.slice(beforeFault);
    // The gateway re-reads the split every 200 ms; calls already on their way to version 2 finish.
    await sleep(1_000);
    const afterMs = Date.now();
    const after = load.outcomes.length;
    await sleep(2_000);
    await load.stop();
    const versionsAfter = new Set(load.outcomes.slice(after).flatMap((outcome) => outcome.response?.results.map((result) => result.modelVersion) ?? []));
    const version2After = (await proxy.records('ModelInfer')).filter((record) => record.modelVersion === '2' && record.receivedAt >= afterMs);
    const version2CallsAfter = version2After.length;
    const failedAfter = load.outcomes.slice(after).filter((outcome) => !outcome.ok).length;
    // What a failure of the "no call reaches version 2" assertion needs to be explained (seen once in CI, not reproduced).
    const afterReport =
      `${version2CallsAfter} ModelInfer calls for version 2 from ${afterMs} (${version2After.filter((r) => r.faulted).length} faulted, ` +
      `first at +${version2After.length ? version2After[0]!.receivedAt - afterMs : 0} ms, last at +${version2After.length ? version2After.at(-1)!.receivedAt - afterMs : 0} ms); ` +
      `${load.outcomes.length - after} requests after, ${failedAfter} failed (${[...new Set(load.outcomes.slice(after).filter((o) => !o.ok).map((o) => o.code))].join(', ')}); ` +
      `rollback seen at +${rolledBackMs} ms after the fault`;
    return { code, text, rolledBackMs, duringFault, versionsAfter, version2CallsAfter, failedAfter, answeredAfter: load.outcomes.length - after, afterReport };
  }

  it('the gateway exports imesh_gateway_model_calls_total and imesh_gateway_model_call_duration per version, status code included', async () => {
    const text = await (await fetch(gatewayMetricsUrl)).text();
    assert.match(text, /^imesh_gateway_model_calls_total\{[^}]*model_name="sentiment"[^}]*model_version="1"[^}]*rpc_grpc_status_code="OK"[^}]*\} [1-9]/m, text);
    assert.match(text, /^imesh_gateway_model_call_duration_bucket\{[^}]*model_version="1"[^}]*le="[0-9.]+"\} /m);
    assert.match(text, /^imesh_gateway_model_call_duration_count\{[^}]*model_version="1"[^}]*\} [1-9]/m);
  });

  it('a canary failing half its calls (UNAVAILABLE) is rolled back within interval x threshold on its error ratio; then 0 requests reach it', async () => {
    const result = await rollBackUnder({ kind: 'fail', code: status.UNAVAILABLE, onlyModelVersion: '2', ratio: 0.5 }, '3');
    assert.equal(result.code, 3, result.text);
    assert.match(result.text, /analysis at 20%: pass/);
    assert.match(result.text, /analysis at 50%: fail\n {2}error ratio [1-9][0-9.]*% vs [0-9.]+%/, result.text);
    const reason = rollout().reason!;
    assert.match(reason, new RegExp(`^${FAILURE_THRESHOLD} failed analyses \\(threshold ${FAILURE_THRESHOLD}\\): error ratio [1-9]`), reason);
    assert.ok(result.rolledBackMs <= INTERVAL_MS * FAILURE_THRESHOLD + ALLOWANCE_MS, `rolled back ${result.rolledBackMs} ms after the fault began`);
    assert.deepEqual([...result.versionsAfter], ['1'], 'after the rollback every answer comes from version 1');
    assert.equal(result.version2CallsAfter, 0, `after the rollback no ModelInfer call for version 2 reaches the proxy: ${result.afterReport}`);
    assert.equal(result.failedAfter, 0, result.afterReport);
    const failed = result.duringFault.filter((outcome) => !outcome.ok);
    process.stdout.write(
      `      [rollout] UNAVAILABLE for 50% of version 2's calls: rolled back ${(result.rolledBackMs / 1000).toFixed(1)} s after the fault began ` +
        `(limit ${(INTERVAL_MS * FAILURE_THRESHOLD) / 1000} s + ${ALLOWANCE_MS / 1000} s); ${failed.length} of ${result.duringFault.length} requests failed meanwhile ` +
        `(${[...new Set(failed.map((outcome) => outcome.code))].join(', ') || 'none'}), 0 of ${result.answeredAfter} after\n`,
    );
  });

  it('a canary slowed beyond the p99 limit is rolled back within interval x threshold on its p99; then 0 requests reach it', async () => {
    const result = await rollBackUnder({ kind: 'slow', delayMs: 400, onlyModelVersion: '2' }, '2');
    assert.equal(result.code, 3, result.text);
    assert.match(result.text, /analysis at 50%: fail/);
    const reason = rollout().reason!;
    assert.match(reason, /error ratio 0\.00% vs 0\.00%/, 'no errors: the latency alone fails it');
    assert.match(reason, /p99 model hop, retries included \(gateway\) [0-9.]+ ms vs [0-9.]+ ms: \+[0-9.]+% \(limit \+200%\)/, reason);
    assert.ok(result.rolledBackMs <= INTERVAL_MS * FAILURE_THRESHOLD + ALLOWANCE_MS, `rolled back ${result.rolledBackMs} ms after the fault began`);
    assert.deepEqual([...result.versionsAfter], ['1']);
    assert.equal(result.version2CallsAfter, 0, result.afterReport);
    assert.equal(result.duringFault.filter((outcome) => !outcome.ok).length, 0, 'a slow canary fails nobody');
    process.stdout.write(
      `      [rollout] version 2 held 400 ms per call: rolled back ${(result.rolledBackMs / 1000).toFixed(1)} s after the fault began, ` +
        `0 of ${result.duringFault.length} requests failed meanwhile, 0 of ${result.answeredAfter} reached version 2 after\n`,
    );
  });
});

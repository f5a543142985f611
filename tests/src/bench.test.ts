import { REPO_ROOT } from '@inference-mesh/launcher';
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BENCH = join(REPO_ROOT, 'tools', 'bench', 'dist', 'main.js');

interface Measured {
  readonly requests: number;
  readonly errors: number;
  readonly warmupErrors: number;
  readonly latency: { readonly p50Ms: number; readonly p99Ms: number };
}

/** Runs a short bench as `npm run bench` would and returns its JSON report; the bench exits 1 on any error. */
async function shortBench(args: readonly string[], report: string): Promise<{ json: Record<string, unknown>; dir: string; stdout: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'imesh-bench-test-'));
  const { stdout } = await run(process.execPath, [BENCH, ...args, '--quick', '--warmup-s', '0.2', '--duration-s', '0.5', '--out', dir], {
    cwd: REPO_ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  for (const ext of ['json', 'md', 'svg']) assert.ok(existsSync(join(dir, `${report}.${ext}`)), `${report}.${ext} was written; the bench said:\n${stdout.slice(-3000)}`);
  return { json: JSON.parse(readFileSync(join(dir, `${report}.json`), 'utf8')) as Record<string, unknown>, dir, stdout };
}

function assertCompleted(label: string, measurement: Measured): void {
  assert.ok(measurement.requests > 0, `${label}: answered requests`);
  assert.equal(measurement.errors + measurement.warmupErrors, 0, `${label}: no errors`);
  assert.ok(measurement.latency.p50Ms > 0 && measurement.latency.p99Ms >= measurement.latency.p50Ms, `${label}: latency percentiles`);
}

describe('npm run bench (short runs: structure and zero errors, no speed assertions)', function () {
  this.timeout(600_000);
  const dirs: string[] = [];
  after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('mesh: every case of the suite completes with zero errors and the report holds each of them', async () => {
    const { json, dir, stdout } = await shortBench(['mesh', '--concurrency', '1,8', '--ort-batch-sizes', '1,8', '--texts', '256'], 'mesh');
    dirs.push(dir);
    assert.equal(json['suite'], 'mesh');
    assert.deepEqual(json['problems'], []);
    assert.equal(json['errors'], 0);
    const rawOrt = json['rawOrt'] as { batchSize: number; measurement: Measured }[];
    assert.deepEqual(rawOrt.map((c) => c.batchSize), [1, 8]);
    rawOrt.forEach((c) => assertCompleted(`ONNX Runtime batch ${c.batchSize}`, c.measurement));
    const cases = json['cases'] as { kind: string; measurement: Measured & { concurrency: number }; cpuMsPerThousandRequests: number }[];
    const kinds = ['in-process pipeline', 'mesh unary', 'mesh streaming', 'mesh unary, batching off'];
    assert.deepEqual(
      cases.map((c) => `${c.kind} x${c.measurement.concurrency}`).sort(),
      kinds.flatMap((kind) => [`${kind} x1`, `${kind} x8`]).sort(),
    );
    for (const c of cases) {
      assertCompleted(`${c.kind} x${c.measurement.concurrency}`, c.measurement);
      assert.ok(c.cpuMsPerThousandRequests > 0, 'CPU per 1k requests measured');
    }
    const meshes = json['meshes'] as { batching: string; idleRssBytes: Record<string, number>; peakRssBytes: Record<string, number> }[];
    assert.deepEqual(meshes.map((m) => m.batching), ['on', 'off']);
    for (const m of meshes) {
      for (const service of ['tokenizer', 'model', 'postprocess', 'gateway']) {
        assert.ok(m.idleRssBytes[service]! > 0 && m.peakRssBytes[service]! >= m.idleRssBytes[service]!, `${service} RSS measured`);
      }
    }
    const summary = json['summary'] as { id: string; verdict: string }[];
    assert.deepEqual(summary.map((l) => l.id), ['a', 'b', 'c', 'd-tokenizer', 'd-model', 'd-postprocess', 'd-gateway']);
    assert.ok(summary.every((l) => l.verdict === 'PASS' || l.verdict === 'MISS'), 'every target was evaluated');
    assert.match(readFileSync(join(dir, 'mesh.svg'), 'utf8'), /^<svg[^>]*>[\s\S]*<\/svg>\s*$/);
    assert.match(stdout, /\[\d+\/\d+\] mesh streaming, 8 callers \.\.\./, 'progress is shown while it runs');
  });

  it('overhead: the echo per hop, both one-process servers, the mesh and bulk complete with zero errors, with the per-hop table and every target', async () => {
    const { json, dir, stdout } = await shortBench(['overhead', '--concurrency', '1,8', '--texts', '128', '--bulk-texts', '512'], 'overhead');
    dirs.push(dir);
    assert.equal(json['suite'], 'overhead');
    assert.deepEqual(json['problems'], []);
    assert.equal(json['errors'], 0);
    const hops = ['Classify', 'Encode', 'ModelInfer', 'Postprocess'];
    const echo = json['echo'] as { hop: string; requestBytes: number; responseBytes: number; measurement: Measured; serverCpuUsPerCall: number; idleP50Ms: number }[];
    assert.deepEqual(echo.map((e) => e.hop), hops);
    for (const e of echo) {
      assertCompleted(`echo ${e.hop}`, e.measurement);
      assert.ok(e.requestBytes > 0 && e.responseBytes > 0, `${e.hop}: message sizes computed`);
      assert.ok(Number.isFinite(e.serverCpuUsPerCall), `${e.hop}: echo server CPU read`);
      assert.ok(e.idleP50Ms > 0, `${e.hop}: echo after an idle gap measured`);
    }
    type Case = { server: string; mode: string; measurement: Measured & { concurrency: number }; cpuMsPerText: Record<string, number>; hops?: Record<string, { calls: number }> };
    const cases = json['cases'] as Case[];
    const servers = ['one-process, batching off', 'one-process, batching on', 'mesh'];
    assert.deepEqual(
      cases.map((c) => `${c.server} ${c.mode} x${c.measurement.concurrency}`).sort(),
      [1, 8].flatMap((n) => servers.flatMap((server) => [`${server} unary x${n}`, `${server} stream x${n}`])).sort(),
    );
    for (const c of cases) {
      assertCompleted(`${c.server} ${c.mode} x${c.measurement.concurrency}`, c.measurement);
      const processes = c.server === 'mesh' ? ['bench', 'tokenizer', 'model', 'postprocess', 'gateway'] : ['bench', 'one-process'];
      assert.deepEqual(Object.keys(c.cpuMsPerText).sort(), processes.sort(), 'CPU per text for each process of the case');
      if (c.server === 'mesh' && c.mode === 'unary') {
        for (const hop of hops) assert.ok((c.hops?.[hop]?.calls ?? 0) > 0, `${hop} calls read from the mesh's /metrics`);
      }
    }
    const bulk = json['bulk'] as { server: string; texts: number; textsPerSecond: number; error?: string }[];
    assert.deepEqual(bulk.map((b) => [b.server, b.texts, b.error]), [['one-process, batching off', 512, undefined], ['mesh', 512, undefined]]);
    assert.ok(bulk.every((b) => b.textsPerSecond > 0), 'imesh classify --file timed');
    assert.deepEqual((json['hops'] as { hop: string }[]).map((h) => h.hop), hops);
    const summary = json['summary'] as { id: string; verdict: string }[];
    assert.deepEqual(summary.map((l) => l.id), [
      'a', 'a-batching', 'b', 'b-batching', 'c', 'c-floor',
      'd-Encode-p50', 'd-Encode-cpu', 'd-ModelInfer-p50', 'd-ModelInfer-cpu', 'd-Postprocess-p50', 'd-Postprocess-cpu', 'd-gateway-cpu', 'e',
    ]);
    for (const line of summary) {
      // The comparisons with the batching server and the platform's floor are reported; every other line is a
      // target, evaluated.
      const allowed = line.id.endsWith('-batching') || line.id === 'c-floor' ? ['REPORT'] : ['PASS', 'MISS'];
      assert.ok(allowed.includes(line.verdict), `(${line.id}) evaluated: ${line.verdict}`);
    }
    assert.match(readFileSync(join(dir, 'overhead.svg'), 'utf8'), /^<svg[^>]*>[\s\S]*<\/svg>\s*$/);
    assert.match(stdout, /\[\d+\/\d+\] mesh, stream, 8 callers \.\.\./, 'progress is shown while it runs');
  });

  it('model: batching on and off and ONNX Runtime in-process complete with zero errors', async () => {
    const { json, dir } = await shortBench(['model', '--concurrency', '1,8', '--batch-concurrency', '2', '--ort-batch-sizes', '1,8', '--texts', '512'], 'model');
    dirs.push(dir);
    assert.equal(json['suite'], 'model');
    assert.deepEqual(json['problems'], []);
    const cases = json['serviceCases'] as { batching: string; requestRows: number; measurement: Measured & { concurrency: number } }[];
    assert.equal(cases.length, 6);
    cases.forEach((c) => assertCompleted(`batching ${c.batching} ${c.requestRows} rows x${c.measurement.concurrency}`, c.measurement));
    assert.deepEqual((json['summary'] as { id: string }[]).map((l) => l.id), ['a', 'b', 'c']);
  });

  it('queue: bulk through RabbitMQ and a queue-worker and straight to the gateway complete, with the same answers and the ratio read', async () => {
    const { json, dir, stdout } = await shortBench(['queue', '--bulk-texts', '500'], 'queue');
    dirs.push(dir);
    assert.equal(json['suite'], 'queue');
    assert.deepEqual(json['problems'], [], 'no failed run, and both paths answered every line alike');
    const runs = json['runs'] as { path: string; textsPerSecond: number; cpuMsPerText: Record<string, number> }[];
    assert.deepEqual(runs.map((r) => r.path).sort(), ['classify --file', 'submit --file']);
    for (const run of runs) assert.ok(run.textsPerSecond > 0, `${run.path}: texts/s`);
    const submit = runs.find((r) => r.path === 'submit --file')!;
    assert.ok(submit.cpuMsPerText['queue-worker']! > 0 && submit.cpuMsPerText['broker']! > 0, 'the worker and the broker worked for the queue path, and their CPU was read');
    assert.deepEqual((json['summary'] as { id: string; verdict: string }[]).map((l) => [l.id, l.verdict === 'N/A']), [['queue-vs-classify', false]]);
    assert.match(stdout, /answers: the 500 lines of both paths agree/);
  });
});

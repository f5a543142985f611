import { PipelineClient } from '@inference-mesh/client';
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SteadyLoad, type Outcome } from './load';
import { useMesh } from './mesh-fixture';

/**
 * The gateway's split in a mounted ConfigMap, written as the kubelet writes a ConfigMap volume: each update is a new
 * timestamped directory, and the `..data` symlink is renamed onto it; the key `weights` links through `..data`.
 */
class SplitVolume {
  readonly dir = mkdtempSync(join(tmpdir(), 'imesh-split-'));
  readonly file = join(this.dir, 'weights');
  private generation = 0;
  private current: string | undefined;

  constructor(weights: string) {
    this.write(weights);
    symlinkSync(join('..data', 'weights'), this.file);
  }

  /** Returns when the new content is in place (epoch ms). */
  write(weights: string): number {
    const generation = `..2026_12_01_12_00_00.${++this.generation}`;
    mkdirSync(join(this.dir, generation));
    writeFileSync(join(this.dir, generation, 'weights'), `${weights}\n`);
    symlinkSync(generation, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.current) rmSync(join(this.dir, this.current), { recursive: true });
    this.current = generation;
    return Date.now();
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Each version's share (percent) of the answered requests that were sent in [fromMs, toMs). */
function shares(outcomes: readonly Outcome[], fromMs: number, toMs: number): { count: number; percent: Record<string, number> } {
  const versions = outcomes.filter((o) => o.ok && o.startMs >= fromMs && o.startMs < toMs).map((o) => o.response!.results[0]!.modelVersion);
  const counts: Record<string, number> = {};
  for (const version of versions) counts[version] = (counts[version] ?? 0) + 1;
  const percent = Object.fromEntries(Object.entries(counts).map(([version, count]) => [version, (count / versions.length) * 100]));
  return { count: versions.length, percent };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The gateway applies a change within its 1 s poll; this much is allowed before the new shares are measured. */
const SETTLE_MS = 3_000;
const WINDOW_MS = 2_000;

describe('canary split from a mounted file: changed under load without restarting the gateway (four processes, real gRPC)', function () {
  this.timeout(180_000);
  const volume = new SplitVolume('1=100,2=0');
  // The default 1 s poll, as deployed; no IMESH_MODEL_VERSION_WEIGHTS, as in k8s/base/gateway.yaml.
  const fixture = useMesh({ serviceEnv: { gateway: { IMESH_MODEL_VERSION_WEIGHTS_FILE: volume.file } } });
  let client: PipelineClient;
  before(() => {
    client = new PipelineClient({ target: fixture.mesh.gateway });
  });
  after(() => {
    client?.close();
    volume.remove();
  });

  async function metrics(): Promise<string> {
    const listening = fixture.logs.map((line) => /^gateway: (\{.*"msg":"metrics listening".*\})$/.exec(line)).find((match) => match);
    assert.ok(listening, 'the gateway logs its metrics port');
    const port = (JSON.parse(listening[1]!) as { port: number }).port;
    return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  }

  function sample(text: string, name: string, label: string): number | undefined {
    const match = new RegExp(`^${name}\\{[^}]*${label}[^}]*\\} ([0-9.e+-]+)`, 'm').exec(text);
    return match ? Number(match[1]) : undefined;
  }

  it('moves the traffic shares within seconds as the file goes 100/0 -> 0/100 -> 50/50, with 0 failed requests and the same gateway process; refuses a split naming an absent version, keeping the last good one', async () => {
    const gateway = fixture.mesh.services.gateway.process;
    const pid = gateway.pid;
    await using load = new SteadyLoad(client, { concurrency: 8, deadlineMs: 10_000 });
    await load.waitForSuccesses(50);
    const start = Date.now();
    await sleep(WINDOW_MS);
    const steps: { weights: string; writtenMs: number; shares: ReturnType<typeof shares> }[] = [];
    steps.push({ weights: '1=100,2=0', writtenMs: start, shares: shares(load.outcomes, start, start + WINDOW_MS) });
    assert.deepEqual(steps[0]!.shares.percent, { '1': 100 }, 'at 1=100,2=0 every unpinned request gets version 1');

    for (const [weights, expected] of [
      ['1=0,2=100', { '2': 100 }],
      ['1=50,2=50', { '1': 50, '2': 50 }],
    ] as const) {
      const writtenMs = volume.write(weights);
      await sleep(SETTLE_MS + WINDOW_MS);
      const measured = shares(load.outcomes, writtenMs + SETTLE_MS, writtenMs + SETTLE_MS + WINDOW_MS);
      const applied = fixture.logs.find((line) => line.includes('"msg":"version split applied"') && line.includes(`"weights":"${weights}"`));
      assert.ok(applied, `the gateway logs that it applied ${weights}`);
      steps.push({ weights, writtenMs, shares: measured });
      assert.ok(measured.count >= 50, `only ${measured.count} requests answered in the window`);
      assert.deepEqual(Object.keys(measured.percent).sort(), Object.keys(expected).sort(), `${weights}: ${JSON.stringify(measured.percent)}`);
      for (const [version, percent] of Object.entries(expected)) {
        // 50/50 over at least 50 requests: 20 points is more than 2.8 standard deviations.
        assert.ok(Math.abs(measured.percent[version]! - percent) <= 20, `${weights}: version ${version} got ${measured.percent[version]}%`);
      }
    }

    // A split naming a version the model service does not serve: refused, and 50/50 stays in force.
    const refusedMs = volume.write('1=50,3=50');
    await sleep(SETTLE_MS + WINDOW_MS);
    const refusal = fixture.logs.find((line) => line.includes('version split refused') && line.includes('"weights":"1=50,3=50"'));
    assert.ok(refusal, 'the gateway logs the refusal');
    assert.match(refusal, /"missing":\["3"\],"available":\["1","2"\]/);
    assert.match(refusal, /"inForce":"1=50,2=50"/);
    const after = shares(load.outcomes, refusedMs, refusedMs + SETTLE_MS + WINDOW_MS);
    steps.push({ weights: '1=50,3=50 (refused)', writtenMs: refusedMs, shares: after });
    assert.deepEqual(Object.keys(after.percent).sort(), ['1', '2'], `still 50/50: ${JSON.stringify(after.percent)}`);
    const text = await metrics();
    assert.equal(sample(text, 'imesh_gateway_version_weight', 'version="1"'), 50);
    assert.equal(sample(text, 'imesh_gateway_version_weight', 'version="2"'), 50);
    assert.equal(sample(text, 'imesh_gateway_version_weight', 'version="3"'), undefined, 'version 3 was never in force');
    assert.equal(sample(text, 'imesh_gateway_version_split_refused_total', 'reason="unknown_version"'), 1);

    const figures = await load.stop();
    // How long 1=0,2=100 took to show: its first version 2 answer after the write.
    const toCanary = steps[1]!;
    const firstCanary = load.outcomes.find((o) => o.ok && o.startMs >= toCanary.writtenMs && o.response!.results[0]!.modelVersion === '2');
    const rounded = (percent: Record<string, number>) => JSON.stringify(Object.fromEntries(Object.entries(percent).map(([v, p]) => [v, Math.round(p)])));
    process.stdout.write(
      `      ${figures.sent} requests, ${figures.failed} failed; first version 2 answer ${firstCanary ? firstCanary.endMs - toCanary.writtenMs : '?'} ms after 1=0,2=100 was written; ` +
        `shares: ${steps.map((s) => `${s.weights} -> ${rounded(s.shares.percent)} of ${s.shares.count}`).join('; ')}\n`,
    );
    assert.equal(figures.failed, 0, JSON.stringify(figures.failures.slice(0, 3)));
    assert.equal(fixture.mesh.services.gateway.process, gateway, 'the same gateway process');
    assert.equal(gateway.pid, pid);
    assert.equal(gateway.exitCode, null, 'the gateway is still running');
    assert.equal(fixture.logs.filter((line) => line.startsWith('gateway: ') && line.includes('"msg":"listening"')).length, 1, 'the gateway started once');
  });
});

describe('canary split refused at start: IMESH_MODEL_VERSION_WEIGHTS naming a version the model service does not serve (four processes)', function () {
  this.timeout(120_000);
  const fixture = useMesh({ serviceEnv: { gateway: { IMESH_MODEL_VERSION_WEIGHTS: '1=50,3=50' } } });
  let client: PipelineClient;
  before(() => {
    client = new PipelineClient({ target: fixture.mesh.gateway });
  });
  after(() => client?.close());

  it('logs the refusal with the versions that exist, serves unpinned requests the latest version (no NOT_FOUND), and reports PipelineService NOT_SERVING', async () => {
    const deadline = Date.now() + 10_000;
    while (!fixture.logs.some((line) => line.includes('version split refused'))) {
      assert.ok(Date.now() < deadline, 'the gateway refuses the split once the model service answers');
      await sleep(50);
    }
    const refusal = fixture.logs.find((line) => line.includes('version split refused'))!;
    assert.match(refusal, /"weights":"1=50,3=50","missing":\["3"\],"available":\["1","2"\]/);
    for (let i = 0; i < 20; i++) {
      const { results } = await client.classify(['a gorgeous, witty, seductive movie.']);
      assert.equal(results[0]!.modelVersion, '2', 'the latest version');
    }
    assert.equal(await client.health('inference_mesh.pipeline.v1.PipelineService'), 'NOT_SERVING', 'readiness keeps the pod out of its Service');
    assert.equal(await client.health(''), 'SERVING', 'liveness stays: no restart loop');
  });
});

import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { abortRollout, formatHistory, resumeRollout, runRollout, type RolloutOptions } from './rollout';
import { afterAnalysis, canaryShare, parseRolloutState, scheduleProblem, startRollout, type AnalysisRecord, type AnalysisVerdict, type RolloutState } from './rollout-state';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigMapApiStore, DirectoryStore, inClusterApi } from './rollout-store';
import { rolloutMetricsText, serveRolloutMetrics } from './rollout-metrics';

const VERSIONS = { model: 'sentiment', stable: '1', canary: '2' };
const POLICY = { schedule: [5, 25, 50, 100], pauseAt: [], failureThreshold: 2, maxInconclusive: 3 };
const record = (verdict: AnalysisVerdict, share = 5): AnalysisRecord => ({ time: new Date(0).toISOString(), share, verdict, reasons: [`${verdict} reason`], metrics: { canaryErrorRatio: 0 } });
const at = new Date(1_000_000);

describe('rollout state', () => {
  it('advances on a pass and promotes after the last step below 100, without analysing at 100', () => {
    let state = startRollout(VERSIONS, POLICY, at);
    const shares = [canaryShare(state)];
    for (let i = 0; i < 3; i++) {
      state = afterAnalysis(state, record('pass', canaryShare(state)), at);
      shares.push(canaryShare(state));
    }
    assert.deepEqual(shares, [5, 25, 50, 100]);
    assert.equal(state.phase, 'promoted');
    assert.equal(state.history.length, 3);
  });

  it('rolls back at the failure threshold, share 0, with the reasons; a failure below it holds the step', () => {
    let state = afterAnalysis(startRollout(VERSIONS, POLICY, at), record('fail'), at);
    assert.deepEqual([state.phase, state.step, state.failures, canaryShare(state)], ['progressing', 0, 1, 5]);
    state = afterAnalysis(afterAnalysis(state, record('pass'), at), record('fail', 25), at);
    assert.deepEqual([state.phase, canaryShare(state)], ['rolled-back', 0]);
    assert.match(state.reason!, /2 failed analyses \(threshold 2\): fail reason/);
  });

  it('never promotes without a verdict: inconclusive analyses hold the step, and too many in a row roll back', () => {
    let state = startRollout(VERSIONS, POLICY, at);
    state = afterAnalysis(state, record('inconclusive'), at);
    state = afterAnalysis(state, record('inconclusive'), at);
    assert.deepEqual([state.phase, canaryShare(state), state.inconclusiveInARow], ['progressing', 5, 2]);
    state = afterAnalysis(state, record('inconclusive'), at);
    assert.deepEqual([state.phase, canaryShare(state)], ['rolled-back', 0]);
    assert.match(state.reason!, /3 inconclusive analyses in a row/);
  });

  it('pauses at a --pause-at share and checks its schedule', () => {
    const state = afterAnalysis(startRollout(VERSIONS, { ...POLICY, pauseAt: [25] }, at), record('pass'), at);
    assert.deepEqual([state.phase, canaryShare(state)], ['paused', 25]);
    assert.throws(() => afterAnalysis(state, record('pass'), at), /paused rollout/);
    assert.equal(scheduleProblem([5, 10, 100]), undefined);
    assert.match(scheduleProblem([10, 5, 100])!, /rise/);
    assert.match(scheduleProblem([5, 50])!, /last step must be 100/);
    assert.match(scheduleProblem([100])!, /at least one step below 100/);
  });

  it('reads back what it wrote, and names what is wrong in a damaged state', () => {
    const state = afterAnalysis(startRollout(VERSIONS, POLICY, at), record('pass'), at);
    assert.deepEqual(parseRolloutState(JSON.stringify(state), 'x'), state);
    assert.throws(() => parseRolloutState('{', 'rollout'), /rollout is not JSON/);
    assert.throws(() => parseRolloutState(JSON.stringify({ ...state, step: 'one', phase: 'dancing' }), 'rollout'), /step is not an integer, phase "dancing" is unknown/);
  });
});

describe('runRollout', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'imesh-rollout-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const options: RolloutOptions = { ...VERSIONS, ...POLICY, intervalMs: 30, pollMs: 5 };
  const weights = () => readFileSync(join(dir, 'weights'), 'utf8').trim();

  it('writes each step\'s split before analysing it, and ends promoted with the canary at 100', async () => {
    const seen: string[] = [];
    const state = await runRollout(options, {
      store: new DirectoryStore(dir),
      analyse: async (share) => {
        seen.push(`${share}%: ${weights()}`);
        return record('pass', share);
      },
      out: () => {},
    });
    assert.deepEqual(seen, ['5%: 1=95,2=5', '25%: 1=75,2=25', '50%: 1=50,2=50']);
    assert.deepEqual([state.phase, weights()], ['promoted', '1=0,2=100']);
  });

  it('a controller stopped mid-rollout and started again goes on from the recorded step, history kept', async () => {
    const stop = new AbortController();
    let analyses = 0;
    await assert.rejects(
      runRollout(options, {
        store: new DirectoryStore(dir),
        analyse: async (share) => {
          if (++analyses === 2) setImmediate(() => stop.abort(new Error('killed')));
          return record('pass', share);
        },
        out: () => {},
        signal: stop.signal,
      }),
      { name: "AbortError" },
    );
    assert.equal(weights(), '1=50,2=50', 'two steps passed before the stop');
    const lines: string[] = [];
    const shares: number[] = [];
    const state = await runRollout(options, { store: new DirectoryStore(dir), analyse: async (share) => (shares.push(share), record('pass', share)), out: (line) => lines.push(line), signal: new AbortController().signal });
    assert.match(lines[0]!, /continuing the rollout of version 2 at step 3 of 4 \(50%\), progressing, 2 analyses so far/);
    assert.deepEqual(shares, [50], 'only the step not yet analysed');
    assert.deepEqual([state.phase, state.history.length], ['promoted', 3]);
    assert.match(formatHistory(state), /promoted at 100%[\s\S]*  5% {2}pass[\s\S]* 25% {2}pass[\s\S]* 50% {2}pass/);
  });

  it('stops at once with share 0 when `canary abort` lands during a hold, and resumes a paused rollout', async () => {
    const store = new DirectoryStore(dir);
    const paused = runRollout({ ...options, pauseAt: [25], intervalMs: 60_000 }, { store, analyse: async (share) => record('pass', share), out: () => {} });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await abortRollout(store);
    const state: RolloutState = await paused;
    assert.deepEqual([state.phase, weights()], ['aborted', '1=100,2=0']);

    const lines: string[] = [];
    const again = await runRollout({ ...options, pauseAt: [25] }, { store, analyse: async () => assert.fail('an ended rollout is not analysed again'), out: (line) => lines.push(line) });
    assert.deepEqual([again.phase, weights()], ['aborted', '1=100,2=0']);
    assert.match(lines[0]!, /the rollout of version 2 has ended: aborted .*--restart starts it again/);
    const running = runRollout({ ...options, pauseAt: [25], restart: true }, { store, analyse: async (share) => record('pass', share), out: () => {} });
    for (let i = 0; i < 100 && (await store.read()).rollout?.phase !== 'paused'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(weights(), '1=75,2=25', 'held at the pause');
    await resumeRollout(store);
    assert.equal((await running).phase, 'promoted');
  });
});

describe('ConfigMapApiStore: the split ConfigMap through the Kubernetes API, as the controller Deployment uses it', () => {
  it('reads with GET and writes both keys with a merge patch, with the ServiceAccount token; names the refusal', async () => {
    const data: Record<string, string> = { weights: '1=100,2=0', other: 'kept' };
    const seen: string[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => {
        seen.push(`${request.method} ${request.url} ${request.headers.authorization} ${request.headers['content-type'] ?? '-'}`);
        if (request.url !== '/api/v1/namespaces/imesh/configmaps/gateway-version-split') {
          response.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'configmaps "x" is forbidden' }));
          return;
        }
        if (request.method === 'PATCH') Object.assign(data, (JSON.parse(body) as { data: Record<string, string> }).data);
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const api = { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 'sa-token' };
    try {
      const store = new ConfigMapApiStore(api, 'imesh', 'gateway-version-split');
      assert.deepEqual(await store.read(), { weights: '1=100,2=0', rollout: undefined });
      const state = startRollout(VERSIONS, POLICY, at);
      await store.write('1=95,2=5', state);
      assert.deepEqual(await store.read(), { weights: '1=95,2=5', rollout: state });
      assert.equal(data['other'], 'kept', 'a merge patch leaves the other keys');
      assert.deepEqual(seen.slice(0, 2), [
        'GET /api/v1/namespaces/imesh/configmaps/gateway-version-split Bearer sa-token -',
        'PATCH /api/v1/namespaces/imesh/configmaps/gateway-version-split Bearer sa-token application/merge-patch+json',
      ]);
      await assert.rejects(new ConfigMapApiStore(api, 'imesh', 'x').read(), /GET ConfigMap imesh\/x: HTTP 403 configmaps "x" is forbidden/);
    } finally {
      server.close();
    }
    assert.equal(inClusterApi({}), undefined, 'outside a pod: kubectl');
  });
});

describe('rollout metrics', () => {
  it('report the share, the phase and the analyses by verdict, counted from the recorded history', async () => {
    let state = startRollout(VERSIONS, POLICY, at);
    state = afterAnalysis(afterAnalysis(afterAnalysis(state, record('pass'), at), record('inconclusive', 25), at), record('fail', 25), at);
    const text = rolloutMetricsText(state);
    const labels = 'model="sentiment",stable="1",canary="2"';
    assert.match(text, new RegExp(`^imesh_rollout_canary_share\\{${labels}\\} 25$`, 'm'));
    assert.match(text, new RegExp(`^imesh_rollout_phase\\{${labels},phase="progressing"\\} 1$`, 'm'));
    assert.match(text, new RegExp(`^imesh_rollout_phase\\{${labels},phase="promoted"\\} 0$`, 'm'));
    for (const [verdict, count] of [['pass', 1], ['fail', 1], ['inconclusive', 1]] as const) {
      assert.match(text, new RegExp(`^imesh_rollout_analyses_total\\{${labels},verdict="${verdict}"\\} ${count}$`, 'm'));
    }
    const { server, port } = await serveRolloutMetrics(0, () => state);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), text);
    } finally {
      server.close();
    }
  });
});

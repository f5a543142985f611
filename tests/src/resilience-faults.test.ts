import { status } from '@grpc/grpc-js';
import { isPipelineError, PipelineClient } from '@inference-mesh/client';
import type { ServiceProcess } from '@inference-mesh/launcher';
import { strict as assert } from 'node:assert';
import type { FaultProxy } from './fault-proxy';
import { figures, median, SteadyLoad, type Outcome } from './load';
import { report, useProcessGroup } from './resilience-fixture';

const TEXT = ['a gorgeous, witty, seductive movie.'];
const HALF_OPEN_AFTER_MS = 1_000;

async function outcomeOf(call: Promise<unknown>): Promise<Outcome> {
  const startMs = Date.now();
  try {
    await call;
    return { startMs, endMs: Date.now(), ok: true };
  } catch (error) {
    if (!isPipelineError(error)) throw error;
    return { startMs, endMs: Date.now(), ok: false, code: error.codeName, message: error.details };
  }
}

/**
 * Fault injection between the gateway and the model service: a fault proxy (its own process, real gRPC on both
 * sides) forwards the gateway's model calls and can be switched to fail or to stall. Issue 6, scenarios 3, 4, 6
 * (a model's RESOURCE_EXHAUSTED) and 8.
 */
describe('resilience: a faulty model downstream', function () {
  this.timeout(180_000);
  const group = useProcessGroup();
  let model: ServiceProcess;
  let proxy: FaultProxy;
  let client: PipelineClient;
  let downstreamEnv: Record<string, string>;

  before(async function () {
    this.timeout(180_000);
    const [tokenizer, realModel, postprocess] = await Promise.all([group.launch('tokenizer'), group.launch('model'), group.launch('postprocess')]);
    model = realModel!;
    downstreamEnv = { IMESH_TOKENIZER_TARGET: tokenizer!.address, IMESH_POSTPROCESS_TARGET: postprocess!.address, IMESH_LOG_LEVEL: 'debug' };
    proxy = await group.proxy(model.address);
    const gateway = await group.launch('gateway', {
      ...downstreamEnv,
      IMESH_MODEL_TARGET: proxy.address,
      IMESH_BREAKER_HALF_OPEN_AFTER_MS: String(HALF_OPEN_AFTER_MS),
    });
    client = new PipelineClient({ target: gateway.address });
    await client.classify(TEXT);
  });
  after(() => client?.close());
  afterEach(async () => {
    await proxy.setMode({ kind: 'pass' });
  });

  it('4. a downstream slower than the deadline: DEADLINE_EXCEEDED at the deadline, the downstream sees the cancellation, no retry', async () => {
    const deadlineMs = 500;
    await proxy.setMode({ kind: 'slow', delayMs: 5_000 });
    await proxy.reset();
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 5; i++) outcomes.push(await outcomeOf(client.classify(TEXT, { deadlineMs })));
    // Anything sent after the deadline (a retry) would show up here.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const seen = await proxy.records('ModelInfer');
    const latencies = outcomes.map((o) => o.endMs - o.startMs);
    report('4 downstream slower than the deadline', figures(outcomes, latencies.reduce((a, b) => a + b, 0)), `latency ${latencies.join(', ')} ms for a ${deadlineMs} ms deadline`);
    assert.deepEqual(outcomes.map((o) => o.code), Array(5).fill('DEADLINE_EXCEEDED'));
    for (const latency of latencies) assert.ok(Math.abs(latency - deadlineMs) <= 50, `answered after ${latency} ms, deadline ${deadlineMs} ms`);
    assert.equal(seen.length, 5, 'one model call per request: nothing retried');
    for (const [i, call] of seen.entries()) {
      assert.ok(call.cancelledAt !== undefined, `the downstream saw call ${i} cancelled`);
      const sentDeadline = outcomes[i]!.startMs + deadlineMs;
      assert.ok(Math.abs(call.deadline - sentDeadline) <= 250, `the downstream got the caller's deadline (${call.deadline - sentDeadline} ms off)`);
      assert.ok(call.cancelledAt - sentDeadline <= 250, `cancelled ${call.cancelledAt - sentDeadline} ms after the deadline`);
    }
    await proxy.setMode({ kind: 'pass' });
    assert.ok((await outcomeOf(client.classify(TEXT))).ok, 'slowness at the caller\'s deadline did not open the breaker');
  });

  it('3. a downstream answering UNAVAILABLE for 10 s: the breaker opens and fails fast, attempts stay in budget, recovery within the half-open delay', async () => {
    await using load = new SteadyLoad(client, { concurrency: 4, texts: TEXT, pauseMs: 20, deadlineMs: 5_000 });
    await load.waitForSuccesses(20);
    await proxy.reset();
    const outageStart = Date.now();
    await proxy.setMode({ kind: 'fail', code: status.UNAVAILABLE });
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const recoveredAt = Date.now();
    await proxy.setMode({ kind: 'pass' });
    const waitUntil = recoveredAt + 30_000;
    while (!load.outcomes.some((o) => o.ok && o.startMs >= recoveredAt)) {
      assert.ok(Date.now() < waitUntil, 'no request succeeded within 30 s of the recovery');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await load.waitForSuccesses(40);
    const result = await load.stop();
    const attempts = (await proxy.records('ModelInfer')).filter((r) => r.receivedAt < recoveredAt).length;

    const startedDuring = load.outcomes.filter((o) => o.startMs >= outageStart && o.startMs < recoveredAt).length;
    const during = load.outcomes.filter((o) => o.startMs >= outageStart && o.endMs < recoveredAt);
    const fastFails = during.filter((o) => /circuit breaker is open/.test(o.message ?? '')).map((o) => o.endMs - o.startMs);
    const firstRecovered = Math.min(...load.outcomes.filter((o) => o.ok && o.startMs >= recoveredAt).map((o) => o.endMs));
    const afterRecovery = load.outcomes.filter((o) => o.startMs >= firstRecovered);
    report(
      '3 downstream UNAVAILABLE for 10 s',
      result,
      `${during.length} requests during the outage: ${fastFails.length} failed fast (median ${median(fastFails)} ms), ` +
        `${attempts} model attempts; healthy ${firstRecovered - recoveredAt} ms after recovery`,
    );
    assert.ok(fastFails.length > 0.8 * during.length, 'once open, the breaker answers almost every call');
    assert.ok(median(fastFails) < 50, `callers fail fast (median ${median(fastFails)} ms)`);
    assert.ok(during.every((o) => o.code === 'UNAVAILABLE' && /^model /.test(o.message!)), 'every failure is UNAVAILABLE naming the model');
    // Retries only come out of the budget (0.2 per call, 10 at most saved), and the breaker cuts attempts further.
    assert.ok(attempts <= 1.2 * startedDuring + 10, `${attempts} attempts for ${startedDuring} requests`);
    assert.ok(firstRecovered - recoveredAt <= HALF_OPEN_AFTER_MS + 1_000, `healthy again ${firstRecovered - recoveredAt} ms after recovery`);
    assert.deepEqual(afterRecovery.filter((o) => !o.ok), [], 'every request after the first success succeeds');
  });

  it('3b. with the breaker out of the way, the retry budget alone keeps attempts to a dead downstream near 1.2x the calls', async () => {
    // One model call per request (no merging of the 4 concurrent ones), so that attempts compare with calls.
    const gateway = await group.launch('gateway', {
      ...downstreamEnv,
      IMESH_MODEL_TARGET: proxy.address,
      IMESH_BREAKER_CONSECUTIVE_FAILURES: '1000',
      IMESH_GATEWAY_BATCHING: 'off',
    });
    const budgetClient = new PipelineClient({ target: gateway.address });
    try {
      await budgetClient.classify(TEXT);
      await proxy.setMode({ kind: 'fail', code: status.UNAVAILABLE });
      await proxy.reset();
      const started = Date.now();
      const outcomes: Outcome[] = [];
      for (let i = 0; i < 25; i++) outcomes.push(...(await Promise.all(Array.from({ length: 4 }, () => outcomeOf(budgetClient.classify(TEXT))))));
      const attempts = (await proxy.records('ModelInfer')).length;
      report('3b retry budget alone, downstream down', figures(outcomes, Date.now() - started), `${attempts} model attempts for ${outcomes.length} requests (${(attempts / outcomes.length).toFixed(2)}x; without a budget 3x)`);
      assert.ok(outcomes.every((o) => o.code === 'UNAVAILABLE'));
      assert.ok(attempts >= outcomes.length, 'each request was tried');
      assert.ok(attempts <= 1.2 * outcomes.length + 10, `${attempts} attempts: at most 0.2 retries per call plus a burst of 10`);
    } finally {
      budgetClient.close();
    }
  });

  it('6. a model refusing with RESOURCE_EXHAUSTED (queue full): the caller hears it at once, never retried', async () => {
    await proxy.setMode({ kind: 'fail', code: status.RESOURCE_EXHAUSTED, details: 'model queue is full (1024 requests waiting); retry later' });
    await proxy.reset();
    const retriesBefore = group.logs.length;
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 10; i++) outcomes.push(await outcomeOf(client.classify(TEXT)));
    const attempts = (await proxy.records('ModelInfer')).length;
    const latencies = outcomes.map((o) => o.endMs - o.startMs);
    report('6 model queue full (RESOURCE_EXHAUSTED)', figures(outcomes, latencies.reduce((a, b) => a + b, 0)), `${attempts} model attempts, median ${median(latencies)} ms`);
    assert.deepEqual(outcomes.map((o) => o.code), Array(10).fill('RESOURCE_EXHAUSTED'));
    assert.match(outcomes[0]!.message!, /model queue is full/);
    assert.equal(attempts, 10, 'one attempt per request');
    assert.equal(group.count('gateway', /"msg":"retrying"/, retriesBefore), 0);
    assert.ok(median(latencies) < 100, `answered at once (median ${median(latencies)} ms)`);
    await proxy.setMode({ kind: 'pass' });
    assert.ok((await outcomeOf(client.classify(TEXT))).ok, 'a full queue does not open the breaker');
  });

  it('keepalive: a frozen downstream (SIGSTOP, connection open) is detected within seconds, not at the deadline', async () => {
    const frozen = await group.proxy(model.address);
    const gateway = await group.launch('gateway', {
      ...downstreamEnv,
      IMESH_MODEL_TARGET: frozen.address,
      IMESH_KEEPALIVE_TIME_MS: '1000',
      IMESH_KEEPALIVE_TIMEOUT_MS: '1000',
      IMESH_RETRY_MAX_ATTEMPTS: '0',
    });
    const keepaliveClient = new PipelineClient({ target: gateway.address });
    try {
      await keepaliveClient.classify(TEXT);
      frozen.process.kill('SIGSTOP');
      const outcome = await outcomeOf(keepaliveClient.classify(TEXT, { deadlineMs: 20_000 }));
      const ms = outcome.endMs - outcome.startMs;
      report('keepalive: frozen model downstream', figures([outcome], ms), `${outcome.code} after ${ms} ms (keepalive 1 s + 1 s; deadline 20 s, attempt cap 10 s)`);
      assert.equal(outcome.code, 'UNAVAILABLE', outcome.message);
      assert.ok(ms < 5_000, `the dead peer was noticed after ${ms} ms`);
    } finally {
      keepaliveClient.close();
      frozen.process.kill('SIGCONT');
      await frozen.kill();
    }
  });

  it('8. the primary model down with a fallback configured: every request answered, marked degraded with the version that served it', async () => {
    const primary = await group.proxy(model.address);
    const gateway = await group.launch('gateway', {
      ...downstreamEnv,
      IMESH_MODEL_TARGET: primary.address,
      IMESH_FALLBACK_TARGET: model.address,
      IMESH_FALLBACK_MODEL_VERSION: '1',
    });
    const fallbackClient = new PipelineClient({ target: gateway.address });
    try {
      const healthy = await fallbackClient.classify(TEXT);
      assert.deepEqual([healthy.results[0]!.modelVersion, healthy.results[0]!.degraded], ['2', false], 'the primary serves while it is up');
      await primary.kill();
      await using load = new SteadyLoad(fallbackClient, { concurrency: 4, texts: ['a gorgeous, witty, seductive movie.', 'an ugly, boring waste of two hours.'] });
      await load.waitForSuccesses(100);
      const result = await load.stop();
      const results = load.outcomes.flatMap((o) => o.response?.results ?? []);
      report('8 primary model down, fallback configured', result, `${results.length} results, all degraded, served by version 1`);
      assert.deepEqual(result.failures, [], 'every request was answered');
      assert.ok(results.every((r) => r.degraded && r.modelVersion === '1'), 'each result says it is degraded and which version served it');
      assert.deepEqual(
        results.slice(0, 2).map((r) => r.label),
        ['positive', 'negative'],
      );
    } finally {
      fallbackClient.close();
    }
  });
});

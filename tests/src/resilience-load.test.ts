import { isPipelineError, PipelineClient } from '@inference-mesh/client';
import type { ServiceProcess } from '@inference-mesh/launcher';
import { strict as assert } from 'node:assert';
import type { CallRecord, FaultProxy } from './fault-proxy';
import { figures, median, type Outcome } from './load';
import { report, useProcessGroup } from './resilience-fixture';

const TEXT = ['a gorgeous, witty, seductive movie.'];
/** The model holds each batch open this long for company, so requests sit in its batcher where a test can reach them. */
const QUEUE_DELAY_MS = 3_000;
const MAX_IN_FLIGHT = 12;

function send(client: PipelineClient, signal?: AbortSignal): Promise<Outcome> {
  const startMs = Date.now();
  return client.classify(TEXT, { deadlineMs: 30_000, ...(signal && { signal }) }).then(
    (response) => ({ startMs, endMs: Date.now(), ok: true, response }),
    (error: unknown) => {
      if (!isPipelineError(error)) throw error;
      return { startMs, endMs: Date.now(), ok: false, code: error.codeName, message: error.details };
    },
  );
}

const held = (records: CallRecord[]) => records.filter((r) => r.completedAt === undefined && r.cancelledAt === undefined).length;

/**
 * Cancellation and load shedding against the real mesh. The model's batcher waits QUEUE_DELAY_MS for company, so
 * requests are held inside a forming batch; a pass-through fault proxy in front of the model tells the test when
 * they have arrived there (no sleeps to guess it). Issue 6, scenarios 5 and 6.
 */
describe('resilience: cancellation and load shedding', function () {
  this.timeout(180_000);
  const group = useProcessGroup();
  let downstreamEnv: Record<string, string>;
  let proxy: FaultProxy;
  let gateway: ServiceProcess;
  let client: PipelineClient;

  before(async function () {
    this.timeout(180_000);
    const [tokenizer, model, postprocess] = await Promise.all([
      group.launch('tokenizer'),
      // Triton's rule: the delay holds even an idle model's batch open (cut_when_idle would run the first at once).
      group.launch('model', { IMESH_MODEL_MAX_QUEUE_DELAY_US: String(QUEUE_DELAY_MS * 1000), IMESH_MODEL_CUT_WHEN_IDLE: 'false' }),
      group.launch('postprocess'),
    ]);
    proxy = await group.proxy(model!.address);
    downstreamEnv = {
      IMESH_TOKENIZER_TARGET: tokenizer!.address,
      IMESH_MODEL_TARGET: proxy.address,
      IMESH_POSTPROCESS_TARGET: postprocess!.address,
      IMESH_LOG_LEVEL: 'debug',
      // One model call per request, so the proxy sees each request arrive and leave; the batch under test is the
      // model's own. (The gateway's request merging, on by default, is exercised by the other resilience suites.)
      IMESH_GATEWAY_BATCHING: 'off',
    };
    gateway = await group.launch('gateway', { ...downstreamEnv, IMESH_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT), IMESH_BREAKER_CONSECUTIVE_FAILURES: '2' });
    client = new PipelineClient({ target: gateway.address });
    await client.classify(TEXT);
  });
  beforeEach(() => proxy.reset());
  after(() => client?.close());

  it('5. clients cancel mid-batch: their slots are freed, batch-mates succeed, the breaker does not count it', async () => {
    const started = Date.now();
    const controllers = Array.from({ length: MAX_IN_FLIGHT }, () => new AbortController());
    const first = controllers.map((controller) => send(client, controller.signal));
    await proxy.waitFor('ModelInfer', `${MAX_IN_FLIGHT} calls waiting in the model's batcher`, (records) => held(records) === MAX_IN_FLIGHT);
    const leaving = MAX_IN_FLIGHT / 2;
    controllers.slice(0, leaving).forEach((controller) => controller.abort());
    const cancelledOutcomes = await Promise.all(first.slice(0, leaving));
    await proxy.waitFor('ModelInfer', `${leaving} cancellations`, (records) => records.filter((r) => r.cancelledAt !== undefined).length === leaving);
    // The gateway is full (MAX_IN_FLIGHT) unless the cancelled requests gave their slots back, and its model
    // breaker (2 failures) is open if it counted the cancellations: either way these would be refused.
    const second = await Promise.all(Array.from({ length: leaving }, () => send(client)));
    const mates = await Promise.all(first.slice(leaving));
    const outcomes = [...cancelledOutcomes, ...mates, ...second];
    report('5 clients cancel mid-batch', figures(outcomes, Date.now() - started), `${leaving} cancelled, ${mates.length} batch-mates and ${second.length} later requests`);
    assert.deepEqual(cancelledOutcomes.map((o) => o.code), Array(leaving).fill('CANCELLED'));
    assert.deepEqual(mates.map((o) => o.message ?? 'OK'), Array(mates.length).fill('OK'), 'batch-mates of the cancelled requests succeed');
    assert.deepEqual(second.map((o) => o.message ?? 'OK'), Array(second.length).fill('OK'), 'the freed slots took new requests, the breaker stayed closed');
  });

  it('6. the gateway full: requests over its in-flight limit get RESOURCE_EXHAUSTED at once, and are not retried', async () => {
    const started = Date.now();
    const logsBefore = group.logs.length;
    const admitted = Array.from({ length: MAX_IN_FLIGHT }, () => send(client));
    await proxy.waitFor('ModelInfer', `${MAX_IN_FLIGHT} calls waiting in the model's batcher`, (records) => held(records) === MAX_IN_FLIGHT);
    const refused = await Promise.all(Array.from({ length: 4 }, () => send(client)));
    const served = await Promise.all(admitted);
    const latencies = refused.map((o) => o.endMs - o.startMs);
    report('6 gateway at its in-flight limit', figures([...served, ...refused], Date.now() - started), `${refused.length} refused in median ${median(latencies)} ms`);
    assert.deepEqual(refused.map((o) => o.code), Array(4).fill('RESOURCE_EXHAUSTED'));
    assert.match(refused[0]!.message!, /the gateway is at capacity \(12 requests in flight\)/);
    assert.ok(latencies.every((ms) => ms < QUEUE_DELAY_MS / 3), `refused at once (${latencies.join(', ')} ms), not after waiting`);
    assert.ok(served.every((o) => o.ok), 'the admitted requests are served');
    assert.equal(group.count('gateway', /"msg":"retrying"/, logsBefore), 0, 'nothing was retried');
  });

  it('6. the model hop\'s bulkhead and its queue full: RESOURCE_EXHAUSTED at once for the extra calls', async () => {
    const hopGateway = await group.launch('gateway', { ...downstreamEnv, IMESH_BULKHEAD_LIMIT: '4', IMESH_BULKHEAD_QUEUE: '2' });
    const hopClient = new PipelineClient({ target: hopGateway.address });
    try {
      await hopClient.classify(TEXT);
      await proxy.reset();
      const started = Date.now();
      // 4 calls at the model and 2 waiting for a slot fill the hop; 3 more are refused. The first 6 are sent
      // before the rest so that all 9 pass the tokenizer's bulkhead (the same limits); which 3 of the last 5
      // are refused depends on arrival order, so the test counts.
      const first = Array.from({ length: 6 }, () => send(hopClient));
      await proxy.waitFor('ModelInfer', '4 calls waiting in the model\'s batcher', (records) => held(records) === 4);
      const more = Array.from({ length: 3 }, () => send(hopClient));
      const all = await Promise.all([...first, ...more]);
      const refused = all.filter((o) => !o.ok);
      const latencies = refused.map((o) => o.endMs - o.startMs);
      report('6 model bulkhead and its queue full', figures(all, Date.now() - started), `${refused.length} refused in median ${median(latencies)} ms`);
      assert.deepEqual(refused.map((o) => o.code), Array(3).fill('RESOURCE_EXHAUSTED'));
      for (const { message } of refused) assert.match(message!, /the gateway is at capacity for model calls/);
      assert.ok(latencies.every((ms) => ms < QUEUE_DELAY_MS / 3), `refused at once (${latencies.join(', ')} ms)`);
      assert.equal((await proxy.records('ModelInfer')).length, 6, 'only the 6 admitted calls reached the model');
    } finally {
      hopClient.close();
    }
  });

  it('left every service running', () => {
    assert.equal(gateway.process.exitCode, null);
  });
});

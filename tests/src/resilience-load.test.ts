import { isPipelineError, PipelineClient } from '@inference-mesh/client';
import type { ServiceProcess } from '@inference-mesh/launcher';
import { strict as assert } from 'node:assert';
import { figures, median, type Outcome } from './load';
import { report, useProcessGroup } from './resilience-fixture';

const TEXT = ['a gorgeous, witty, seductive movie.'];
/** The model holds each batch open this long for company, so requests sit in its batcher where a test can reach them. */
const QUEUE_DELAY_MS = 1_500;
const MAX_IN_FLIGHT = 12;

function send(client: PipelineClient, signal?: AbortSignal): Promise<Outcome> {
  const startMs = Date.now();
  return client.classify(TEXT, { deadlineMs: 20_000, ...(signal && { signal }) }).then(
    (response) => ({ startMs, endMs: Date.now(), ok: true, response }),
    (error: unknown) => {
      if (!isPipelineError(error)) throw error;
      return { startMs, endMs: Date.now(), ok: false, code: error.codeName, message: error.details };
    },
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Cancellation and load shedding against the real mesh, with the model's batcher set to wait QUEUE_DELAY_MS for
 * company so that requests are held, deterministically, inside a forming batch. Issue 6, scenarios 5 and 6.
 */
describe('resilience: cancellation and load shedding', function () {
  this.timeout(180_000);
  const group = useProcessGroup();
  let downstreamEnv: Record<string, string>;
  let gateway: ServiceProcess;
  let client: PipelineClient;

  before(async function () {
    this.timeout(180_000);
    const [tokenizer, model, postprocess] = await Promise.all([
      group.launch('tokenizer'),
      group.launch('model', { IMESH_MODEL_MAX_QUEUE_DELAY_US: String(QUEUE_DELAY_MS * 1000) }),
      group.launch('postprocess'),
    ]);
    downstreamEnv = {
      IMESH_TOKENIZER_TARGET: tokenizer!.address,
      IMESH_MODEL_TARGET: model!.address,
      IMESH_POSTPROCESS_TARGET: postprocess!.address,
      IMESH_LOG_LEVEL: 'debug',
    };
    gateway = await group.launch('gateway', { ...downstreamEnv, IMESH_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT), IMESH_BREAKER_CONSECUTIVE_FAILURES: '2' });
    client = new PipelineClient({ target: gateway.address });
    await client.classify(TEXT);
  });
  after(() => client?.close());

  it('5. clients cancel mid-batch: their slots are freed, batch-mates succeed, the breaker does not count it', async () => {
    const started = Date.now();
    const controllers = Array.from({ length: MAX_IN_FLIGHT }, () => new AbortController());
    const first = controllers.map((controller) => send(client, controller.signal));
    // They are now waiting in the model's batcher (for QUEUE_DELAY_MS); half of them leave.
    await sleep(300);
    const cancelled = controllers.slice(0, MAX_IN_FLIGHT / 2);
    cancelled.forEach((controller) => controller.abort());
    const cancelledOutcomes = await Promise.all(first.slice(0, MAX_IN_FLIGHT / 2));
    await sleep(200);
    // The gateway is full (MAX_IN_FLIGHT) unless the cancelled requests gave their slots back, and its model
    // breaker (2 failures) is open if it counted the cancellations: either way these would be refused.
    const second = await Promise.all(Array.from({ length: MAX_IN_FLIGHT / 2 }, () => send(client)));
    const mates = await Promise.all(first.slice(MAX_IN_FLIGHT / 2));
    const outcomes = [...cancelledOutcomes, ...mates, ...second];
    report('5 clients cancel mid-batch', figures(outcomes, Date.now() - started), `${cancelled.length} cancelled, ${mates.length} batch-mates and ${second.length} later requests`);
    assert.deepEqual(cancelledOutcomes.map((o) => o.code), Array(cancelled.length).fill('CANCELLED'));
    assert.deepEqual(mates.map((o) => o.code ?? 'OK'), Array(mates.length).fill('OK'), 'batch-mates of the cancelled requests succeed');
    assert.ok(mates.every((o) => o.endMs - o.startMs >= 500), 'the batch-mates were held in a forming batch when the others cancelled');
    assert.deepEqual(second.map((o) => o.message ?? 'OK'), Array(second.length).fill('OK'), 'the freed slots took new requests, the breaker stayed closed');
  });

  it('6. the gateway full: requests over its in-flight limit get RESOURCE_EXHAUSTED at once, and are not retried', async () => {
    const started = Date.now();
    const logsBefore = group.logs.length;
    const held = Array.from({ length: MAX_IN_FLIGHT }, () => send(client));
    await sleep(300);
    const refused = await Promise.all(Array.from({ length: 4 }, () => send(client)));
    const served = await Promise.all(held);
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
      const started = Date.now();
      const held = Array.from({ length: 6 }, () => send(hopClient));
      await sleep(300);
      const refused = await Promise.all(Array.from({ length: 3 }, () => send(hopClient)));
      const served = await Promise.all(held);
      const latencies = refused.map((o) => o.endMs - o.startMs);
      report('6 model bulkhead and its queue full', figures([...served, ...refused], Date.now() - started), `${refused.length} refused in median ${median(latencies)} ms`);
      assert.deepEqual(refused.map((o) => o.code), Array(3).fill('RESOURCE_EXHAUSTED'));
      assert.match(refused[0]!.message!, /the gateway is at capacity for model calls/);
      assert.ok(latencies.every((ms) => ms < QUEUE_DELAY_MS / 3), `refused at once (${latencies.join(', ')} ms)`);
      assert.ok(served.every((o) => o.ok), '4 running and 2 queued calls are served');
    } finally {
      hopClient.close();
    }
  });

  it('left every service running', () => {
    assert.equal(gateway.process.exitCode, null);
  });
});

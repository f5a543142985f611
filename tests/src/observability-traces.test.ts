import { PipelineClient } from '@inference-mesh/client';
import { encodeRequestMessage } from '@inference-mesh/client/queue';
import { startLocalBroker, startMesh, startQueueWorker, stopQueueWorker, type QueueWorkerProcess, type RunningMesh } from '@inference-mesh/launcher';
import { connect, type ChannelModel } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { strict as assert } from 'node:assert';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver';

const SERVICES = ['imesh-gateway', 'imesh-tokenizer', 'imesh-model', 'imesh-postprocess'];
const CLASSIFY = 'inference_mesh.pipeline.v1.PipelineService/Classify';

/**
 * Waits until the trace holds a server span from every service (and a span from each of `more`), each span's parent
 * having arrived too, but for the root's: a span whose parent is outside this process tree (a producer's).
 */
async function completeTrace(receiver: OtlpReceiver, traceId: string, timeoutMs: number, more: readonly string[] = []): Promise<ReceivedSpan[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const spans = receiver.spans.filter((span) => span.traceId === traceId);
    const ids = new Set(spans.map((span) => span.spanId));
    const servers = new Set(spans.filter((span) => span.kind === 'SPAN_KIND_SERVER').map((span) => span.service));
    const services = new Set(spans.map((span) => span.service));
    const orphans = spans.filter((span) => span.parentSpanId !== '' && !ids.has(span.parentSpanId)).length;
    const parentsHere = orphans <= (more.length > 0 ? 1 : 0);
    if (SERVICES.every((service) => servers.has(service)) && more.every((service) => services.has(service)) && parentsHere) return spans;
    if (Date.now() > deadline) {
      throw new Error(`trace ${traceId} incomplete after ${timeoutMs} ms: ${spans.map((s) => `${s.service} ${s.kind} ${s.name}`).join('; ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('observability: one trace per pipeline request, across the four processes', function () {
  this.timeout(120_000);
  const logs: string[] = [];
  let receiver: OtlpReceiver;
  let mesh: RunningMesh | undefined;
  let client: PipelineClient;

  before(async function () {
    this.timeout(120_000);
    receiver = await startOtlpReceiver();
    mesh = await startMesh({
      env: {
        // The standard variables, as an operator would set them for a collector.
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_METRICS_EXPORTER: 'none',
      },
      onLog: (service, line) => logs.push(`${service}: ${line}`),
    });
    client = new PipelineClient({ target: mesh.gateway });
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') process.stderr.write(`--- service logs (last 40 lines)\n${logs.slice(-40).join('\n')}\n`);
  });
  after(async function () {
    this.timeout(60_000);
    client?.close();
    await mesh?.stop();
    await receiver?.stop();
  });

  it('links the spans of every hop under the gateway span, and says which batch served the request', async () => {
    const texts = ['a gorgeous, witty, seductive movie.', 'an ugly, boring waste of two hours.'];
    for (const version of ['1', '2']) {
      const before = new Set(receiver.spans.filter((span) => span.name === CLASSIFY).map((span) => span.traceId));
      await client.classify(texts, { version });
      // The SDK sends no trace context: the gateway's server span is the root of a new trace.
      const root = await waitFor(() => receiver.spans.find((span) => span.name === CLASSIFY && !before.has(span.traceId)), 15_000);
      assert.equal(root.service, 'imesh-gateway');
      assert.equal(root.kind, 'SPAN_KIND_SERVER');
      assert.equal(root.parentSpanId, '', 'the gateway span is the root');
      assert.equal(root.attributes['rpc.grpc.status_code'], 0);

      const spans = await completeTrace(receiver, root.traceId, 15_000);
      const byId = new Map(spans.map((span) => [span.spanId, span]));
      // Every downstream server span is the child of the gateway's client span for the same method, and that one
      // the child of the gateway's server span.
      const downstream = spans.filter((span) => span.kind === 'SPAN_KIND_SERVER' && span !== root);
      assert.deepEqual(
        [...new Set(downstream.map((span) => span.service))].sort(),
        ['imesh-model', 'imesh-postprocess', 'imesh-tokenizer'],
      );
      for (const server of downstream) {
        const clientSpan = byId.get(server.parentSpanId);
        assert.ok(clientSpan, `${server.service} ${server.name}: parent ${server.parentSpanId} not in the trace`);
        assert.deepEqual([clientSpan.service, clientSpan.kind, clientSpan.name], ['imesh-gateway', 'SPAN_KIND_CLIENT', server.name]);
        assert.equal(clientSpan.parentSpanId, root.spanId, `${clientSpan.name}: child of the gateway span`);
      }
      assert.equal(spans.filter((span) => span.parentSpanId === '').length, 1, 'one root');

      const [infer, ...more] = spans.filter((span) => span.service === 'imesh-model' && span.name === 'inference.GRPCInferenceService/ModelInfer');
      assert.ok(infer && more.length === 0, 'one ModelInfer span');
      assert.equal(infer.attributes['model.version'], version);
      assert.ok(Number.isInteger(infer.attributes['imesh.batch.id']) && (infer.attributes['imesh.batch.id'] as number) >= 1, 'batch id');
      assert.ok((infer.attributes['imesh.batch.size'] as number) >= texts.length, `batch size ${infer.attributes['imesh.batch.size']}`);
    }
    // Two requests, two traces.
    assert.equal(new Set(receiver.spans.filter((span) => span.name === CLASSIFY).map((span) => span.traceId)).size, 2);
  });

  it("carries a producer's trace through RabbitMQ: the worker's consumer span under the message's traceparent, its Classify call under that, the mesh's spans under it", async function () {
    this.timeout(120_000);
    const queue = 'imesh.test.traces';
    const broker = await startLocalBroker();
    let worker: QueueWorkerProcess | undefined;
    let connection: ChannelModel | undefined;
    try {
      worker = await startQueueWorker({
        IMESH_AMQP_URL: broker.url,
        IMESH_QUEUE_NAME: queue,
        IMESH_GATEWAY_TARGET: mesh!.gateway,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_METRICS_EXPORTER: 'none',
      });
      connection = await connect(broker.url);
      const channel = await connection.createConfirmChannel();
      const { queue: replies } = await channel.assertQueue('', { exclusive: true });
      const answered = new Promise<string>((resolve) => void channel.consume(replies, (message) => message && resolve(message.content.toString()), { noAck: true }));
      // As an instrumented producer sends it: W3C trace context in the message's headers, sampled.
      const traceId = randomBytes(16).toString('hex');
      const producerSpanId = randomBytes(8).toString('hex');
      channel.sendToQueue(queue, encodeRequestMessage({ id: 'traced', texts: ['a gorgeous, witty, seductive movie.'] }), {
        persistent: true,
        replyTo: replies,
        correlationId: 'traced',
        headers: { traceparent: `00-${traceId}-${producerSpanId}-01` },
      });
      assert.deepEqual(Object.keys(JSON.parse(await answered) as object), ['id', 'results'], 'answered');

      const spans = await completeTrace(receiver, traceId, 15_000, ['imesh-queue-worker']);
      const byId = new Map(spans.map((span) => [span.spanId, span]));
      const consumer = spans.find((span) => span.service === 'imesh-queue-worker' && span.kind === 'SPAN_KIND_CONSUMER');
      assert.ok(consumer, `a consumer span: ${spans.map((s) => `${s.service} ${s.kind} ${s.name}`).join('; ')}`);
      assert.equal(consumer.name, `process ${queue}`);
      assert.equal(consumer.parentSpanId, producerSpanId, "the producer's span is its parent");
      assert.equal(consumer.attributes['messaging.destination.name'], queue);
      assert.equal(consumer.attributes['imesh.queue.outcome'], 'result');
      const call = spans.find((span) => span.service === 'imesh-queue-worker' && span.kind === 'SPAN_KIND_CLIENT');
      assert.deepEqual([call?.name, call?.parentSpanId], [CLASSIFY, consumer.spanId], "the worker's Classify call, under its consumer span");
      const gateway = spans.find((span) => span.service === 'imesh-gateway' && span.kind === 'SPAN_KIND_SERVER');
      assert.equal(gateway?.parentSpanId, call!.spanId, "the gateway's span, under the worker's call");
      for (const span of spans) if (span !== consumer) assert.ok(byId.has(span.parentSpanId), `${span.service} ${span.name}: its parent is in the trace`);
    } finally {
      await connection?.close().catch(() => undefined);
      await stopQueueWorker(worker);
      await broker.dispose();
    }
  });
});

async function waitFor<T>(probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

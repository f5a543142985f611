import { PipelineClient } from '@inference-mesh/client';
import { startMesh, type RunningMesh } from '@inference-mesh/launcher';
import { strict as assert } from 'node:assert';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver';

const SERVICES = ['imesh-gateway', 'imesh-tokenizer', 'imesh-model', 'imesh-postprocess'];
const CLASSIFY = 'inference_mesh.pipeline.v1.PipelineService/Classify';

/** Waits until the trace holds a server span from every service, each span's parent having arrived too. */
async function completeTrace(receiver: OtlpReceiver, traceId: string, timeoutMs: number): Promise<ReceivedSpan[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const spans = receiver.spans.filter((span) => span.traceId === traceId);
    const ids = new Set(spans.map((span) => span.spanId));
    const servers = new Set(spans.filter((span) => span.kind === 'SPAN_KIND_SERVER').map((span) => span.service));
    const parentsHere = spans.every((span) => span.parentSpanId === '' || ids.has(span.parentSpanId));
    if (SERVICES.every((service) => servers.has(service)) && parentsHere) return spans;
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

import * as grpc from '@grpc/grpc-js';
import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { createLogger } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { clientTelemetryInterceptor } from './client-interceptor';
import { serverTelemetryInterceptor } from './server-interceptor';

class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const bytes = { serialize: (value: Buffer) => value, deserialize: (value: Buffer) => value };
const method = (path: string): grpc.MethodDefinition<Buffer, Buffer> => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: bytes.serialize,
  requestDeserialize: bytes.deserialize,
  responseSerialize: bytes.serialize,
  responseDeserialize: bytes.deserialize,
});
const service = { Echo: method('/test.Echo/Echo'), Fail: method('/test.Echo/Fail'), Slow: method('/test.Echo/Slow') };
const EchoClient = grpc.makeGenericClientConstructor(service, 'Echo');

async function listen(server: grpc.Server): Promise<string> {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return `127.0.0.1:${port}`;
}

function unary(client: grpc.Client, name: 'Echo' | 'Fail' | 'Slow', request: Buffer, options: grpc.CallOptions = {}): Promise<Buffer> {
  type Method = (r: Buffer, o: grpc.CallOptions, cb: grpc.requestCallback<Buffer>) => void;
  return new Promise((resolve, reject) =>
    (client as unknown as Record<string, Method>)[name]!.call(client, request, options, (error, response) =>
      error ? reject(error) : resolve(response!),
    ),
  );
}

/**
 * Two in-process servers as two hops (front calls back), both with the server interceptor, front's client with
 * the client interceptor: the trace and the metrics one request leaves, through real gRPC.
 */
describe('telemetry interceptors', () => {
  const spans = new InMemorySpanExporter();
  const tracerProvider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const logLines: string[] = [];
  const logger = createLogger('test', 'info', (line) => logLines.push(line));
  let front: grpc.Server;
  let back: grpc.Server;
  let frontClient: grpc.Client;
  let backClient: grpc.Client;

  before(async () => {
    // Async context tracking and the W3C propagator are process-wide; undone in after().
    tracerProvider.register();
    const instruments = { tracer: tracerProvider.getTracer('test'), meter: meterProvider.getMeter('test') };
    back = new grpc.Server({ interceptors: [serverTelemetryInterceptor(instruments)] });
    back.addService(service, {
      Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        setImmediate(() => {
          logger.info('echo');
          callback(null, call.request);
        });
      },
      Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
        callback({ code: grpc.status.INTERNAL, details: 'a bug' }),
    });
    backClient = new EchoClient(await listen(back), grpc.credentials.createInsecure(), { interceptors: [clientTelemetryInterceptor(instruments)] });
    front = new grpc.Server({ interceptors: [serverTelemetryInterceptor(instruments)] });
    front.addService(service, {
      Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        // An await between receiving and calling on: the context must survive it.
        void (async () => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          const answer = await unary(backClient, 'Echo', call.request);
          await unary(backClient, 'Fail', call.request).catch(() => undefined);
          callback(null, answer);
        })();
      },
      Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
        callback({ code: grpc.status.INVALID_ARGUMENT, details: 'no' }),
      Slow: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        setTimeout(() => callback(null, call.request), 1_000);
      },
    });
    frontClient = new EchoClient(await listen(front), grpc.credentials.createInsecure());
  });

  after(async () => {
    frontClient.close();
    backClient.close();
    front.forceShutdown();
    back.forceShutdown();
    await tracerProvider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });

  it('joins the caller\'s trace, links each hop to its parent, and puts the ids in log lines', async () => {
    // A caller that is itself traced: its context goes out as W3C traceparent metadata.
    const callerClient = new EchoClient(frontClient.getChannel().getTarget(), grpc.credentials.createInsecure(), {
      interceptors: [clientTelemetryInterceptor({ tracer: tracerProvider.getTracer('caller'), meter: meterProvider.getMeter('caller') })],
    });
    const caller = tracerProvider.getTracer('caller').startSpan('caller');
    const answer = await context.with(trace.setSpan(context.active(), caller), () => unary(callerClient, 'Echo', Buffer.from('hi')));
    caller.end();
    callerClient.close();
    assert.equal(answer.toString(), 'hi');

    const finished = spans.getFinishedSpans();
    const find = (name: string, kind: SpanKind, exclude?: ReadableSpan) =>
      finished.find((span) => span.name === name && span.kind === kind && span !== exclude);
    const callerClientSpan = finished.find((span) => span.kind === SpanKind.CLIENT && span.parentSpanContext?.spanId === caller.spanContext().spanId)!;
    const frontServer = finished.find((span) => span.kind === SpanKind.SERVER && span.parentSpanContext?.spanId === callerClientSpan.spanContext().spanId)!;
    assert.ok(callerClientSpan && frontServer, 'caller -> front');
    assert.equal(frontServer.name, 'test.Echo/Echo');
    const backCalls = finished.filter((span) => span.kind === SpanKind.CLIENT && span.parentSpanContext?.spanId === frontServer.spanContext().spanId);
    assert.deepEqual(backCalls.map((span) => span.name).sort(), ['test.Echo/Echo', 'test.Echo/Fail']);
    for (const clientSpan of backCalls) {
      const serverSpan = finished.find((span) => span.kind === SpanKind.SERVER && span.parentSpanContext?.spanId === clientSpan.spanContext().spanId);
      assert.equal(serverSpan?.name, clientSpan.name);
    }
    const traceIds = new Set(finished.filter((span) => span.name.startsWith('test.')).map((span) => span.spanContext().traceId));
    assert.deepEqual([...traceIds], [caller.spanContext().traceId]);

    const backFail = find('test.Echo/Fail', SpanKind.SERVER)!;
    assert.equal(backFail.attributes['rpc.grpc.status_code'], grpc.status.INTERNAL);
    assert.deepEqual([backFail.status.code, backFail.status.message], [2, 'a bug']);
    assert.deepEqual(
      { ...frontServer.attributes },
      { 'rpc.system': 'grpc', 'rpc.service': 'test.Echo', 'rpc.method': 'Echo', 'rpc.grpc.status_code': 0 },
    );

    const backEcho = finished.find((span) => span.kind === SpanKind.SERVER && span.name === 'test.Echo/Echo' && span !== frontServer)!;
    const line = JSON.parse(logLines.find((l) => l.includes('"echo"'))!) as Record<string, string>;
    assert.deepEqual([line.trace_id, line.span_id], [backEcho.spanContext().traceId, backEcho.spanContext().spanId]);
  });

  it('records rpc.server.duration and rpc.client.duration by method and status code', async () => {
    await assert.rejects(unary(frontClient, 'Fail', Buffer.from('x')), { code: grpc.status.INVALID_ARGUMENT });
    // grpc-js ends a call past its deadline itself, bypassing the interceptor's status: still counted as such.
    await assert.rejects(unary(frontClient, 'Slow', Buffer.from('x'), { deadline: Date.now() + 100 }), { code: grpc.status.DEADLINE_EXCEEDED });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const { resourceMetrics } = await reader.collect();
    const points = (name: string) =>
      resourceMetrics.scopeMetrics
        .filter((scope) => scope.scope.name === 'test')
        .flatMap((scope) => scope.metrics)
        .filter((metric) => metric.descriptor.name === name)
        .flatMap((metric) => metric.dataPoints as DataPoint<Histogram>[])
        .map((point) => [point.attributes['rpc.method'], point.attributes['rpc.grpc.status_code'], point.value.count]);
    const byKey = (rows: unknown[][]) => rows.sort((a, b) => String(a).localeCompare(String(b)));
    // Front and back both answered Echo (2), back failed Fail once with INTERNAL, front refused Fail once.
    assert.deepEqual(byKey(points('rpc.server.duration')), byKey([['Echo', 0, 2], ['Fail', 13, 1], ['Fail', 3, 1], ['Slow', 4, 1]]));
    const slow = spans.getFinishedSpans().find((span) => span.name === 'test.Echo/Slow')!;
    assert.deepEqual([slow.attributes['rpc.grpc.status_code'], slow.status.code], [grpc.status.DEADLINE_EXCEEDED, 2]);
    // Front called back once each way (the test's own caller records under its own scope).
    assert.deepEqual(byKey(points('rpc.client.duration')), byKey([['Echo', 0, 1], ['Fail', 13, 1]]));
  });

  it('leaves logs outside a traced call without ids', () => {
    const lines: string[] = [];
    createLogger('test', 'info', (line) => lines.push(line)).info('idle');
    assert.equal('trace_id' in (JSON.parse(lines[0]!) as object), false);
  });
});

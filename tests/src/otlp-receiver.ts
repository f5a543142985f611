import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { join } from 'node:path';

/** A span as an OTLP exporter sent it, with the service that sent it. */
export interface ReceivedSpan {
  /** The resource's service.name. */
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  /** Empty for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: 'SPAN_KIND_SERVER' | 'SPAN_KIND_CLIENT' | string;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>`, for OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. */
  readonly endpoint: string;
  readonly spans: readonly ReceivedSpan[];
  stop(): Promise<void>;
}

interface AnyValue {
  value?: 'stringValue' | 'boolValue' | 'intValue' | 'doubleValue' | 'bytesValue';
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number;
}
interface KeyValue {
  key: string;
  value?: AnyValue;
}
interface ExportRequest {
  resourceSpans: {
    resource?: { attributes: KeyValue[] };
    scopeSpans: { spans: { traceId: Buffer; spanId: Buffer; parentSpanId: Buffer; name: string; kind: string; attributes: KeyValue[] }[] }[];
  }[];
}

/**
 * An in-test OTLP/gRPC trace receiver: what a collector would be, keeping every span in memory. The services
 * export to it with their ordinary OTLP exporter, configured by the standard OTEL_* variables.
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const definition = loadSync(join(__dirname, '..', 'fixtures', 'otlp', 'trace_service.proto'), {
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const proto = grpc.loadPackageDefinition(definition) as unknown as {
    opentelemetry: { proto: { collector: { trace: { v1: { TraceService: grpc.ServiceClientConstructor } } } } };
  };
  const spans: ReceivedSpan[] = [];
  const server = new grpc.Server();
  server.addService(proto.opentelemetry.proto.collector.trace.v1.TraceService.service, {
    Export: (call: grpc.ServerUnaryCall<ExportRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      for (const resourceSpans of call.request.resourceSpans) {
        const service = String(attributesOf(resourceSpans.resource?.attributes ?? [])['service.name'] ?? '');
        for (const scopeSpans of resourceSpans.scopeSpans) {
          for (const span of scopeSpans.spans) {
            spans.push({
              service,
              traceId: span.traceId.toString('hex'),
              spanId: span.spanId.toString('hex'),
              parentSpanId: span.parentSpanId.toString('hex'),
              name: span.name,
              kind: span.kind,
              attributes: attributesOf(span.attributes),
            });
          }
        }
      }
      callback(null, {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

function attributesOf(list: readonly KeyValue[]): Record<string, string | number | boolean> {
  const attributes: Record<string, string | number | boolean> = {};
  for (const { key, value } of list) {
    // With `oneofs`, proto-loader names the member that is set in a virtual field named after the oneof.
    switch (value?.value) {
      case 'stringValue':
        attributes[key] = value.stringValue!;
        break;
      case 'boolValue':
        attributes[key] = value.boolValue!;
        break;
      case 'intValue':
        attributes[key] = Number(value.intValue);
        break;
      case 'doubleValue':
        attributes[key] = value.doubleValue!;
        break;
    }
  }
  return attributes;
}

import { ServerInterceptingCall, status as Status, type ServerInterceptor } from '@grpc/grpc-js';
import { context, metrics, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Meter, type Span, type Tracer } from '@opentelemetry/api';
import { metadataGetter } from './metadata-carrier';
import { ATTR_RPC_GRPC_STATUS_CODE, isServerError, RPC_DURATION_BUCKETS_MS, RPC_SERVER_DURATION, RpcMethods } from './rpc-methods';

/** How early a cancel may arrive and still be the caller's deadline (see onCancel). */
const DEADLINE_JITTER_MS = 50;

export const INSTRUMENTATION_SCOPE = '@inference-mesh/telemetry';

export interface InstrumentationOptions {
  /** Default: the global tracer provider's, as the SDK set it up. */
  readonly tracer?: Tracer;
  /** Default: the global meter provider's. Create the interceptor after the SDK is set up. */
  readonly meter?: Meter;
}

/**
 * The server half of the mesh's RPC telemetry: a SERVER span per call, child of the W3C trace context the caller
 * sent in its metadata, active while the handler runs (so its logs and its own outgoing calls join the trace);
 * and `rpc.server.duration` (ms) by service, method and status code, whose count is the request rate.
 */
export function serverTelemetryInterceptor(options: InstrumentationOptions = {}): ServerInterceptor {
  const tracer = options.tracer ?? trace.getTracer(INSTRUMENTATION_SCOPE);
  const meter = options.meter ?? metrics.getMeter(INSTRUMENTATION_SCOPE);
  const duration = meter.createHistogram(RPC_SERVER_DURATION, {
    description: 'Duration of inbound gRPC calls, by service, method and status code (the count is the request rate)',
    unit: 'ms',
    advice: { explicitBucketBoundaries: RPC_DURATION_BUCKETS_MS },
  });
  const methods = new RpcMethods();

  return (descriptor, call) => {
    const method = methods.get(descriptor.path);
    const startedMs = performance.now();
    let span: Span | undefined;
    let spanContext: Context | undefined;
    let ended = false;
    const end = (code: number, details: string | undefined) => {
      if (ended) return;
      ended = true;
      duration.record(performance.now() - startedMs, method.withStatus(code));
      if (!span) return;
      span.setAttribute(ATTR_RPC_GRPC_STATUS_CODE, code);
      if (isServerError(code)) span.setStatus({ code: SpanStatusCode.ERROR, ...(details !== undefined && { message: details }) });
      span.end();
    };
    // The handler runs inside one of these callbacks (unary: half-close; streaming: metadata), so each one passes
    // the call's span down as the active context.
    const inSpan = (next: () => void) => (spanContext ? context.with(spanContext, next) : next());

    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            if (method.traced) {
              const parent = propagation.extract(ROOT_CONTEXT, metadata, metadataGetter);
              span = tracer.startSpan(method.spanName, { kind: SpanKind.SERVER, attributes: method.attributes }, parent);
              spanContext = trace.setSpan(parent, span);
            }
            inSpan(() => nextMetadata(metadata));
          },
          onReceiveMessage: (message, nextMessage) => inSpan(() => nextMessage(message)),
          onReceiveHalfClose: (nextHalfClose) => inSpan(nextHalfClose),
          // grpc-js reports every call's end here, after its status; an end without a status sent through this
          // interceptor is a cancel, or a deadline grpc-js enforced itself.
          onCancel: () => {
            const deadline = call.getDeadline();
            const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
            // A client whose own deadline fires resets the stream: that reset reaches the server about when the
            // server's copy of the deadline (receipt + grpc-timeout) passes, before or after it by scheduling jitter.
            const expired = Number.isFinite(deadlineMs) && Date.now() >= deadlineMs - DEADLINE_JITTER_MS;
            end(expired ? Status.DEADLINE_EXCEEDED : Status.CANCELLED, expired ? 'deadline exceeded' : 'cancelled by the client');
          },
        }),
      sendStatus: (status, nextStatus) => {
        end(status.code ?? Status.UNKNOWN, status.details);
        nextStatus(status);
      },
    });
  };
}

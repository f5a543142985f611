import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { context, metrics, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { metadataSetter } from './metadata-carrier';
import { ATTR_RPC_GRPC_STATUS_CODE, RPC_CLIENT_DURATION, RPC_DURATION_BUCKETS_MS, RpcMethods } from './rpc-methods';
import { INSTRUMENTATION_SCOPE, type InstrumentationOptions } from './server-interceptor';

/**
 * The client half: a CLIENT span per outgoing call, child of the caller's active span, whose W3C trace context
 * goes out in the call's metadata; and `rpc.client.duration` (ms) by service, method and status code, which is
 * each hop's latency as the caller sees it. Build it after the SDK is set up and pass it in the client's
 * `interceptors` option.
 */
export function clientTelemetryInterceptor(options: InstrumentationOptions = {}): Interceptor {
  const tracer = options.tracer ?? trace.getTracer(INSTRUMENTATION_SCOPE);
  const meter = options.meter ?? metrics.getMeter(INSTRUMENTATION_SCOPE);
  const duration = meter.createHistogram(RPC_CLIENT_DURATION, {
    description: 'Duration of outbound gRPC calls, by service, method and status code',
    unit: 'ms',
    advice: { explicitBucketBoundaries: RPC_DURATION_BUCKETS_MS },
  });
  const methods = new RpcMethods();

  return (callOptions, nextCall) => {
    const method = methods.get(callOptions.method_definition.path);
    // grpc-js calls interceptors synchronously from the stub, so this is the caller's context.
    const parent = context.active();
    const span = method.traced
      ? tracer.startSpan(method.spanName, { kind: SpanKind.CLIENT, attributes: method.attributes }, parent)
      : undefined;
    const startedMs = performance.now();
    return new InterceptingCall(nextCall(callOptions), {
      start: (metadata, listener, next) => {
        if (span) propagation.inject(trace.setSpan(parent, span), metadata, metadataSetter);
        next(metadata, {
          onReceiveStatus: (status, nextStatus) => {
            duration.record(performance.now() - startedMs, method.withStatus(status.code));
            if (span) {
              span.setAttribute(ATTR_RPC_GRPC_STATUS_CODE, status.code);
              // For a client every non-OK status is an error of the call.
              if (status.code !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: status.details });
              span.end();
            }
            nextStatus(status);
          },
        });
      },
    });
  };
}

import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapGetter } from '@opentelemetry/api';
import type { MessageProperties } from 'amqplib';
import type { Disposition } from './handlers';

const tracer = trace.getTracer('@inference-mesh/queue-worker');

/**
 * W3C trace context from the message's headers, where producers (or their amqplib instrumentation) put it:
 * `traceparent`, `tracestate`. amqplib hands a header over as a string, or as bytes when the producer typed it so.
 */
const HEADER_GETTER: TextMapGetter<Readonly<Record<string, unknown>>> = {
  keys: (headers) => Object.keys(headers),
  get: (headers, key) => {
    const value = headers[key];
    return typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('latin1') : undefined;
  },
};

/**
 * A CONSUMER span for one delivery, child of the producer's span when the message carries its trace context (OTel's
 * messaging conventions: `process <queue>`), and the context to handle the delivery in: the gateway call made in it
 * carries the trace on (the worker's gRPC client has the telemetry interceptor). Without a producer's context and
 * without an exporter the span is not recorded, and costs next to nothing.
 */
export function startDeliverySpan(queue: string, properties: MessageProperties, redelivered: boolean): { readonly span: Span; readonly context: Context } {
  const parent = properties.headers ? propagation.extract(ROOT_CONTEXT, properties.headers, HEADER_GETTER) : ROOT_CONTEXT;
  const span = tracer.startSpan(
    `process ${queue}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'rabbitmq',
        'messaging.operation.type': 'process',
        'messaging.destination.name': queue,
        ...(properties.messageId === undefined ? {} : { 'messaging.message.id': String(properties.messageId) }),
        ...(properties.correlationId === undefined ? {} : { 'messaging.message.conversation_id': String(properties.correlationId) }),
        'messaging.rabbitmq.redelivered': redelivered,
      },
    },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/** Ends it with what became of the delivery: a dead letter is an error of the span, a retry is not (yet). */
export function endDeliverySpan(span: Span, outcome: Disposition | Error): void {
  if (outcome instanceof Error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: `not acked, requeued: ${outcome.message}` });
  } else {
    span.setAttribute('imesh.queue.outcome', outcome.outcome);
    if (outcome.grpcStatus !== undefined) span.setAttribute('imesh.queue.grpc_status', outcome.grpcStatus);
    if (outcome.outcome === 'dead-lettered') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.reason ?? 'dead-lettered' });
  }
  span.end();
}


import { isPipelineError, type ClassifyOptions, type ClassifyResponse } from '@inference-mesh/client';
import { encodeResultMessage, GRPC_STATUS_HEADER, parseRequestMessage, REASON_HEADER, REQUEST_ID_HEADER } from '@inference-mesh/client/queue';
import { ATTEMPTS_HEADER, attemptsOf, retryDelayMs, retryQueueName, type RetryPolicy } from './retry-policy';

/** What the worker needs of one AMQP delivery. */
export interface Delivery {
  readonly body: Buffer;
  readonly replyTo?: string;
  readonly correlationId?: string;
  readonly headers?: Readonly<Record<string, unknown>>;
}

export interface PublishOptions {
  readonly replyTo?: string;
  readonly correlationId?: string;
  readonly messageId?: string;
  readonly headers?: Readonly<Record<string, unknown>>;
}

/** The side effects of handling a delivery; `publish` resolves once the broker has confirmed the message. */
export interface DeliveryPorts {
  classify(texts: readonly string[], options: ClassifyOptions): Promise<ClassifyResponse>;
  publish(queue: string, body: Buffer, options: PublishOptions): Promise<void>;
  readonly deadLetterQueue: string;
  /** The request queue: delay queues are named after it. */
  readonly queue: string;
  readonly retry: RetryPolicy;
}

/** Every handled delivery is acked: its result, its dead letter or its retry copy is confirmed by the broker. */
export interface Disposition {
  readonly action: 'ack';
  readonly outcome: 'result' | 'dead-lettered' | 'retried';
  readonly reason?: string;
  /** The gateway's status code name when it was asked and failed (retried, dead-lettered). */
  readonly grpcStatus?: string;
  /** For a retry: the attempt that failed and the wait before the next one. */
  readonly attempt?: number;
  readonly delayMs?: number;
}

// The header names are part of the wire format: messages.ts of the SDK's queue module.
export { GRPC_STATUS_HEADER, REASON_HEADER, REQUEST_ID_HEADER } from '@inference-mesh/client/queue';

/**
 * gRPC codes worth trying again later; any other failure of the gateway (INVALID_ARGUMENT, NOT_FOUND, ...) would
 * fail the same way every time, so the message is dead-lettered rather than requeued in a loop.
 */
const TRANSIENT_CODE_NAMES: ReadonlySet<string> = new Set(['UNAVAILABLE', 'RESOURCE_EXHAUSTED', 'DEADLINE_EXCEEDED', 'ABORTED', 'CANCELLED']);

/**
 * Handles one delivery: parse, classify through the gateway, publish the result to `reply_to` (or the message to
 * the dead-letter queue with the reason, and the reason to `reply_to`; or the message to a delay queue for another
 * attempt: retry-policy.ts). Rejects only when publishing failed: the caller then leaves the delivery unacked, for
 * the broker to redeliver.
 */
export async function handleDelivery(delivery: Delivery, ports: DeliveryPorts, classifyOptions: Omit<ClassifyOptions, 'model' | 'version' | 'topK'> = {}): Promise<Disposition> {
  const parsed = parseRequestMessage(delivery.body);
  if (!parsed.ok) return deadLetter(delivery, ports, parsed.reason, undefined);
  const { request } = parsed;
  if (!delivery.replyTo) return deadLetter(delivery, ports, 'no reply_to: the message names no queue for its result', undefined, request.id);
  let response: ClassifyResponse;
  try {
    response = await ports.classify(request.texts, {
      ...classifyOptions,
      requestId: request.id,
      ...(request.model === undefined ? {} : { model: request.model }),
      ...(request.version === undefined ? {} : { version: request.version }),
      ...(request.topK === undefined ? {} : { topK: request.topK }),
    });
  } catch (error) {
    if (!isPipelineError(error)) throw error;
    if (!TRANSIENT_CODE_NAMES.has(error.codeName)) return deadLetter(delivery, ports, error.details, error.codeName, request.id);
    const attempt = attemptsOf(delivery.headers) + 1;
    if (attempt >= ports.retry.maxAttempts) {
      return deadLetter(delivery, ports, `gave up after ${attempt} attempts: ${error.details}`, error.codeName, request.id, { [ATTEMPTS_HEADER]: attempt });
    }
    const delayMs = retryDelayMs(ports.retry, attempt);
    await ports.publish(retryQueueName(ports.queue, delayMs), delivery.body, {
      replyTo: delivery.replyTo,
      messageId: request.id,
      headers: { ...ownHeaders(delivery.headers), [ATTEMPTS_HEADER]: attempt, [REASON_HEADER]: error.details, [GRPC_STATUS_HEADER]: error.codeName },
      ...(delivery.correlationId === undefined ? {} : { correlationId: delivery.correlationId }),
    });
    return { action: 'ack', outcome: 'retried', reason: `${error.codeName}: ${error.details}`, grpcStatus: error.codeName, attempt, delayMs };
  }
  await ports.publish(delivery.replyTo, encodeResultMessage({ id: request.id, results: response.results }), {
    messageId: request.id,
    headers: { [REQUEST_ID_HEADER]: request.id },
    ...(delivery.correlationId === undefined ? {} : { correlationId: delivery.correlationId }),
  });
  return { action: 'ack', outcome: 'result' };
}

/**
 * The message, as it came, to the dead-letter queue with its reason; then, when it names a `reply_to`, the reason
 * as its answer there (`{"id", "error": {"code", "message"}}`), so that a producer waiting for it learns at once.
 * The code is the gateway's status, or INVALID_ARGUMENT for a message the worker could not read.
 */
async function deadLetter(
  delivery: Delivery,
  ports: DeliveryPorts,
  reason: string,
  grpcStatus: string | undefined,
  id?: string,
  extraHeaders: Readonly<Record<string, unknown>> = {},
): Promise<Disposition> {
  const correlation = delivery.correlationId === undefined ? {} : { correlationId: delivery.correlationId };
  await ports.publish(ports.deadLetterQueue, delivery.body, {
    headers: { ...ownHeaders(delivery.headers), ...extraHeaders, [REASON_HEADER]: reason, [GRPC_STATUS_HEADER]: grpcStatus ?? 'none' },
    ...(id === undefined ? {} : { messageId: id }),
    ...correlation,
  });
  if (delivery.replyTo) {
    await ports.publish(delivery.replyTo, encodeResultMessage({ id: id ?? '', error: { code: grpcStatus ?? 'INVALID_ARGUMENT', message: reason } }), {
      ...(id === undefined ? {} : { messageId: id, headers: { [REQUEST_ID_HEADER]: id } }),
      ...correlation,
    });
  }
  return { action: 'ack', outcome: 'dead-lettered', reason, ...(grpcStatus === undefined ? {} : { grpcStatus }) };
}

/**
 * The message's headers without the broker's dead-lettering history (`x-death`, `x-first-death-*`,
 * `x-last-death-*`), which the broker keeps itself and clients must not publish (RabbitMQ 3.13 ignores it from them).
 */
function ownHeaders(headers: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  const own: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers ?? {})) if (!/^x-(death|first-death-|last-death-)/.test(name)) own[name] = value;
  return own;
}

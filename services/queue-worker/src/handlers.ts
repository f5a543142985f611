import { isPipelineError, type ClassifyOptions, type ClassifyResponse } from '@inference-mesh/client';
import { encodeResultMessage, parseRequestMessage } from './message';

/** What the worker needs of one AMQP delivery. */
export interface Delivery {
  readonly body: Buffer;
  readonly replyTo?: string;
  readonly correlationId?: string;
  readonly headers?: Readonly<Record<string, unknown>>;
}

export interface PublishOptions {
  readonly correlationId?: string;
  readonly messageId?: string;
  readonly headers?: Readonly<Record<string, unknown>>;
}

/** The side effects of handling a delivery; `publish` resolves once the broker has confirmed the message. */
export interface DeliveryPorts {
  classify(texts: readonly string[], options: ClassifyOptions): Promise<ClassifyResponse>;
  publish(queue: string, body: Buffer, options: PublishOptions): Promise<void>;
  readonly deadLetterQueue: string;
}

/** What to do with the delivery once handled: ack it (its result or its dead letter is confirmed), or requeue it. */
export type Disposition =
  | { readonly action: 'ack'; readonly outcome: 'result' | 'dead-lettered'; readonly reason?: string }
  | { readonly action: 'requeue'; readonly reason: string };

export const REASON_HEADER = 'x-imesh-reason';
export const GRPC_STATUS_HEADER = 'x-imesh-grpc-status';
export const REQUEST_ID_HEADER = 'x-imesh-request-id';

/**
 * gRPC codes worth trying again later; any other failure of the gateway (INVALID_ARGUMENT, NOT_FOUND, ...) would
 * fail the same way every time, so the message is dead-lettered rather than requeued in a loop.
 */
const TRANSIENT_CODE_NAMES: ReadonlySet<string> = new Set(['UNAVAILABLE', 'RESOURCE_EXHAUSTED', 'DEADLINE_EXCEEDED', 'ABORTED', 'CANCELLED']);

/**
 * Handles one delivery: parse, classify through the gateway, publish the result to `reply_to` (or the message to
 * the dead-letter queue with the reason), and say whether to ack. Rejects only when publishing failed: the caller
 * then leaves the delivery unacked, for the broker to redeliver.
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
    if (TRANSIENT_CODE_NAMES.has(error.codeName)) return { action: 'requeue', reason: `${error.codeName}: ${error.details}` };
    return deadLetter(delivery, ports, error.details, error.codeName, request.id);
  }
  await ports.publish(delivery.replyTo, encodeResultMessage({ id: request.id, results: response.results }), {
    messageId: request.id,
    headers: { [REQUEST_ID_HEADER]: request.id },
    ...(delivery.correlationId === undefined ? {} : { correlationId: delivery.correlationId }),
  });
  return { action: 'ack', outcome: 'result' };
}

async function deadLetter(delivery: Delivery, ports: DeliveryPorts, reason: string, grpcStatus: string | undefined, id?: string): Promise<Disposition> {
  await ports.publish(ports.deadLetterQueue, delivery.body, {
    headers: { ...delivery.headers, [REASON_HEADER]: reason, [GRPC_STATUS_HEADER]: grpcStatus ?? 'none' },
    ...(id === undefined ? {} : { messageId: id }),
    ...(delivery.correlationId === undefined ? {} : { correlationId: delivery.correlationId }),
  });
  return { action: 'ack', outcome: 'dead-lettered', reason };
}

/**
 * The wire format of the queue (JSON, UTF-8; JSON rather than protobuf because any producer, from a shell script to
 * a broker UI, can write it, and a dead-lettered message can be read as it is). Shared by the queue-worker, which
 * consumes requests, and QueueClient, which publishes them and reads the results:
 *
 *   request, published to IMESH_QUEUE_NAME with `reply_to` (the results queue) and optionally `correlation_id`
 *   and the header `x-imesh-published-at` (epoch milliseconds, set by the producer):
 *     {"id": "doc-17", "texts": ["a text", "..."], "model"?: "sentiment", "version"?: "2", "topK"?: 1}
 *   result, published to the request's `reply_to` with its `correlation_id`, `message_id` = the request's id and
 *   the header `x-imesh-request-id`:
 *     {"id": "doc-17", "results": [{"label", "score", "scores", "model", "modelVersion", "truncated", "degraded"}]}
 *   or, for a request the worker dead-letters (it will never succeed, or its retries ran out), the same way:
 *     {"id": "doc-17", "error": {"code": "NOT_FOUND", "message": "model \"x\" not found; ..."}}
 *   so that whoever waits for it learns at once, as an RPC caller would, rather than when its own timeout ends.
 *
 * Delivery is at least once: a consumer of results drops duplicates by `id` (or correlation id).
 */
import type { ClassifyResult } from '../types';

export interface ClassifyRequestMessage {
  readonly id: string;
  readonly texts: readonly string[];
  readonly model?: string;
  readonly version?: string;
  readonly topK?: number;
}

export interface ClassifyResultMessage {
  readonly id: string;
  readonly results: readonly ClassifyResult[];
}

/**
 * The answer to a dead-lettered request: `code` is a gRPC status code name (the gateway's; INVALID_ARGUMENT for a
 * message the worker could not read), `message` the reason also in the dead letter's `x-imesh-reason`.
 */
export interface ClassifyErrorMessage {
  readonly id: string;
  readonly error: { readonly code: string; readonly message: string };
}

/** On a result: the request's id (also its `message_id`). */
export const REQUEST_ID_HEADER = 'x-imesh-request-id';
/**
 * On a request: when the producer published it, epoch milliseconds (the AMQP `timestamp` property has whole seconds
 * only), for the worker's publish-to-result latency.
 */
export const PUBLISHED_AT_HEADER = 'x-imesh-published-at';
/** On a dead-lettered or retried message: why it failed. */
export const REASON_HEADER = 'x-imesh-reason';
/** On a dead-lettered or retried message: the gateway's gRPC status name, `none` when it never got that far. */
export const GRPC_STATUS_HEADER = 'x-imesh-grpc-status';
/** On a retried message: the failed attempts so far. */
export const ATTEMPTS_HEADER = 'x-imesh-attempts';

/** Why a message can never succeed: the value of the `x-imesh-reason` header on the dead-letter queue. */
export type ParseResult = { readonly ok: true; readonly request: ClassifyRequestMessage } | { readonly ok: false; readonly reason: string };

/**
 * Reads a request body. Refused here: not UTF-8 JSON, not an object, no string `id`, `texts` not a non-empty array
 * of strings, bad `model`/`version`/`topK` types. The texts' own content (empty, too many, too long) and unknown
 * models are left to the gateway, the one place that decides them; its INVALID_ARGUMENT or NOT_FOUND dead-letters
 * the message too.
 */
export function parseRequestMessage(body: Buffer): ParseResult {
  const value = parseJsonObject(body);
  if (typeof value === 'string') return { ok: false, reason: value };
  const fields = value;
  if (typeof fields.id !== 'string' || fields.id === '') return { ok: false, reason: 'no id: "id" must be a non-empty string' };
  if (!Array.isArray(fields.texts) || fields.texts.length === 0) return { ok: false, reason: 'no texts: "texts" must be a non-empty array of strings' };
  const badText = fields.texts.findIndex((text) => typeof text !== 'string');
  if (badText >= 0) return { ok: false, reason: `texts[${badText}] is not a string` };
  for (const name of ['model', 'version'] as const) {
    if (fields[name] !== undefined && typeof fields[name] !== 'string') return { ok: false, reason: `"${name}" must be a string` };
  }
  const topK = fields.topK;
  if (topK !== undefined && (typeof topK !== 'number' || !Number.isSafeInteger(topK) || topK < 0)) return { ok: false, reason: '"topK" must be an integer >= 0' };
  return {
    ok: true,
    request: {
      id: fields.id,
      texts: fields.texts as string[],
      ...(fields.model === undefined ? {} : { model: fields.model as string }),
      ...(fields.version === undefined ? {} : { version: fields.version as string }),
      ...(topK === undefined ? {} : { topK }),
    },
  };
}

export function encodeRequestMessage(request: ClassifyRequestMessage): Buffer {
  return Buffer.from(JSON.stringify(request));
}

export function encodeResultMessage(result: ClassifyResultMessage | ClassifyErrorMessage): Buffer {
  return Buffer.from(JSON.stringify(result));
}

/**
 * Reads a result body, checking its shape only (an id and an array of results, or an error's code and message):
 * the worker is the one writer and copies the gateway's answer as it is. Returns why not, as a string, when it is
 * neither.
 */
export function parseResultMessage(body: Buffer): ClassifyResultMessage | ClassifyErrorMessage | string {
  const value = parseJsonObject(body);
  if (typeof value === 'string') return value;
  if (typeof value.id === 'string' && Array.isArray(value.results)) return { id: value.id, results: value.results as ClassifyResult[] };
  const error = value.error as { code?: unknown; message?: unknown } | undefined;
  if (typeof value.id === 'string' && typeof error?.code === 'string' && typeof error.message === 'string') {
    return { id: value.id, error: { code: error.code, message: error.message } };
  }
  return 'not a result: expected {"id": string, "results": [...]} or {"id": string, "error": {"code": string, "message": string}}';
}

/** The body as a JSON object, or why it is not one. */
function parseJsonObject(body: Buffer): Record<string, unknown> | string {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  return value as Record<string, unknown>;
}

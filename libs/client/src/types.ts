import type { PipelineError } from './errors';

/** A text to classify: a JS string (sent as UTF-8) or raw bytes sent as they are, for callers that hold bytes. */
export type TextInput = string | Uint8Array;

export interface LabelScore {
  readonly label: string;
  readonly score: number;
}

/** The classification of one text. */
export interface ClassifyResult {
  /** The best label and its probability. */
  readonly label: string;
  readonly score: number;
  /** Sorted by score, descending; cut to `topK` when that was given. */
  readonly scores: readonly LabelScore[];
  readonly model: string;
  /** The version that actually served this text. */
  readonly modelVersion: string;
  /** The text was cut to the model's maximum sequence length. */
  readonly truncated: boolean;
  /** Served by a fallback version because the chosen one was unavailable. */
  readonly degraded: boolean;
}

export interface ClassifyResponse {
  readonly requestId: string;
  /** One per text, in the order the texts were given. */
  readonly results: readonly ClassifyResult[];
}

/** What the server is asked to use; every field empty means its defaults. */
export interface ModelSelection {
  /** Empty: the server's default model. */
  readonly model?: string;
  /** Pins a version. Empty: the server chooses. */
  readonly version?: string;
  /** How many label scores each result carries. 0 or absent: every label. */
  readonly topK?: number;
}

export interface ClassifyOptions extends ModelSelection {
  /** Sent as the request id; the server generates one when absent. */
  readonly requestId?: string;
  /** Deadline for this call; the client's `defaultDeadlineMs` when absent; `Infinity` for none. */
  readonly deadlineMs?: number;
  /** Aborting cancels the call; it then rejects with CANCELLED. */
  readonly signal?: AbortSignal;
}

export interface ClassifyStreamOptions {
  /** Deadline for the whole stream. Streams have none by default. */
  readonly deadlineMs?: number;
  /** Aborting cancels the stream; every pending request rejects with CANCELLED. */
  readonly signal?: AbortSignal;
  /** Requests written and not yet answered, at most; the rest wait in order. Default 64. */
  readonly maxInFlight?: number;
}

export interface ClassifyAllOptions extends ModelSelection, ClassifyStreamOptions {
  /** Texts per request. Default 32. */
  readonly batchSize?: number;
}

/**
 * One item of `classifyAll`, in input order: the text, its index in the input, and either its result or, when the
 * server refused this text alone (INVALID_ARGUMENT: empty, not UTF-8), the error, whose message names
 * `texts[index]`.
 */
export type ClassifiedText =
  | { readonly index: number; readonly text: string; readonly result: ClassifyResult; readonly error?: undefined }
  | { readonly index: number; readonly text: string; readonly result?: undefined; readonly error: PipelineError };

/** `grpc.health.v1` statuses; `SERVICE_UNKNOWN` is what a server that does not know the name answers (NOT_FOUND). */
export type { HealthStatus } from '@inference-mesh/protos';

export interface CallOptions {
  /** The client's `defaultDeadlineMs` when absent; `Infinity` for none. */
  readonly deadlineMs?: number;
  readonly signal?: AbortSignal;
}

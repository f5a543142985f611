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
  /** Where the request's time went in the mesh; absent when the gateway does not report it (an older one). */
  readonly timing?: RequestTiming;
}

/** One internal call of the gateway's, in milliseconds. */
export interface HopTiming {
  /** What the gateway observed of the attempt that answered: encoding, network, the service, decoding. */
  readonly clientMs: number;
  /** What the service reported of its own handler (0 when it reported nothing). `clientMs - serverMs` is the hop's cost. */
  readonly serverMs: number;
}

/**
 * Where one request's time went, in milliseconds, each part measured by the process that spent it (no clocks are
 * compared across machines). Requests the gateway merged into one call (IMESH_GATEWAY_BATCHING) share that call's
 * hop times. The parts add up to at most `totalMs`; the rest is the gateway's own work between them (and retries).
 * This client's own time (the network to the gateway, encoding) is what its caller measured minus `totalMs`.
 */
export interface RequestTiming {
  /** The gateway's whole handling of the request. */
  readonly totalMs: number;
  /** From the request's arrival at the gateway to its pipeline starting: the in-flight limit, the fallback wrapper, the input check. */
  readonly admissionMs: number;
  /** Waiting to be merged with other requests into one call; 0 when it went at once. */
  readonly coalesceMs: number;
  readonly tokenizer: HopTiming;
  /** The model hop, and the model service's split of its own time: the wait in its batcher's queue and the batch's ONNX Runtime compute. */
  readonly model: HopTiming & { readonly queueMs: number; readonly computeMs: number };
  readonly postprocess: HopTiming;
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
 * One item of `classifyAll`, in input order: the text, its index in the input, and either its result (with the
 * timing of the request it rode in, shared by that request's texts) or, when the server refused this text alone
 * (INVALID_ARGUMENT: empty, not UTF-8), the error, whose message names `texts[index]`.
 */
export type ClassifiedText =
  | { readonly index: number; readonly text: string; readonly result: ClassifyResult; readonly timing?: RequestTiming; readonly error?: undefined }
  | { readonly index: number; readonly text: string; readonly result?: undefined; readonly timing?: undefined; readonly error: PipelineError };

/** `grpc.health.v1` statuses; `SERVICE_UNKNOWN` is what a server that does not know the name answers (NOT_FOUND). */
export type { HealthStatus } from '@inference-mesh/protos';

export interface CallOptions {
  /** The client's `defaultDeadlineMs` when absent; `Infinity` for none. */
  readonly deadlineMs?: number;
  readonly signal?: AbortSignal;
}

import { status, type StatusObject } from '@grpc/grpc-js';

/**
 * Every failed call of the SDK rejects with this: the gRPC status code, its name, and the server's message.
 * Failures that happen on this side (an aborted signal, a closed stream) carry the code the server would have
 * used for them (CANCELLED, FAILED_PRECONDITION), so callers branch on `code` alone.
 */
export class PipelineError extends Error {
  override readonly name = 'PipelineError';
  /** A `grpc.status` value. */
  readonly code: status;
  /** The code's name, e.g. `INVALID_ARGUMENT`. */
  readonly codeName: string;
  /** The server's message, without the code. */
  readonly details: string;

  constructor(code: status, details: string, options?: { cause?: unknown }) {
    const codeName = status[code] ?? `STATUS_${code}`;
    super(`${codeName}: ${details}`, options);
    this.code = code;
    this.codeName = codeName;
    this.details = details;
  }
}

export function isPipelineError(error: unknown): error is PipelineError {
  return error instanceof PipelineError;
}

/** The one place a grpc-js failure (a ServiceError or a bare status) becomes a PipelineError. */
export function toPipelineError(error: unknown): PipelineError {
  if (error instanceof PipelineError) return error;
  if (isStatusLike(error)) return new PipelineError(error.code, withoutGrpcDiagnostics(error.details), { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new PipelineError(status.UNKNOWN, message, { cause: error });
}

/**
 * grpc-js's own failure texts carry diagnostics for its developers, e.g. `No connection established. Last error:
 * Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ` (or `Last error: null.`), and `Deadline exceeded after
 * 0.502s,LB pick: 0.001s,remote_addr=127.0.0.1:50051`. This keeps what a caller acts on; any other text (the
 * server's own messages) is left as it is. The original stays on the PipelineError's `cause`.
 */
export function withoutGrpcDiagnostics(details: string): string {
  const noConnection = /^(?:\w+: )?No connection established\. Last error: (.*?)\. Resolution note: (.*)$/s.exec(details);
  if (noConnection) {
    const lastError = noConnection[1]!.replace(/^Error: /, '').trim();
    const note = noConnection[2]!.trim();
    return `No connection established${lastError && lastError !== 'null' ? ` (${lastError})` : ''}${note ? `; ${note}` : ''}`;
  }
  const deadline = /^(Deadline exceeded after [\d.]+s),(.*)$/s.exec(details);
  if (deadline) return `${deadline[1]}${deadline[2]!.includes('Waiting for LB pick') ? ', before a connection was established' : ''}`;
  return details;
}

function isStatusLike(error: unknown): error is Pick<StatusObject, 'code' | 'details'> {
  if (typeof error !== 'object' || error === null) return false;
  const { code, details } = error as { code?: unknown; details?: unknown };
  return typeof code === 'number' && typeof details === 'string';
}

export const cancelledError = (details: string) => new PipelineError(status.CANCELLED, details);

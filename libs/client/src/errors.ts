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
  if (isStatusLike(error)) return new PipelineError(error.code, error.details, { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new PipelineError(status.UNKNOWN, message, { cause: error });
}

function isStatusLike(error: unknown): error is Pick<StatusObject, 'code' | 'details'> {
  if (typeof error !== 'object' || error === null) return false;
  const { code, details } = error as { code?: unknown; details?: unknown };
  return typeof code === 'number' && typeof details === 'string';
}

export const cancelledError = (details: string) => new PipelineError(status.CANCELLED, details);

import { Metadata, status, type ServiceError as GrpcServiceError, type StatusObject } from '@grpc/grpc-js';
import type { Logger } from './logger';

/** A failure with the gRPC status a caller should see. Handlers throw these; `toStatus` maps everything else. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

export function isServiceError(error: unknown): error is ServiceError {
  return error instanceof ServiceError;
}

export const invalidArgument = (message: string) => new ServiceError(status.INVALID_ARGUMENT, message);
export const notFound = (message: string) => new ServiceError(status.NOT_FOUND, message);
export const failedPrecondition = (message: string) => new ServiceError(status.FAILED_PRECONDITION, message);
export const resourceExhausted = (message: string) => new ServiceError(status.RESOURCE_EXHAUSTED, message);
export const unavailable = (message: string) => new ServiceError(status.UNAVAILABLE, message);

/** Errors a grpc-js client call rejects with: a status code and the server's message. */
export function isGrpcCallError(error: unknown): error is GrpcServiceError {
  return error instanceof Error && typeof (error as Partial<GrpcServiceError>).code === 'number' && 'details' in error;
}

/**
 * The one place a service turns an error into the status its caller sees: a ServiceError keeps its code, an
 * abort becomes CANCELLED (or DEADLINE_EXCEEDED when the deadline caused it), and anything else is a bug:
 * INTERNAL, logged with its stack, and never shown to the caller in detail.
 */
export function toStatus(error: unknown, logger: Logger, method: string): Partial<StatusObject> {
  if (isServiceError(error)) return { code: error.code, details: error.message, metadata: new Metadata() };
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) {
    const code = error.name === 'TimeoutError' ? status.DEADLINE_EXCEEDED : status.CANCELLED;
    return { code, details: error.message, metadata: new Metadata() };
  }
  logger.error('unhandled error', { method, error });
  return { code: status.INTERNAL, details: `internal error in ${method}; see the service log`, metadata: new Metadata() };
}

import { Metadata, type handleUnaryCall, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { openCallContext, type CallContext } from './call-context';
import { toStatus } from './errors';
import type { Logger } from './logger';

export type UnaryHandler<Request, Response> = (request: Request, context: CallContext) => Promise<Response>;

/**
 * Trailer on every successful unary answer: the handler's own time in milliseconds (decimal, 3 places), from the
 * decoded request to the answer handed back for encoding. The caller subtracts it from what it observed to get
 * the hop's cost (network, HTTP/2, protobuf, grpc-js) without any clock shared between the two processes.
 */
export const SERVER_MS_TRAILER = 'imesh-server-ms';

export interface UnaryHandlerOptions<Response> {
  /**
   * Moves parts of the answer into trailing metadata (beside SERVER_MS_TRAILER) and returns the message to send.
   * Called once per successful call.
   */
  readonly finish?: (response: Response, trailers: Metadata) => Response;
}

/**
 * Adapts an async handler to grpc-js: gives it a CallContext and maps whatever it throws to a status in one
 * place, so handlers are plain functions that unit tests call without a server.
 */
export function unaryHandler<Request, Response>(
  method: string,
  logger: Logger,
  handle: UnaryHandler<Request, Response>,
  options: UnaryHandlerOptions<Response> = {},
): handleUnaryCall<Request, Response> {
  const { finish } = options;
  return (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => {
    const started = performance.now();
    const { context, dispose } = openCallContext(call as ServerUnaryCall<unknown, unknown>);
    handle(call.request, context).then(
      (response) => {
        dispose();
        const trailers = new Metadata();
        const message = finish ? finish(response, trailers) : response;
        trailers.set(SERVER_MS_TRAILER, (performance.now() - started).toFixed(3));
        callback(null, message, trailers);
      },
      (error: unknown) => {
        dispose();
        callback(toStatus(error, logger, method));
      },
    );
  };
}

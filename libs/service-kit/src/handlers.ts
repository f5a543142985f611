import type { handleUnaryCall, sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { openCallContext, type CallContext } from './call-context';
import { toStatus } from './errors';
import type { Logger } from './logger';

export type UnaryHandler<Request, Response> = (request: Request, context: CallContext) => Promise<Response>;

/**
 * Adapts an async handler to grpc-js: gives it a CallContext and maps whatever it throws to a status in one
 * place, so handlers are plain functions that unit tests call without a server.
 */
export function unaryHandler<Request, Response>(
  method: string,
  logger: Logger,
  handle: UnaryHandler<Request, Response>,
): handleUnaryCall<Request, Response> {
  return (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => {
    const { context, dispose } = openCallContext(call as ServerUnaryCall<unknown, unknown>);
    handle(call.request, context).then(
      (response) => {
        dispose();
        callback(null, response);
      },
      (error: unknown) => {
        dispose();
        callback(toStatus(error, logger, method));
      },
    );
  };
}

import { Metadata, status, type ServerUnaryCall } from '@grpc/grpc-js';
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import { invalidArgument } from './errors';
import { SERVER_MS_TRAILER, unaryHandler } from './handlers';
import { createLogger } from './logger';

const logger = createLogger('test', 'error', () => {});

/** Just what openCallContext reads of a grpc-js call. */
function fakeCall<Request>(request: Request): ServerUnaryCall<Request, unknown> {
  return Object.assign(new EventEmitter(), { request, metadata: new Metadata(), getDeadline: () => Infinity }) as unknown as ServerUnaryCall<Request, unknown>;
}

function invoke<Response>(handler: ReturnType<typeof unaryHandler<number, Response>>, request: number) {
  return new Promise<{ error: unknown; value: Response | null | undefined; trailers: Metadata | undefined }>((resolve) =>
    handler(fakeCall(request) as ServerUnaryCall<number, Response>, (error, value, trailers) => resolve({ error, value, trailers })),
  );
}

describe('unaryHandler', () => {
  it('answers with the handler\'s own time in the imesh-server-ms trailer, in milliseconds', async () => {
    const handler = unaryHandler('Echo', logger, async (request: number) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { echoed: request };
    });
    const { error, value, trailers } = await invoke(handler, 7);
    assert.equal(error, null);
    assert.deepEqual(value, { echoed: 7 });
    const serverMs = Number(trailers?.get(SERVER_MS_TRAILER)[0]);
    assert.ok(serverMs >= 15 && serverMs < 5_000, `imesh-server-ms ${serverMs}`);
  });

  it('lets finish move parts of the answer into trailers', async () => {
    const handler = unaryHandler('Echo', logger, async (request: number) => ({ echoed: request, extra: 'x' }), {
      finish: ({ echoed, extra }, trailers) => {
        trailers.set('x-extra', extra);
        return { echoed, extra: '' };
      },
    });
    const { value, trailers } = await invoke(handler, 3);
    assert.deepEqual(value, { echoed: 3, extra: '' });
    assert.deepEqual(trailers?.get('x-extra'), ['x']);
    assert.equal(trailers?.get(SERVER_MS_TRAILER).length, 1);
  });

  it('maps a thrown error to its status', async () => {
    const handler = unaryHandler('Echo', logger, async (): Promise<number> => {
      throw invalidArgument('no');
    });
    const { error } = await invoke(handler, 1);
    assert.equal((error as { code: number }).code, status.INVALID_ARGUMENT);
  });
});

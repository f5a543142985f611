import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { abortedStatus, openCallContext } from './call-context';

/** The part of a grpc-js server call openCallContext reads. */
function fakeCall(deadline: number) {
  return Object.assign(new EventEmitter(), { getDeadline: () => deadline, metadata: {} }) as unknown as Parameters<typeof openCallContext>[0];
}

describe('openCallContext and abortedStatus', () => {
  it('aborts at the deadline with a reason that reads DEADLINE_EXCEEDED', async () => {
    const { context, dispose } = openCallContext(fakeCall(Date.now() + 20));
    try {
      await new Promise((resolve) => context.signal.addEventListener('abort', resolve, { once: true }));
      assert.equal(abortedStatus(context.signal), status.DEADLINE_EXCEEDED);
    } finally {
      dispose();
    }
  });

  it('aborts when the caller cancels, with a reason that reads CANCELLED', () => {
    const call = fakeCall(Infinity);
    const { context, dispose } = openCallContext(call);
    (call as unknown as EventEmitter).emit('cancelled');
    dispose();
    assert.equal(context.signal.aborted, true);
    assert.equal(abortedStatus(context.signal), status.CANCELLED);
    const plain = new AbortController();
    plain.abort();
    assert.equal(abortedStatus(plain.signal), status.CANCELLED);
  });
});

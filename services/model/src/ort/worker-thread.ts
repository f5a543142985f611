// The ONNX Runtime worker thread: owns every InferenceSession of the process and answers the requests that
// OrtWorkerClient (worker-client.ts) posts, strictly in the order they arrive. onnxruntime-node runs a session
// synchronously on the thread that calls it; here that is this thread, so the main thread's event loop keeps
// reading, decoding and batching requests while a batch computes.
import { parentPort } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import { createOrtSession } from './session';
import { fromWire, toWire, toWireError, type WorkerReply, type WorkerRequest } from './wire';

const port = parentPort;
if (!port) throw new Error('worker-thread.js is a worker_threads entry point; OrtWorkerClient starts it');

const sessions = new Map<number, InferenceSession>();
let nextSessionId = 1;

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function sessionOf(id: number): InferenceSession {
  const session = sessions.get(id);
  if (!session) throw new Error(`session ${id} does not exist in the ONNX Runtime worker (released?)`);
  return session;
}

/**
 * One request; never throws, every request gets its reply. onnxruntime-node's promise API defers the synchronous
 * native call by one setImmediate, so requests are chained (below) rather than started as they arrive: a release
 * must not dispose a session whose deferred run has not happened yet.
 */
async function handle(request: WorkerRequest): Promise<void> {
  try {
    switch (request.kind) {
      case 'load': {
        const { session, choice } = await createOrtSession(request.modelPath, request.execution);
        const sessionId = nextSessionId++;
        sessions.set(sessionId, session);
        reply({
          kind: 'loaded',
          id: request.id,
          sessionId,
          inputMetadata: session.inputMetadata,
          outputMetadata: session.outputMetadata,
          choice,
        });
        return;
      }
      case 'run': {
        const session = sessionOf(request.sessionId);
        const started = performance.now();
        const results = await session.run(fromWire(request.feeds) as InferenceSession.FeedsType, request.outputNames as string[]);
        const computeMs = performance.now() - started;
        // Output buffers are ORT's own copies, one per output: handed over, not copied again.
        const { wire, transfer } = toWire(results);
        reply({ kind: 'ran', id: request.id, outputs: wire, computeMs }, transfer);
        return;
      }
      case 'release': {
        const session = sessions.get(request.sessionId);
        sessions.delete(request.sessionId);
        await session?.release();
        reply({ kind: 'released', id: request.id });
        return;
      }
    }
  } catch (error) {
    reply({ kind: 'failed', id: request.id, error: toWireError(error) });
  }
}

// Strictly one request at a time, in arrival order. Requests arriving meanwhile wait in the port and then in this
// chain; the main thread never has to wait for the worker to be idle before posting the next batch.
let tail: Promise<void> = Promise.resolve();
port.on('message', (request: WorkerRequest) => {
  tail = tail.then(() => handle(request));
});

reply({ kind: 'ready' });

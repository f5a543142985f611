import type { Logger } from '@inference-mesh/service-kit';
import { cudaMemoryLimitNote, type ExecutionConfig } from './execution-config';
import type { ModelLoader } from '../model-runner';
import { ortInThreadLoader } from './main-thread-runner';
import { OrtWorkerClient } from './worker-client';

/**
 * A loader and the resources behind it, as `startOrtLoader` hands it out: with the default
 * worker, one thread that owns every session of the process.
 */
export interface OrtLoaderHandle {
  /** `worker`: sessions live in the ONNX Runtime worker thread; `main-thread`: in this thread (IMESH_MODEL_WORKER=off). */
  readonly mode: 'worker' | 'main-thread';
  readonly loadModel: ModelLoader;
  /**
   * Called once if the worker thread dies unexpectedly (an uncaught error in it, or it exits): every pending run
   * has been rejected with UNAVAILABLE and every later run fails at once, so the service should report NOT_SERVING.
   * Called on the next tick for a worker that has already died. Not called for `close()`. Returns an unsubscribe.
   */
  onWorkerExit(listener: (error: Error) => void): () => void;
  /**
   * Ends the worker: pending runs are rejected (UNAVAILABLE); runs it is already computing get `waitMs` (default
   * WORKER_CLOSE_WAIT_MS) to finish before the thread is terminated. Release the registry first. Idempotent.
   */
  close(waitMs?: number): Promise<void>;
}

export interface OrtLoaderOptions {
  readonly execution: ExecutionConfig;
  readonly logger: Logger;
}

/**
 * The model loader the service runs with: by default an ONNX Runtime worker thread owning every session
 * (`OrtWorkerClient`), or with `execution.worker` off, sessions on the main thread. Start it before
 * `ModelRegistry.load`, hook `onWorkerExit` to report NOT_SERVING, and `close()` it after the registry is released.
 */
export async function startOrtLoader(options: OrtLoaderOptions): Promise<OrtLoaderHandle> {
  const { execution, logger } = options;
  const note = cudaMemoryLimitNote(execution);
  if (note) logger.warn(note, { cudaMemoryLimitBytes: execution.cudaMemoryLimitBytes });
  if (execution.worker) return OrtWorkerClient.start({ execution, logger });
  logger.info('ONNX Runtime runs on the main thread (IMESH_MODEL_WORKER=off): requests wait while a batch computes');
  return {
    mode: 'main-thread',
    loadModel: ortInThreadLoader(execution),
    onWorkerExit: () => () => {},
    close: async () => {},
  };
}

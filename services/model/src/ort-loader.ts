import type { Logger } from '@inference-mesh/service-kit';
import { cudaMemoryLimitNote, type ExecutionConfig } from './execution-config';
import { ortInThreadLoader, type OrtLoaderHandle } from './model-runner';
import { OrtWorkerPool } from './ort-worker-pool';

export interface OrtLoaderOptions {
  readonly execution: ExecutionConfig;
  readonly logger: Logger;
}

/**
 * The model loader the service runs with: by default an ONNX Runtime worker thread owning every session
 * (`OrtWorkerPool`), or with `execution.worker` off, sessions on the main thread. Start it before
 * `ModelRegistry.load`, hook `onWorkerExit` to report NOT_SERVING, and `close()` it after the registry is released.
 */
export async function startOrtLoader(options: OrtLoaderOptions): Promise<OrtLoaderHandle> {
  const { execution, logger } = options;
  const note = cudaMemoryLimitNote(execution);
  if (note) logger.warn(note, { cudaMemoryLimitBytes: execution.cudaMemoryLimitBytes });
  if (execution.worker) return OrtWorkerPool.start({ execution, logger });
  logger.info('ONNX Runtime runs on the main thread (IMESH_MODEL_WORKER=off): requests wait while a batch computes');
  return {
    mode: 'main-thread',
    loadModel: ortInThreadLoader(execution),
    onWorkerExit: () => () => {},
    close: async () => {},
  };
}

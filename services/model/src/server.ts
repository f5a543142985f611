import { loadInferenceProto, SERVICE_NAMES } from '@inference-mesh/protos';
import { ServiceServer, type Logger, type RunningService } from '@inference-mesh/service-kit';
import type { ModelServiceConfig } from './config';
import { inferenceGrpcHandlers, InferenceHandlers } from './handlers';
import { ModelMetrics, versionAttributes } from './model-metrics';
import { ModelRegistry, type ReadyVersion } from './model-registry';
import type { ModelLoader } from './model-runner';
import { startOrtLoader } from './ort/loader';
import { WORKER_CLOSE_WAIT_MS } from './ort/worker-client';
import { VersionExecutor } from './batching/version-executor';

export interface StartedModelServer extends RunningService {
  readonly port: number;
  readonly registry: ModelRegistry;
}

/**
 * Starts the ONNX Runtime worker, loads and warms up every model version, gives each READY version its batcher,
 * then serves: health turns SERVING only once loading is over and at least one version is READY, and back to
 * NOT_SERVING if the inference thread dies. `loadModel` replaces ONNX Runtime in tests.
 */
export async function startModelServer(config: ModelServiceConfig, logger: Logger, loadModel?: ModelLoader): Promise<StartedModelServer> {
  const loader = loadModel ? undefined : await startOrtLoader({ execution: config.execution, logger });
  const server = new ServiceServer(config.server, logger);
  loader?.onWorkerExit(() => server.setServing(false));
  const registry = await ModelRegistry.load({
    repositoryRoot: config.repositoryRoot,
    loadModel: loadModel ?? loader!.loadModel,
    logger,
    batchingOverrides: config.batching,
    servedVersions: config.servedVersions,
  });
  const metrics = new ModelMetrics();
  const executors = new Map<ReadyVersion, VersionExecutor>();
  for (const version of registry.versions) {
    if (version.state !== 'READY') continue;
    executors.set(version, new VersionExecutor(version, versionAttributes(version.name, version.version), metrics));
    logger.info('batching', { model: version.name, version: version.version, ...version.batching });
  }
  const service = new InferenceHandlers({
    registry,
    executorOf: (version) => executors.get(version)!,
    metrics,
    serverName: config.serverName,
    serverVersion: config.serverVersion,
  });
  const { packageDefinition, grpc } = loadInferenceProto();
  server.addService(SERVICE_NAMES.inference, grpc.inference.GRPCInferenceService.service, inferenceGrpcHandlers(service, logger), packageDefinition);
  // After the drain: the batches still running, the sessions, the worker. Batches and session releases wait for the
  // runs already posted to the worker, so all of it shares one budget, WORKER_CLOSE_WAIT_MS; then the worker is
  // closed, which rejects what is still pending and terminates the thread. A run stuck in ONNX Runtime thus never
  // holds the process past its shutdown deadline (service-kit's RELEASE_ALLOWANCE_MS holds this budget).
  const release = async () => {
    const deadline = performance.now() + WORKER_CLOSE_WAIT_MS;
    try {
      await settledWithin(
        Promise.all([...executors.values()].map((executor) => executor.close())).then(() => registry.release()),
        WORKER_CLOSE_WAIT_MS,
      );
    } finally {
      await loader?.close(Math.max(0, deadline - performance.now()));
    }
  };
  let port: number;
  try {
    port = await server.start();
  } catch (error) {
    await release();
    throw error;
  }
  if (registry.anyReady) server.setServing(true);
  else {
    logger.error('no model version is READY: health stays NOT_SERVING', {
      root: config.repositoryRoot,
      executionProvider: config.execution.executionProvider,
      failed: registry.versions.flatMap((v) => (v.state === 'READY' ? [] : [{ version: v.label, error: v.error }])),
    });
  }

  let stopped: Promise<void> | undefined;
  return {
    port,
    registry,
    shutdown: () => {
      stopped ??= server.shutdown().then(release);
      return stopped;
    },
  };
}

/** Waits for `work` for at most `ms`; its rejection within that time is thrown. */
async function settledWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

import { loadInferenceProto, SERVICE_NAMES } from '@inference-mesh/protos';
import { ServiceServer, type Logger, type RunningService } from '@inference-mesh/service-kit';
import type { ModelServiceConfig } from './config';
import { inferenceGrpcHandlers, InferenceHandlers } from './handlers';
import { ModelMetrics, versionAttributes } from './model-metrics';
import { ModelRegistry, type ReadyVersion } from './model-registry';
import type { ModelLoader } from './model-runner';
import { startOrtLoader } from './ort/loader';
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
  const release = async () => {
    await Promise.all([...executors.values()].map((executor) => executor.close()));
    await registry.release();
    await loader?.close();
  };
  let port: number;
  try {
    port = await server.start();
  } catch (error) {
    await release();
    throw error;
  }
  if (registry.anyReady) server.setServing(true);
  else logger.error('no model version is READY: health stays NOT_SERVING', { root: config.repositoryRoot });

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

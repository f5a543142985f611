import { loadInferenceProto, SERVICE_NAMES } from '@inference-mesh/protos';
import { ServiceServer, type Logger, type RunningService } from '@inference-mesh/service-kit';
import type { ModelServiceConfig } from './config';
import { inferenceServiceHandlers, InferenceService } from './inference-service';
import { ModelRegistry } from './model-registry';
import { ortCpuLoader, type ModelLoader } from './model-runner';

export interface StartedModelService extends RunningService {
  readonly port: number;
  readonly registry: ModelRegistry;
}

/**
 * Loads every model version, then serves them: health turns SERVING only once loading is over and at least
 * one version is READY. `loadModel` defaults to ONNX Runtime on the CPU.
 */
export async function startModelService(
  config: ModelServiceConfig,
  logger: Logger,
  loadModel: ModelLoader = ortCpuLoader({ intraOpThreads: config.intraOpThreads }),
): Promise<StartedModelService> {
  const registry = await ModelRegistry.load({ repositoryRoot: config.repositoryRoot, loadModel, logger });
  const service = new InferenceService({
    registry,
    maxBatchSize: config.maxBatchSize,
    serverName: config.serverName,
    serverVersion: config.serverVersion,
  });
  const server = new ServiceServer(config.server, logger);
  const { packageDefinition, grpc } = loadInferenceProto();
  server.addService(
    SERVICE_NAMES.inference,
    grpc.inference.GRPCInferenceService.service,
    inferenceServiceHandlers(service, logger),
    packageDefinition,
  );
  let port: number;
  try {
    port = await server.start();
  } catch (error) {
    await registry.release();
    throw error;
  }
  if (registry.anyReady) server.setServing(true);
  else logger.error('no model version is READY: health stays NOT_SERVING', { root: config.repositoryRoot });

  let stopped: Promise<void> | undefined;
  return {
    port,
    registry,
    shutdown: () => {
      stopped ??= server.shutdown().then(() => registry.release());
      return stopped;
    },
  };
}

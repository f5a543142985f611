import { loadPostprocessProto, SERVICE_NAMES, type postprocess } from '@inference-mesh/protos';
import { startGrpcService, type Logger, type ServiceServer } from '@inference-mesh/service-kit';
import type { PostprocessConfig } from './config';
import { createPostprocessHandler } from './handlers';
import { LabelRegistry } from './label-registry';

/** Loads the labels of every model version, then serves PostprocessService (SERVING once both are done). */
export async function startPostprocessServer(config: PostprocessConfig, logger: Logger): Promise<ServiceServer> {
  const registry = LabelRegistry.load({ repositoryRoot: config.repositoryRoot, defaultModel: config.defaultModel, logger });
  return startGrpcService<postprocess.PostprocessServiceHandlers>({
    name: SERVICE_NAMES.postprocess,
    packageDefinition: loadPostprocessProto().packageDefinition,
    handlers: { Postprocess: createPostprocessHandler({ registry, maxBatchRows: config.maxBatchRows }) },
    server: config.server,
    logger,
  });
}

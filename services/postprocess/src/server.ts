import { loadPostprocessProto, SERVICE_NAMES, type postprocess } from '@inference-mesh/protos';
import { startGrpcService, type Logger, type ServiceServer } from '@inference-mesh/service-kit';
import type { PostprocessConfig } from './config';
import { createPostprocessHandler } from './handlers';
import { LabelRegistry } from './label-registry';

/** Loads the labels of every model version, then serves PostprocessService (SERVING once both are done). */
export async function startPostprocessServer(config: PostprocessConfig, logger: Logger): Promise<ServiceServer> {
  const handlers = { Postprocess: createPostprocessHandler(LabelRegistry.load({ ...config, logger }), config.maxBatchTexts) };
  const { packageDefinition } = loadPostprocessProto();
  return startGrpcService<postprocess.PostprocessServiceHandlers>({ name: SERVICE_NAMES.postprocess, packageDefinition, handlers, server: config.server, logger });
}

import { loadPostprocessProto, SERVICE_NAMES, type postprocess } from '@inference-mesh/protos';
import { ServiceServer, unaryHandler, type Logger } from '@inference-mesh/service-kit';
import type { PostprocessConfig } from './config';
import { LabelRegistry } from './label-registry';
import { createPostprocessHandler } from './postprocess-handler';

/**
 * Loads the labels of every model version, then listens; health turns SERVING only once both are done.
 * Resolves with the server, whose `port` is the bound one and whose `shutdown()` stops it in order.
 */
export async function startPostprocessService(config: PostprocessConfig, logger: Logger): Promise<ServiceServer> {
  const registry = LabelRegistry.load({
    repositoryRoot: config.repositoryRoot,
    defaultModel: config.defaultModel,
    logger,
  });
  const { grpc, packageDefinition } = loadPostprocessProto();
  const handlers: postprocess.PostprocessServiceHandlers = {
    Postprocess: unaryHandler(
      'PostprocessService/Postprocess',
      logger,
      createPostprocessHandler({ registry, maxBatchRows: config.maxBatchRows }),
    ),
  };
  const server = new ServiceServer(config.server, logger);
  server.addService(
    SERVICE_NAMES.postprocess,
    grpc.inference_mesh.postprocess.v1.PostprocessService.service,
    handlers,
    packageDefinition,
  );
  await server.start();
  server.setServing(true);
  return server;
}

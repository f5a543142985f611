import { loadTokenizerProto, SERVICE_NAMES, type tokenizer } from '@inference-mesh/protos';
import { ServiceServer, unaryHandler, type Logger } from '@inference-mesh/service-kit';
import type { TokenizerConfig } from './config';
import { createEncodeHandler } from './encode-handler';
import { TokenizerRegistry } from './tokenizer-registry';

/**
 * Loads every tokenizer of the repository, then listens; health turns SERVING only once both are done.
 * Resolves with the server, whose `port` is the bound one and whose `shutdown()` stops it in order.
 */
export async function startTokenizerService(config: TokenizerConfig, logger: Logger): Promise<ServiceServer> {
  const registry = TokenizerRegistry.load({
    repositoryRoot: config.repositoryRoot,
    defaultModel: config.defaultModel,
    logger,
  });
  const { grpc, packageDefinition } = loadTokenizerProto();
  const handlers: tokenizer.TokenizerServiceHandlers = {
    Encode: unaryHandler(
      'TokenizerService/Encode',
      logger,
      createEncodeHandler({ registry, maxBatchTexts: config.maxBatchTexts }),
    ),
  };
  const server = new ServiceServer(config.server, logger);
  server.addService(
    SERVICE_NAMES.tokenizer,
    grpc.inference_mesh.tokenizer.v1.TokenizerService.service,
    handlers,
    packageDefinition,
  );
  await server.start();
  server.setServing(true);
  return server;
}

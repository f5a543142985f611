import { loadTokenizerProto, SERVICE_NAMES, type tokenizer } from '@inference-mesh/protos';
import { startGrpcService, type Logger, type ServiceServer } from '@inference-mesh/service-kit';
import type { TokenizerConfig } from './config';
import { createEncodeHandler } from './handlers';
import { TokenizerRegistry } from './tokenizer-registry';

/** Loads every tokenizer of the repository, then serves TokenizerService (SERVING once both are done). */
export async function startTokenizerServer(config: TokenizerConfig, logger: Logger): Promise<ServiceServer> {
  const registry = TokenizerRegistry.load({ repositoryRoot: config.repositoryRoot, defaultModel: config.defaultModel, logger });
  return startGrpcService<tokenizer.TokenizerServiceHandlers>({
    name: SERVICE_NAMES.tokenizer,
    packageDefinition: loadTokenizerProto().packageDefinition,
    handlers: { Encode: createEncodeHandler({ registry, maxBatchTexts: config.maxBatchTexts }) },
    server: config.server,
    logger,
  });
}

import { loadTokenizerProto, SERVICE_NAMES, type tokenizer } from '@inference-mesh/protos';
import { startGrpcService, type Logger, type ServiceServer } from '@inference-mesh/service-kit';
import type { TokenizerConfig } from './config';
import { createEncodeHandler } from './handlers';
import { TokenizerRegistry } from './tokenizer-registry';

/** Loads every tokenizer of the repository, then serves TokenizerService (SERVING once both are done). */
export async function startTokenizerServer(config: TokenizerConfig, logger: Logger): Promise<ServiceServer> {
  const handlers = { Encode: createEncodeHandler(TokenizerRegistry.load({ ...config, logger }), config.maxBatchTexts) };
  const { packageDefinition } = loadTokenizerProto();
  return startGrpcService<tokenizer.TokenizerServiceHandlers>({ name: SERVICE_NAMES.tokenizer, packageDefinition, handlers, server: config.server, logger });
}

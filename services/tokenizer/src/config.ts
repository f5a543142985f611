import { readRepositoryServiceConfig, type RepositoryServiceConfig } from '@inference-mesh/model-repository';
import type { EnvReader } from '@inference-mesh/service-kit';

/** tokenizer.json and config.json per model version, and the most texts one Encode call may carry. */
export type TokenizerConfig = RepositoryServiceConfig;

export function readTokenizerConfig(env: EnvReader): TokenizerConfig {
  return readRepositoryServiceConfig(env, 'tokenizer');
}

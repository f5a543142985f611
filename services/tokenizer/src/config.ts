import { readDefaultModel, readRepositoryRoot } from '@inference-mesh/model-repository';
import { readMaxBatchTexts, readServerConfig, type EnvReader, type ServerConfig } from '@inference-mesh/service-kit';

export interface TokenizerConfig {
  readonly server: ServerConfig;
  /** Folder of `<model>/<version>/` folders, each with tokenizer.json and config.json. */
  readonly repositoryRoot: string;
  /** The model of requests that leave `model_name` empty. */
  readonly defaultModel: string;
  /** Most texts one Encode call may carry. */
  readonly maxBatchTexts: number;
}

/** IMESH_MODEL_REPOSITORY, IMESH_DEFAULT_MODEL, IMESH_MAX_BATCH_TEXTS and the server settings. */
export function readTokenizerConfig(env: EnvReader): TokenizerConfig {
  const repositoryRoot = readRepositoryRoot(env);
  return {
    server: readServerConfig(env, 'tokenizer'),
    repositoryRoot,
    defaultModel: readDefaultModel(env),
    maxBatchTexts: readMaxBatchTexts(env),
  };
}

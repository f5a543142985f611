import { readDefaultModel, readRepositoryRoot } from '@inference-mesh/model-repository';
import { readMaxBatchTexts, readServerConfig, type EnvReader, type ServerConfig } from '@inference-mesh/service-kit';

export interface PostprocessConfig {
  readonly server: ServerConfig;
  /** Folder of `<model>/<version>/` folders, each with a config.json holding id2label. */
  readonly repositoryRoot: string;
  /** The model of requests that leave `model_name` empty. */
  readonly defaultModel: string;
  /** Most rows one Postprocess call may carry; the same limit as the tokenizer's texts per call. */
  readonly maxBatchRows: number;
}

/** IMESH_MODEL_REPOSITORY, IMESH_DEFAULT_MODEL, IMESH_MAX_BATCH_TEXTS and the server settings. */
export function readPostprocessConfig(env: EnvReader): PostprocessConfig {
  const repositoryRoot = readRepositoryRoot(env);
  return {
    server: readServerConfig(env, 'postprocess'),
    repositoryRoot,
    defaultModel: readDefaultModel(env),
    maxBatchRows: readMaxBatchTexts(env),
  };
}

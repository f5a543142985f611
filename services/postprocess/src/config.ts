import { readServerConfig, type EnvReader, type ServerConfig } from '@inference-mesh/service-kit';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';

export interface PostprocessConfig {
  readonly server: ServerConfig;
  /** Folder of `<model>/<version>/` folders, each with a config.json holding id2label. */
  readonly repositoryRoot: string;
  /** The model of requests that leave `model_name` empty. */
  readonly defaultModel: string;
  /** Most rows one Postprocess call may carry; the same limit as the tokenizer's texts per call. */
  readonly maxBatchRows: number;
}

/** The repository's committed `models/`, from `services/postprocess/dist/`. */
export const DEFAULT_MODEL_REPOSITORY = resolve(__dirname, '..', '..', '..', 'models');
export const DEFAULT_MODEL = 'sentiment';
export const DEFAULT_MAX_BATCH_ROWS = 256;

/** IMESH_MODEL_REPOSITORY, IMESH_DEFAULT_MODEL, IMESH_MAX_BATCH_TEXTS and the server settings. */
export function readPostprocessConfig(env: EnvReader): PostprocessConfig {
  const repositoryRoot = resolve(env.string('IMESH_MODEL_REPOSITORY', DEFAULT_MODEL_REPOSITORY));
  if (!isDirectory(repositoryRoot)) env.fail(`IMESH_MODEL_REPOSITORY=${JSON.stringify(repositoryRoot)}: not a directory`);
  return {
    server: readServerConfig(env, 'postprocess'),
    repositoryRoot,
    defaultModel: env.string('IMESH_DEFAULT_MODEL', DEFAULT_MODEL),
    maxBatchRows: env.integer('IMESH_MAX_BATCH_TEXTS', DEFAULT_MAX_BATCH_ROWS, { min: 1, max: 65_536 }),
  };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

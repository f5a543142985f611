import { readServerConfig, type EnvReader, type ServerConfig } from '@inference-mesh/service-kit';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';

export interface TokenizerConfig {
  readonly server: ServerConfig;
  /** Folder of `<model>/<version>/` folders, each with tokenizer.json and config.json. */
  readonly repositoryRoot: string;
  /** The model of requests that leave `model_name` empty. */
  readonly defaultModel: string;
  /** Most texts one Encode call may carry. */
  readonly maxBatchTexts: number;
}

/** The repository's committed `models/`, from `services/tokenizer/dist/`. */
export const DEFAULT_MODEL_REPOSITORY = resolve(__dirname, '..', '..', '..', 'models');
export const DEFAULT_MODEL = 'sentiment';
export const DEFAULT_MAX_BATCH_TEXTS = 256;

/** IMESH_MODEL_REPOSITORY, IMESH_DEFAULT_MODEL, IMESH_MAX_BATCH_TEXTS and the server settings. */
export function readTokenizerConfig(env: EnvReader): TokenizerConfig {
  const repositoryRoot = resolve(env.string('IMESH_MODEL_REPOSITORY', DEFAULT_MODEL_REPOSITORY));
  if (!isDirectory(repositoryRoot)) env.fail(`IMESH_MODEL_REPOSITORY=${JSON.stringify(repositoryRoot)}: not a directory`);
  return {
    server: readServerConfig(env, 'tokenizer'),
    repositoryRoot,
    defaultModel: env.string('IMESH_DEFAULT_MODEL', DEFAULT_MODEL),
    maxBatchTexts: env.integer('IMESH_MAX_BATCH_TEXTS', DEFAULT_MAX_BATCH_TEXTS, { min: 1, max: 65_536 }),
  };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

import { readMaxBatchTexts, readServerConfig, type EnvReader, type ServerConfig, type ServiceName } from '@inference-mesh/service-kit';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';

/** The checkout's committed `models/`, from `libs/model-repository/dist/`. */
export const DEFAULT_MODEL_REPOSITORY = resolve(__dirname, '..', '..', '..', 'models');
export const DEFAULT_MODEL = 'sentiment';

/** IMESH_MODEL_REPOSITORY (must be a directory), read the same way by every service that opens the repository. */
export function readRepositoryRoot(env: EnvReader): string {
  const repositoryRoot = resolve(env.string('IMESH_MODEL_REPOSITORY', DEFAULT_MODEL_REPOSITORY));
  if (!isDirectory(repositoryRoot)) env.fail(`IMESH_MODEL_REPOSITORY=${JSON.stringify(repositoryRoot)}: not a directory`);
  return repositoryRoot;
}

/** IMESH_DEFAULT_MODEL: the model of requests that name none. */
export function readDefaultModel(env: EnvReader): string {
  return env.string('IMESH_DEFAULT_MODEL', DEFAULT_MODEL);
}

/** The settings of a service that answers per model version from the repository and nothing more (tokenizer, postprocess). */
export interface RepositoryServiceConfig {
  readonly server: ServerConfig;
  /** Folder of `<model>/<version>/` folders. */
  readonly repositoryRoot: string;
  /** The model of requests that leave `model_name` empty. */
  readonly defaultModel: string;
  /** Most texts (rows) one call may carry. */
  readonly maxBatchTexts: number;
}

/** IMESH_MODEL_REPOSITORY, IMESH_DEFAULT_MODEL, IMESH_MAX_BATCH_TEXTS and the server settings of `service`. */
export function readRepositoryServiceConfig(env: EnvReader, service: ServiceName): RepositoryServiceConfig {
  return {
    server: readServerConfig(env, service),
    repositoryRoot: readRepositoryRoot(env),
    defaultModel: readDefaultModel(env),
    maxBatchTexts: readMaxBatchTexts(env),
  };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

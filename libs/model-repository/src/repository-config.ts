import type { EnvReader } from '@inference-mesh/service-kit';
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

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

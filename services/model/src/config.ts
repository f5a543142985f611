import { readRepositoryRoot } from '@inference-mesh/model-repository';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readServerConfig, type EnvReader, type ServerConfig } from '@inference-mesh/service-kit';

export interface ModelServiceConfig {
  readonly server: ServerConfig;
  /** Absolute path of the `<name>/<version>/model.onnx` tree to serve. */
  readonly repositoryRoot: string;
  /** Largest first (batch) dimension a request may carry. */
  readonly maxBatchSize: number;
  /** ONNX Runtime threads inside one operator; 0 lets ONNX Runtime choose. */
  readonly intraOpThreads: number;
  /** ServerMetadata's name. */
  readonly serverName: string;
  /** ServerMetadata's version: this package's version. */
  readonly serverVersion: string;
}

export const DEFAULT_MAX_BATCH_SIZE = 256;
export const DEFAULT_SERVER_NAME = 'inference-mesh-model';

/**
 * IMESH_MODEL_PORT and the shared server settings, IMESH_MODEL_REPOSITORY, IMESH_MODEL_MAX_BATCH_SIZE,
 * IMESH_MODEL_INTRA_OP_THREADS, IMESH_MODEL_SERVER_NAME.
 */
export function readModelServiceConfig(env: EnvReader): ModelServiceConfig {
  const repositoryRoot = readRepositoryRoot(env);
  return {
    server: readServerConfig(env, 'model'),
    repositoryRoot,
    maxBatchSize: env.integer('IMESH_MODEL_MAX_BATCH_SIZE', DEFAULT_MAX_BATCH_SIZE, { min: 1, max: 65_536 }),
    intraOpThreads: env.integer('IMESH_MODEL_INTRA_OP_THREADS', 0, { min: 0, max: 1024 }),
    serverName: env.string('IMESH_MODEL_SERVER_NAME', DEFAULT_SERVER_NAME),
    serverVersion: packageVersion(),
  };
}

function packageVersion(): string {
  const json = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: unknown };
  return typeof json.version === 'string' ? json.version : '0.0.0';
}

import { readRepositoryRoot } from '@inference-mesh/model-repository';
import { readServerConfig, type EnvReader, type ServerConfig } from '@inference-mesh/service-kit';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readBatchingOverrides, type BatchingOverrides } from './batching/batching-config';
import { readExecutionConfig, type ExecutionConfig } from './ort/execution-config';

export interface ModelServiceConfig {
  readonly server: ServerConfig;
  /** Absolute path of the `<name>/<version>/model.onnx` tree to serve. */
  readonly repositoryRoot: string;
  /** Execution provider, threads, graph optimisation, worker thread. */
  readonly execution: ExecutionConfig;
  /** Dynamic batching settings that win over every version's serving.json. */
  readonly batching: BatchingOverrides;
  /** ServerMetadata's name. */
  readonly serverName: string;
  /** ServerMetadata's version: this package's version. */
  readonly serverVersion: string;
  /** IMESH_MODEL_VERSIONS: serve only these version numbers (one Deployment per version); empty: every version. */
  readonly servedVersions: readonly string[];
}

export const DEFAULT_SERVER_NAME = 'inference-mesh-model';

/**
 * IMESH_MODEL_PORT and the shared server settings, IMESH_MODEL_REPOSITORY, the execution settings
 * (IMESH_MODEL_EXECUTION_PROVIDER, ...), the batching overrides (IMESH_MODEL_BATCHING, IMESH_MODEL_MAX_BATCH_SIZE,
 * ...), IMESH_MODEL_SERVER_NAME.
 */
export function readModelServiceConfig(env: EnvReader): ModelServiceConfig {
  return {
    server: readServerConfig(env, 'model'),
    repositoryRoot: readRepositoryRoot(env),
    execution: readExecutionConfig(env),
    batching: readBatchingOverrides(env),
    serverName: env.string('IMESH_MODEL_SERVER_NAME', DEFAULT_SERVER_NAME),
    serverVersion: packageVersion(),
    servedVersions: readServedVersions(env),
  };
}

/** `1` or `1,2`: version folder names; empty when unset. */
function readServedVersions(env: EnvReader): string[] {
  const text = env.string('IMESH_MODEL_VERSIONS', '');
  if (text === '') return [];
  const versions = text.split(',').map((part) => part.trim());
  if (versions.some((version) => !/^[0-9]+$/.test(version)) || new Set(versions).size !== versions.length) {
    env.fail(`IMESH_MODEL_VERSIONS=${JSON.stringify(text)}: expected distinct version numbers separated by commas, e.g. 1 or 1,2`);
    return [];
  }
  return versions;
}

function packageVersion(): string {
  const json = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: unknown };
  return typeof json.version === 'string' ? json.version : '0.0.0';
}

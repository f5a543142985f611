import { readRepositoryServiceConfig, type RepositoryServiceConfig } from '@inference-mesh/model-repository';
import type { EnvReader } from '@inference-mesh/service-kit';

/** config.json (id2label) per model version, and the most rows of logits one Postprocess call may carry. */
export type PostprocessConfig = RepositoryServiceConfig;

export function readPostprocessConfig(env: EnvReader): PostprocessConfig {
  return readRepositoryServiceConfig(env, 'postprocess');
}

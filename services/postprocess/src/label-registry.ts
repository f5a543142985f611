import { readModelConfig } from '@inference-mesh/model-repository';
import type { Logger } from '@inference-mesh/service-kit';
import { ModelVersions, type ResolvedVersion } from '@inference-mesh/model-repository';

export interface LabelRegistryOptions {
  readonly repositoryRoot: string;
  readonly defaultModel: string;
  readonly logger: Logger;
}

/** The labels of every model version, from its config.json `id2label`, in output index order. */
export class LabelRegistry {
  private constructor(private readonly versions: ModelVersions<readonly string[]>) {}

  static load(options: LabelRegistryOptions): LabelRegistry {
    return new LabelRegistry(ModelVersions.load({ ...options, loadVersion: ({ dir }) => readModelConfig(dir).labels }));
  }

  /** Empty name: the default model; empty version: the highest version that loaded. Unknown: NOT_FOUND. */
  resolve(modelName: string, modelVersion: string): ResolvedVersion<readonly string[]> {
    return this.versions.resolve(modelName, modelVersion);
  }

  /** Every version that loaded. */
  loaded(): ResolvedVersion<readonly string[]>[] {
    return this.versions.loaded();
  }
}

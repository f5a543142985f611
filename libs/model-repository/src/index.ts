export { readModelConfig, type ModelConfig } from './model-config';
export { scanModelRepository, modelFiles, tokenizerFingerprint, type ModelVersionDir } from './repository';
export { ModelVersions, type VersionSlot, type ResolvedVersion, type LoadModelVersionsOptions } from './model-versions';
export {
  readRepositoryRoot,
  readDefaultModel,
  readRepositoryServiceConfig,
  DEFAULT_MODEL_REPOSITORY,
  DEFAULT_MODEL,
  type RepositoryServiceConfig,
} from './repository-config';
export { versionFailedToLoad, noVersionLoaded } from './failed-versions';

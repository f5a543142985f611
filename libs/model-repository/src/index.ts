export { readModelConfig, type ModelConfig } from './model-config';
export { scanModelRepository, modelFiles, tokenizerFingerprint, type ModelVersionDir } from './repository';

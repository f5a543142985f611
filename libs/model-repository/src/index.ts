export { readModelConfig, type ModelConfig } from './model-config';
export { scanModelRepository, modelFiles, type ModelVersionDir } from './repository';

export { PipelineClient } from './pipeline-client';
export type { PipelineClientOptions, TlsOptions } from './pipeline-client';
export type { ClassifyStream } from './classify-stream';
export { PipelineError, isPipelineError } from './errors';
export type {
  CallOptions,
  ClassifiedText,
  ClassifyAllOptions,
  ClassifyOptions,
  ClassifyResponse,
  ClassifyResult,
  ClassifyStreamOptions,
  HealthStatus,
  LabelScore,
  ModelSelection,
  TextInput,
} from './types';

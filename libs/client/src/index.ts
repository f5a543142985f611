export { PipelineClient, DEFAULT_TARGET } from './pipeline-client';
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
/** A fake gateway (PipelineService and health, with scripted answers) for tests of code built on the SDK. */
export { startFakePipelineServer, type FakePipelineServer } from './testing/fake-pipeline-server';

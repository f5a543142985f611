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
  HopTiming,
  LabelScore,
  ModelSelection,
  RequestTiming,
  TextInput,
} from './types';
/** A fake gateway (PipelineService and health, with scripted answers) for tests of code built on the SDK. */
export { FAKE_TIMING, startFakePipelineServer, type FakePipelineServer } from './testing/fake-pipeline-server';

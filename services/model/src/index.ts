// What other packages may use of the model service: the parts the bench's in-process baseline assembles without
// RPC (tools/bench/src/in-process-pipeline.ts). Everything else is the service's own.
export { readBatchingOverrides } from './batching/batching-config';
export { VersionExecutor } from './batching/version-executor';
export { ModelMetrics, versionAttributes } from './model-metrics';
export { ModelRegistry } from './model-registry';
export { readExecutionConfig } from './ort/execution-config';
export { startOrtLoader } from './ort/loader';
// The ONNX Runtime worker's close budget at shutdown, which the deployment tests add up against the Kubernetes grace.
export { WORKER_CLOSE_WAIT_MS } from './ort/worker-client';

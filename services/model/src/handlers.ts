import { COMPUTE_MS_PARAMETER, QUEUE_MS_PARAMETER, type inference } from '@inference-mesh/protos';
import { status } from '@grpc/grpc-js';
import { trace } from '@opentelemetry/api';
import { invalidArgument, isServiceError, unaryHandler, type CallContext, type Logger } from '@inference-mesh/service-kit';
import { versionAttributes, type ModelMetrics, type VersionAttributes } from './model-metrics';
import type { VersionExecutor } from './batching/version-executor';
import type { TensorSpec } from './tensors/datatypes';
import type { ModelRegistry, ReadyVersion } from './model-registry';
import { decodeInferRequest, encodeInferResponse, requireModelName } from './tensors/tensor-codec';
import { checkTokenInputs, checkTokenizerFingerprint } from './tokenizer-check';

/** Response parameters naming the batch a request rode in (its sequence number per version) and its rows. */
export const BATCH_ID_PARAMETER = 'imesh_batch_id';
export const BATCH_SIZE_PARAMETER = 'imesh_batch_size';

/** KServe's platform name for ONNX Runtime models. */
export const ONNX_PLATFORM = 'onnxruntime_onnx';

export interface InferenceHandlerOptions {
  readonly registry: ModelRegistry;
  /** Runs a READY version's requests (batching them); one executor per version. */
  readonly executorOf: (version: ReadyVersion) => VersionExecutor;
  readonly metrics: ModelMetrics;
  readonly serverName: string;
  readonly serverVersion: string;
}

/**
 * The Open Inference Protocol's six calls as plain async functions (a unit test calls them without a server).
 * Errors are thrown as ServiceErrors and mapped to a status in one place, by `unaryHandler`.
 */
export class InferenceHandlers {
  constructor(private readonly options: InferenceHandlerOptions) {}

  async serverLive(): Promise<inference.ServerLiveResponse> {
    return { live: true };
  }

  async serverReady(): Promise<inference.ServerReadyResponse> {
    return { ready: this.options.registry.ready };
  }

  async modelReady(request: inference.ModelReadyRequest__Output): Promise<inference.ModelReadyResponse> {
    if (!request.name) throw invalidArgument('name is required');
    return { ready: this.options.registry.find(request.name, request.version).state === 'READY' };
  }

  async serverMetadata(): Promise<inference.ServerMetadataResponse> {
    return { name: this.options.serverName, version: this.options.serverVersion, extensions: [] };
  }

  async modelMetadata(request: inference.ModelMetadataRequest__Output): Promise<inference.ModelMetadataResponse> {
    if (!request.name) throw invalidArgument('name is required');
    const { registry } = this.options;
    const served = registry.resolveReady(request.name, request.version);
    const versions = request.version === '' ? registry.readyVersionsOf(request.name).map((v) => v.version) : [served.version];
    return {
      name: served.name,
      versions,
      platform: ONNX_PLATFORM,
      inputs: served.inputs.map(tensorMetadata),
      outputs: served.outputs.map(tensorMetadata),
    };
  }

  /**
   * Resolves the version, checks the tokenizer fingerprint and every input before anything runs, skips a
   * request whose caller has already gone, runs, and answers with raw little-endian outputs.
   */
  async modelInfer(request: inference.ModelInferRequest__Output, context: CallContext): Promise<inference.ModelInferResponse> {
    const startedMs = performance.now();
    let attributes: VersionAttributes | { 'model.name': string } = { 'model.name': request.modelName };
    try {
      const modelName = requireModelName(request);
      const served = this.options.registry.resolveReady(modelName, request.modelVersion);
      attributes = versionAttributes(served.name, served.version);
      const executor = this.options.executorOf(served);
      checkTokenizerFingerprint(request.parameters, served);
      const decoded = decodeInferRequest(request, served, { maxBatchSize: executor.maxBatchSize });
      checkTokenInputs(decoded.feeds, served);
      context.signal.throwIfAborted();
      const header = { id: request.id, modelName, modelVersion: served.version };
      let response: inference.ModelInferResponse;
      if (decoded.batchSize === undefined) {
        // No variable first dimension: nothing to batch along, so the request runs alone.
        const { outputs } = await served.runner.run(decoded.feeds, decoded.outputNames, context.signal);
        response = encodeInferResponse(header, decoded.outputNames, outputs);
      } else {
        const result = await executor.infer({
          feeds: decoded.feeds,
          outputNames: decoded.outputNames,
          rows: decoded.batchSize,
          signal: context.signal,
          deadlineMs: context.deadlineMs,
        });
        response = encodeInferResponse(header, decoded.outputNames, result.outputs);
        // Which batch the request rode in: KServe allows server-defined response parameters; clients ignore them.
        response.parameters = {
          [BATCH_ID_PARAMETER]: { int64Param: result.batchId },
          [BATCH_SIZE_PARAMETER]: { int64Param: result.batchRows },
          [QUEUE_MS_PARAMETER]: { doubleParam: result.queueMs },
          [COMPUTE_MS_PARAMETER]: { doubleParam: result.computeMs },
        };
        // And the trace says it too: the call's server span (active while the handler runs, when telemetry is on).
        trace.getActiveSpan()?.setAttributes({ ...attributes, 'imesh.batch.id': result.batchId, 'imesh.batch.size': result.batchRows });
      }
      if (!isShadow(request)) this.options.metrics.recordRequest(attributes, 'OK', (performance.now() - startedMs) / 1000);
      return response;
    } catch (error) {
      if (!isShadow(request)) this.options.metrics.recordRequest(attributes, statusName(error), (performance.now() - startedMs) / 1000);
      throw error;
    }
  }
}

/**
 * The gateway's shadow comparison of a canary (request parameter imesh_shadow): served like any request, but not
 * counted in imesh_model_requests_total or imesh_model_request_duration, which canary analyses read as the
 * version's own traffic.
 */
function isShadow(request: inference.ModelInferRequest__Output): boolean {
  return request.parameters?.['imesh_shadow']?.boolParam === true;
}

function statusName(error: unknown): string {
  if (isServiceError(error)) return status[error.code];
  if (error instanceof Error && error.name === 'TimeoutError') return 'DEADLINE_EXCEEDED';
  if (error instanceof Error && error.name === 'AbortError') return 'CANCELLED';
  return 'INTERNAL';
}

/** The grpc-js implementation of `inference.GRPCInferenceService`. */
export function inferenceGrpcHandlers(service: InferenceHandlers, logger: Logger): inference.GRPCInferenceServiceHandlers {
  return {
    ServerLive: unaryHandler('GRPCInferenceService/ServerLive', logger, () => service.serverLive()),
    ServerReady: unaryHandler('GRPCInferenceService/ServerReady', logger, () => service.serverReady()),
    ModelReady: unaryHandler('GRPCInferenceService/ModelReady', logger, (request) => service.modelReady(request)),
    ServerMetadata: unaryHandler('GRPCInferenceService/ServerMetadata', logger, () => service.serverMetadata()),
    ModelMetadata: unaryHandler('GRPCInferenceService/ModelMetadata', logger, (request) => service.modelMetadata(request)),
    ModelInfer: unaryHandler('GRPCInferenceService/ModelInfer', logger, (request, context) => service.modelInfer(request, context)),
  };
}

function tensorMetadata(spec: TensorSpec): inference._inference_ModelMetadataResponse_TensorMetadata {
  return { name: spec.name, datatype: spec.datatype, shape: [...spec.shape] };
}

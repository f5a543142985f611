import type { inference } from '@inference-mesh/protos';
import { invalidArgument, unaryHandler, type CallContext, type Logger } from '@inference-mesh/service-kit';
import type { TensorSpec } from './datatypes';
import type { ModelRegistry } from './model-registry';
import { decodeInferRequest, encodeInferResponse, requireModelName } from './tensor-codec';
import { checkTokenInputs, checkTokenizerFingerprint } from './tokenizer-check';

/** KServe's platform name for ONNX Runtime models. */
export const ONNX_PLATFORM = 'onnxruntime_onnx';

export interface InferenceServiceOptions {
  readonly registry: ModelRegistry;
  readonly maxBatchSize: number;
  readonly serverName: string;
  readonly serverVersion: string;
}

/**
 * The Open Inference Protocol's six calls as plain async functions (a unit test calls them without a server).
 * Errors are thrown as ServiceErrors and mapped to a status in one place, by `unaryHandler`.
 */
export class InferenceService {
  constructor(private readonly options: InferenceServiceOptions) {}

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
    const modelName = requireModelName(request);
    const served = this.options.registry.resolveReady(modelName, request.modelVersion);
    checkTokenizerFingerprint(request.parameters, served);
    const decoded = decodeInferRequest(request, served, { maxBatchSize: this.options.maxBatchSize });
    checkTokenInputs(decoded.feeds, served);
    context.signal.throwIfAborted();
    const results = await served.runner.run(decoded.feeds, decoded.outputNames, context.signal);
    return encodeInferResponse({ id: request.id, modelName, modelVersion: served.version }, decoded.outputNames, results);
  }
}

/** The grpc-js implementation of `inference.GRPCInferenceService`. */
export function inferenceServiceHandlers(service: InferenceService, logger: Logger): inference.GRPCInferenceServiceHandlers {
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

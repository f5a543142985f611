import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join, sep } from 'node:path';
import type { ProtoGrpcType as InferenceGrpc } from './generated/grpc_service';
import type { ProtoGrpcType as PipelineGrpc } from './generated/pipeline';
import type { ProtoGrpcType as PostprocessGrpc } from './generated/postprocess';
import type { ProtoGrpcType as TokenizerGrpc } from './generated/tokenizer';

/**
 * The .proto files: installed from a packed tarball (under node_modules), the copy `npm pack` put inside the
 * package; in the checkout, the repository's `protos/` folder, from `libs/protos/dist/`, so that a copy left by an
 * interrupted pack never hides an edit.
 */
export const PROTO_ROOT = __dirname.split(sep).includes('node_modules') ? join(__dirname, '..', 'protos') : join(__dirname, '..', '..', '..', 'protos');

/**
 * The options the generated types in `./generated` were made with (`npm run gen -w libs/protos`); loading with
 * other options would make the types lie. int64 as number is exact for every shape and token id we handle.
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

/** One .proto file loaded: its package definition (for reflection) and its typed gRPC object. */
export interface LoadedProto<T> {
  readonly packageDefinition: protoLoader.PackageDefinition;
  readonly grpc: T;
}

function lazyLoad<T>(file: string): () => LoadedProto<T> {
  let loaded: LoadedProto<T> | undefined;
  return () => {
    if (!loaded) {
      const packageDefinition = protoLoader.loadSync(file, LOADER_OPTIONS);
      loaded = { packageDefinition, grpc: grpc.loadPackageDefinition(packageDefinition) as unknown as T };
    }
    return loaded;
  };
}

export const loadInferenceProto = lazyLoad<InferenceGrpc>('inference/grpc_service.proto');
export const loadPipelineProto = lazyLoad<PipelineGrpc>('inference_mesh/pipeline/v1/pipeline.proto');
export const loadTokenizerProto = lazyLoad<TokenizerGrpc>('inference_mesh/tokenizer/v1/tokenizer.proto');
export const loadPostprocessProto = lazyLoad<PostprocessGrpc>('inference_mesh/postprocess/v1/postprocess.proto');

/** Fully qualified service names, as health checks and reflection name them. */
export const SERVICE_NAMES = {
  inference: 'inference.GRPCInferenceService',
  pipeline: 'inference_mesh.pipeline.v1.PipelineService',
  tokenizer: 'inference_mesh.tokenizer.v1.TokenizerService',
  postprocess: 'inference_mesh.postprocess.v1.PostprocessService',
  /** Not a gRPC service: the queue-worker's grpc.health.v1 name that is SERVING only while it consumes (readiness). */
  queueWorkerBroker: 'inference_mesh.queue_worker.Broker',
} as const;

export type * as inference from './generated/inference';
export type * as pipeline from './generated/inference_mesh/pipeline/v1';
export type * as tokenizer from './generated/inference_mesh/tokenizer/v1';
export type * as postprocess from './generated/inference_mesh/postprocess/v1';

export { checkHealth, type HealthStatus, type HealthCheckOptions } from './health';

/**
 * Names on the wire beyond the protos' fields, shared by whoever writes and reads them. The timing trailer of a
 * unary Classify answer, in the W3C Server-Timing syntax (`total;dur=3.412,admission;dur=0.010,...`, ms), written
 * by the gateway and read by the SDK; and the model service's ModelInfer response parameters (double, ms): the
 * request's wait in the batcher's queue and its batch's ONNX Runtime compute, read by the gateway.
 */
export const TIMING_TRAILER = 'imesh-timing';
export const QUEUE_MS_PARAMETER = 'imesh_queue_ms';
export const COMPUTE_MS_PARAMETER = 'imesh_compute_ms';

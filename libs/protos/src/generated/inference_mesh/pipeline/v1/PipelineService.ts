// Original file: protos/inference_mesh/pipeline/v1/pipeline.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ClassifyRequest as _inference_mesh_pipeline_v1_ClassifyRequest, ClassifyRequest__Output as _inference_mesh_pipeline_v1_ClassifyRequest__Output } from '../../../inference_mesh/pipeline/v1/ClassifyRequest';
import type { ClassifyResponse as _inference_mesh_pipeline_v1_ClassifyResponse, ClassifyResponse__Output as _inference_mesh_pipeline_v1_ClassifyResponse__Output } from '../../../inference_mesh/pipeline/v1/ClassifyResponse';

export interface PipelineServiceClient extends grpc.Client {
  Classify(argument: _inference_mesh_pipeline_v1_ClassifyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_inference_mesh_pipeline_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  Classify(argument: _inference_mesh_pipeline_v1_ClassifyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_inference_mesh_pipeline_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  Classify(argument: _inference_mesh_pipeline_v1_ClassifyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_inference_mesh_pipeline_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  Classify(argument: _inference_mesh_pipeline_v1_ClassifyRequest, callback: grpc.requestCallback<_inference_mesh_pipeline_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  classify(argument: _inference_mesh_pipeline_v1_ClassifyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_inference_mesh_pipeline_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  classify(argument: _inference_mesh_pipeline_v1_ClassifyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_inference_mesh_pipeline_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  classify(argument: _inference_mesh_pipeline_v1_ClassifyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_inference_mesh_pipeline_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  classify(argument: _inference_mesh_pipeline_v1_ClassifyRequest, callback: grpc.requestCallback<_inference_mesh_pipeline_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Long-lived callers send many requests over one stream and skip per-call
   * setup; each response carries the request_id it answers, so callers need
   * not rely on response order.
   */
  ClassifyStream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_inference_mesh_pipeline_v1_ClassifyRequest, _inference_mesh_pipeline_v1_ClassifyResponse__Output>;
  ClassifyStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_inference_mesh_pipeline_v1_ClassifyRequest, _inference_mesh_pipeline_v1_ClassifyResponse__Output>;
  /**
   * Long-lived callers send many requests over one stream and skip per-call
   * setup; each response carries the request_id it answers, so callers need
   * not rely on response order.
   */
  classifyStream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_inference_mesh_pipeline_v1_ClassifyRequest, _inference_mesh_pipeline_v1_ClassifyResponse__Output>;
  classifyStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_inference_mesh_pipeline_v1_ClassifyRequest, _inference_mesh_pipeline_v1_ClassifyResponse__Output>;
  
}

export interface PipelineServiceHandlers extends grpc.UntypedServiceImplementation {
  Classify: grpc.handleUnaryCall<_inference_mesh_pipeline_v1_ClassifyRequest__Output, _inference_mesh_pipeline_v1_ClassifyResponse>;
  
  /**
   * Long-lived callers send many requests over one stream and skip per-call
   * setup; each response carries the request_id it answers, so callers need
   * not rely on response order.
   */
  ClassifyStream: grpc.handleBidiStreamingCall<_inference_mesh_pipeline_v1_ClassifyRequest__Output, _inference_mesh_pipeline_v1_ClassifyResponse>;
  
}

export interface PipelineServiceDefinition extends grpc.ServiceDefinition {
  Classify: MethodDefinition<_inference_mesh_pipeline_v1_ClassifyRequest, _inference_mesh_pipeline_v1_ClassifyResponse, _inference_mesh_pipeline_v1_ClassifyRequest__Output, _inference_mesh_pipeline_v1_ClassifyResponse__Output>
  ClassifyStream: MethodDefinition<_inference_mesh_pipeline_v1_ClassifyRequest, _inference_mesh_pipeline_v1_ClassifyResponse, _inference_mesh_pipeline_v1_ClassifyRequest__Output, _inference_mesh_pipeline_v1_ClassifyResponse__Output>
}

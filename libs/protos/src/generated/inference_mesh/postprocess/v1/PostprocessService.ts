// Original file: protos/inference_mesh/postprocess/v1/postprocess.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { PostprocessRequest as _inference_mesh_postprocess_v1_PostprocessRequest, PostprocessRequest__Output as _inference_mesh_postprocess_v1_PostprocessRequest__Output } from '../../../inference_mesh/postprocess/v1/PostprocessRequest';
import type { PostprocessResponse as _inference_mesh_postprocess_v1_PostprocessResponse, PostprocessResponse__Output as _inference_mesh_postprocess_v1_PostprocessResponse__Output } from '../../../inference_mesh/postprocess/v1/PostprocessResponse';

export interface PostprocessServiceClient extends grpc.Client {
  Postprocess(argument: _inference_mesh_postprocess_v1_PostprocessRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_inference_mesh_postprocess_v1_PostprocessResponse__Output>): grpc.ClientUnaryCall;
  Postprocess(argument: _inference_mesh_postprocess_v1_PostprocessRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_inference_mesh_postprocess_v1_PostprocessResponse__Output>): grpc.ClientUnaryCall;
  Postprocess(argument: _inference_mesh_postprocess_v1_PostprocessRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_inference_mesh_postprocess_v1_PostprocessResponse__Output>): grpc.ClientUnaryCall;
  Postprocess(argument: _inference_mesh_postprocess_v1_PostprocessRequest, callback: grpc.requestCallback<_inference_mesh_postprocess_v1_PostprocessResponse__Output>): grpc.ClientUnaryCall;
  postprocess(argument: _inference_mesh_postprocess_v1_PostprocessRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_inference_mesh_postprocess_v1_PostprocessResponse__Output>): grpc.ClientUnaryCall;
  postprocess(argument: _inference_mesh_postprocess_v1_PostprocessRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_inference_mesh_postprocess_v1_PostprocessResponse__Output>): grpc.ClientUnaryCall;
  postprocess(argument: _inference_mesh_postprocess_v1_PostprocessRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_inference_mesh_postprocess_v1_PostprocessResponse__Output>): grpc.ClientUnaryCall;
  postprocess(argument: _inference_mesh_postprocess_v1_PostprocessRequest, callback: grpc.requestCallback<_inference_mesh_postprocess_v1_PostprocessResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface PostprocessServiceHandlers extends grpc.UntypedServiceImplementation {
  Postprocess: grpc.handleUnaryCall<_inference_mesh_postprocess_v1_PostprocessRequest__Output, _inference_mesh_postprocess_v1_PostprocessResponse>;
  
}

export interface PostprocessServiceDefinition extends grpc.ServiceDefinition {
  Postprocess: MethodDefinition<_inference_mesh_postprocess_v1_PostprocessRequest, _inference_mesh_postprocess_v1_PostprocessResponse, _inference_mesh_postprocess_v1_PostprocessRequest__Output, _inference_mesh_postprocess_v1_PostprocessResponse__Output>
}

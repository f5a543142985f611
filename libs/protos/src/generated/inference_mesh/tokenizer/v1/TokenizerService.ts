// Original file: protos/inference_mesh/tokenizer/v1/tokenizer.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { EncodeRequest as _inference_mesh_tokenizer_v1_EncodeRequest, EncodeRequest__Output as _inference_mesh_tokenizer_v1_EncodeRequest__Output } from '../../../inference_mesh/tokenizer/v1/EncodeRequest';
import type { EncodeResponse as _inference_mesh_tokenizer_v1_EncodeResponse, EncodeResponse__Output as _inference_mesh_tokenizer_v1_EncodeResponse__Output } from '../../../inference_mesh/tokenizer/v1/EncodeResponse';

export interface TokenizerServiceClient extends grpc.Client {
  Encode(argument: _inference_mesh_tokenizer_v1_EncodeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_inference_mesh_tokenizer_v1_EncodeResponse__Output>): grpc.ClientUnaryCall;
  Encode(argument: _inference_mesh_tokenizer_v1_EncodeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_inference_mesh_tokenizer_v1_EncodeResponse__Output>): grpc.ClientUnaryCall;
  Encode(argument: _inference_mesh_tokenizer_v1_EncodeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_inference_mesh_tokenizer_v1_EncodeResponse__Output>): grpc.ClientUnaryCall;
  Encode(argument: _inference_mesh_tokenizer_v1_EncodeRequest, callback: grpc.requestCallback<_inference_mesh_tokenizer_v1_EncodeResponse__Output>): grpc.ClientUnaryCall;
  encode(argument: _inference_mesh_tokenizer_v1_EncodeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_inference_mesh_tokenizer_v1_EncodeResponse__Output>): grpc.ClientUnaryCall;
  encode(argument: _inference_mesh_tokenizer_v1_EncodeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_inference_mesh_tokenizer_v1_EncodeResponse__Output>): grpc.ClientUnaryCall;
  encode(argument: _inference_mesh_tokenizer_v1_EncodeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_inference_mesh_tokenizer_v1_EncodeResponse__Output>): grpc.ClientUnaryCall;
  encode(argument: _inference_mesh_tokenizer_v1_EncodeRequest, callback: grpc.requestCallback<_inference_mesh_tokenizer_v1_EncodeResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface TokenizerServiceHandlers extends grpc.UntypedServiceImplementation {
  Encode: grpc.handleUnaryCall<_inference_mesh_tokenizer_v1_EncodeRequest__Output, _inference_mesh_tokenizer_v1_EncodeResponse>;
  
}

export interface TokenizerServiceDefinition extends grpc.ServiceDefinition {
  Encode: MethodDefinition<_inference_mesh_tokenizer_v1_EncodeRequest, _inference_mesh_tokenizer_v1_EncodeResponse, _inference_mesh_tokenizer_v1_EncodeRequest__Output, _inference_mesh_tokenizer_v1_EncodeResponse__Output>
}

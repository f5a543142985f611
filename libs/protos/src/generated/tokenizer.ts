import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { EncodeRequest as _inference_mesh_tokenizer_v1_EncodeRequest, EncodeRequest__Output as _inference_mesh_tokenizer_v1_EncodeRequest__Output } from './inference_mesh/tokenizer/v1/EncodeRequest';
import type { EncodeResponse as _inference_mesh_tokenizer_v1_EncodeResponse, EncodeResponse__Output as _inference_mesh_tokenizer_v1_EncodeResponse__Output } from './inference_mesh/tokenizer/v1/EncodeResponse';
import type { TokenizerServiceClient as _inference_mesh_tokenizer_v1_TokenizerServiceClient, TokenizerServiceDefinition as _inference_mesh_tokenizer_v1_TokenizerServiceDefinition } from './inference_mesh/tokenizer/v1/TokenizerService';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  inference_mesh: {
    tokenizer: {
      v1: {
        EncodeRequest: MessageTypeDefinition<_inference_mesh_tokenizer_v1_EncodeRequest, _inference_mesh_tokenizer_v1_EncodeRequest__Output>
        EncodeResponse: MessageTypeDefinition<_inference_mesh_tokenizer_v1_EncodeResponse, _inference_mesh_tokenizer_v1_EncodeResponse__Output>
        TokenizerService: SubtypeConstructor<typeof grpc.Client, _inference_mesh_tokenizer_v1_TokenizerServiceClient> & { service: _inference_mesh_tokenizer_v1_TokenizerServiceDefinition }
      }
    }
  }
}


import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { LabelScore as _inference_mesh_postprocess_v1_LabelScore, LabelScore__Output as _inference_mesh_postprocess_v1_LabelScore__Output } from './inference_mesh/postprocess/v1/LabelScore';
import type { PostprocessRequest as _inference_mesh_postprocess_v1_PostprocessRequest, PostprocessRequest__Output as _inference_mesh_postprocess_v1_PostprocessRequest__Output } from './inference_mesh/postprocess/v1/PostprocessRequest';
import type { PostprocessResponse as _inference_mesh_postprocess_v1_PostprocessResponse, PostprocessResponse__Output as _inference_mesh_postprocess_v1_PostprocessResponse__Output } from './inference_mesh/postprocess/v1/PostprocessResponse';
import type { PostprocessServiceClient as _inference_mesh_postprocess_v1_PostprocessServiceClient, PostprocessServiceDefinition as _inference_mesh_postprocess_v1_PostprocessServiceDefinition } from './inference_mesh/postprocess/v1/PostprocessService';
import type { Prediction as _inference_mesh_postprocess_v1_Prediction, Prediction__Output as _inference_mesh_postprocess_v1_Prediction__Output } from './inference_mesh/postprocess/v1/Prediction';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  inference_mesh: {
    postprocess: {
      v1: {
        LabelScore: MessageTypeDefinition<_inference_mesh_postprocess_v1_LabelScore, _inference_mesh_postprocess_v1_LabelScore__Output>
        PostprocessRequest: MessageTypeDefinition<_inference_mesh_postprocess_v1_PostprocessRequest, _inference_mesh_postprocess_v1_PostprocessRequest__Output>
        PostprocessResponse: MessageTypeDefinition<_inference_mesh_postprocess_v1_PostprocessResponse, _inference_mesh_postprocess_v1_PostprocessResponse__Output>
        PostprocessService: SubtypeConstructor<typeof grpc.Client, _inference_mesh_postprocess_v1_PostprocessServiceClient> & { service: _inference_mesh_postprocess_v1_PostprocessServiceDefinition }
        Prediction: MessageTypeDefinition<_inference_mesh_postprocess_v1_Prediction, _inference_mesh_postprocess_v1_Prediction__Output>
      }
    }
  }
}


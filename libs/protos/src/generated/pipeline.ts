import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { ClassifyOptions as _inference_mesh_pipeline_v1_ClassifyOptions, ClassifyOptions__Output as _inference_mesh_pipeline_v1_ClassifyOptions__Output } from './inference_mesh/pipeline/v1/ClassifyOptions';
import type { ClassifyRequest as _inference_mesh_pipeline_v1_ClassifyRequest, ClassifyRequest__Output as _inference_mesh_pipeline_v1_ClassifyRequest__Output } from './inference_mesh/pipeline/v1/ClassifyRequest';
import type { ClassifyResponse as _inference_mesh_pipeline_v1_ClassifyResponse, ClassifyResponse__Output as _inference_mesh_pipeline_v1_ClassifyResponse__Output } from './inference_mesh/pipeline/v1/ClassifyResponse';
import type { ClassifyResult as _inference_mesh_pipeline_v1_ClassifyResult, ClassifyResult__Output as _inference_mesh_pipeline_v1_ClassifyResult__Output } from './inference_mesh/pipeline/v1/ClassifyResult';
import type { HopTiming as _inference_mesh_pipeline_v1_HopTiming, HopTiming__Output as _inference_mesh_pipeline_v1_HopTiming__Output } from './inference_mesh/pipeline/v1/HopTiming';
import type { LabelScore as _inference_mesh_pipeline_v1_LabelScore, LabelScore__Output as _inference_mesh_pipeline_v1_LabelScore__Output } from './inference_mesh/pipeline/v1/LabelScore';
import type { PipelineServiceClient as _inference_mesh_pipeline_v1_PipelineServiceClient, PipelineServiceDefinition as _inference_mesh_pipeline_v1_PipelineServiceDefinition } from './inference_mesh/pipeline/v1/PipelineService';
import type { RequestError as _inference_mesh_pipeline_v1_RequestError, RequestError__Output as _inference_mesh_pipeline_v1_RequestError__Output } from './inference_mesh/pipeline/v1/RequestError';
import type { RequestTiming as _inference_mesh_pipeline_v1_RequestTiming, RequestTiming__Output as _inference_mesh_pipeline_v1_RequestTiming__Output } from './inference_mesh/pipeline/v1/RequestTiming';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  inference_mesh: {
    pipeline: {
      v1: {
        ClassifyOptions: MessageTypeDefinition<_inference_mesh_pipeline_v1_ClassifyOptions, _inference_mesh_pipeline_v1_ClassifyOptions__Output>
        ClassifyRequest: MessageTypeDefinition<_inference_mesh_pipeline_v1_ClassifyRequest, _inference_mesh_pipeline_v1_ClassifyRequest__Output>
        ClassifyResponse: MessageTypeDefinition<_inference_mesh_pipeline_v1_ClassifyResponse, _inference_mesh_pipeline_v1_ClassifyResponse__Output>
        ClassifyResult: MessageTypeDefinition<_inference_mesh_pipeline_v1_ClassifyResult, _inference_mesh_pipeline_v1_ClassifyResult__Output>
        HopTiming: MessageTypeDefinition<_inference_mesh_pipeline_v1_HopTiming, _inference_mesh_pipeline_v1_HopTiming__Output>
        LabelScore: MessageTypeDefinition<_inference_mesh_pipeline_v1_LabelScore, _inference_mesh_pipeline_v1_LabelScore__Output>
        PipelineService: SubtypeConstructor<typeof grpc.Client, _inference_mesh_pipeline_v1_PipelineServiceClient> & { service: _inference_mesh_pipeline_v1_PipelineServiceDefinition }
        RequestError: MessageTypeDefinition<_inference_mesh_pipeline_v1_RequestError, _inference_mesh_pipeline_v1_RequestError__Output>
        RequestTiming: MessageTypeDefinition<_inference_mesh_pipeline_v1_RequestTiming, _inference_mesh_pipeline_v1_RequestTiming__Output>
      }
    }
  }
}


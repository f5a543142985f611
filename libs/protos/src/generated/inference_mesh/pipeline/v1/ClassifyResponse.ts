// Original file: /work/main/protos/inference_mesh/pipeline/v1/pipeline.proto

import type { ClassifyResult as _inference_mesh_pipeline_v1_ClassifyResult, ClassifyResult__Output as _inference_mesh_pipeline_v1_ClassifyResult__Output } from '../../../inference_mesh/pipeline/v1/ClassifyResult';

export interface ClassifyResponse {
  /**
   * The request's id (generated when the request had none); on a stream this
   * ties each response to the request it answers.
   */
  'requestId'?: (string);
  /**
   * One per text, in the order of ClassifyRequest.texts.
   */
  'results'?: (_inference_mesh_pipeline_v1_ClassifyResult)[];
}

export interface ClassifyResponse__Output {
  /**
   * The request's id (generated when the request had none); on a stream this
   * ties each response to the request it answers.
   */
  'requestId': (string);
  /**
   * One per text, in the order of ClassifyRequest.texts.
   */
  'results': (_inference_mesh_pipeline_v1_ClassifyResult__Output)[];
}

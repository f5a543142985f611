// Original file: protos/inference_mesh/pipeline/v1/pipeline.proto

import type { ClassifyResult as _inference_mesh_pipeline_v1_ClassifyResult, ClassifyResult__Output as _inference_mesh_pipeline_v1_ClassifyResult__Output } from '../../../inference_mesh/pipeline/v1/ClassifyResult';
import type { RequestError as _inference_mesh_pipeline_v1_RequestError, RequestError__Output as _inference_mesh_pipeline_v1_RequestError__Output } from '../../../inference_mesh/pipeline/v1/RequestError';
import type { RequestTiming as _inference_mesh_pipeline_v1_RequestTiming, RequestTiming__Output as _inference_mesh_pipeline_v1_RequestTiming__Output } from '../../../inference_mesh/pipeline/v1/RequestTiming';

export interface ClassifyResponse {
  /**
   * The request's id (generated when the request had none); on a stream this
   * ties each response to the request it answers.
   */
  'requestId'?: (string);
  /**
   * One per text, in the order of ClassifyRequest.texts. Empty when error is set.
   */
  'results'?: (_inference_mesh_pipeline_v1_ClassifyResult)[];
  /**
   * Set only on ClassifyStream, when this one request failed: the stream and the
   * other requests on it carry on. A unary Classify fails with a gRPC status instead.
   */
  'error'?: (_inference_mesh_pipeline_v1_RequestError | null);
  /**
   * Where this request's time went. Set on ClassifyStream answers; a unary Classify
   * carries the same breakdown in its `imesh-timing` trailer instead.
   */
  'timing'?: (_inference_mesh_pipeline_v1_RequestTiming | null);
}

export interface ClassifyResponse__Output {
  /**
   * The request's id (generated when the request had none); on a stream this
   * ties each response to the request it answers.
   */
  'requestId': (string);
  /**
   * One per text, in the order of ClassifyRequest.texts. Empty when error is set.
   */
  'results': (_inference_mesh_pipeline_v1_ClassifyResult__Output)[];
  /**
   * Set only on ClassifyStream, when this one request failed: the stream and the
   * other requests on it carry on. A unary Classify fails with a gRPC status instead.
   */
  'error': (_inference_mesh_pipeline_v1_RequestError__Output | null);
  /**
   * Where this request's time went. Set on ClassifyStream answers; a unary Classify
   * carries the same breakdown in its `imesh-timing` trailer instead.
   */
  'timing': (_inference_mesh_pipeline_v1_RequestTiming__Output | null);
}

// Original file: protos/inference_mesh/pipeline/v1/pipeline.proto

import type { ClassifyOptions as _inference_mesh_pipeline_v1_ClassifyOptions, ClassifyOptions__Output as _inference_mesh_pipeline_v1_ClassifyOptions__Output } from '../../../inference_mesh/pipeline/v1/ClassifyOptions';

export interface ClassifyRequest {
  /**
   * Empty: the server generates one and returns it in the response.
   */
  'requestId'?: (string);
  /**
   * UTF-8 text, one per item. bytes, not string: protobufjs silently replaces
   * invalid UTF-8 in strings, and the server must reject it as INVALID_ARGUMENT.
   */
  'texts'?: (Buffer | Uint8Array | string)[];
  'options'?: (_inference_mesh_pipeline_v1_ClassifyOptions | null);
}

export interface ClassifyRequest__Output {
  /**
   * Empty: the server generates one and returns it in the response.
   */
  'requestId': (string);
  /**
   * UTF-8 text, one per item. bytes, not string: protobufjs silently replaces
   * invalid UTF-8 in strings, and the server must reject it as INVALID_ARGUMENT.
   */
  'texts': (Buffer)[];
  'options': (_inference_mesh_pipeline_v1_ClassifyOptions__Output | null);
}

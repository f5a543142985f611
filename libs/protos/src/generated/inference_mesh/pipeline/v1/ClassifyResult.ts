// Original file: protos/inference_mesh/pipeline/v1/pipeline.proto

import type { LabelScore as _inference_mesh_pipeline_v1_LabelScore, LabelScore__Output as _inference_mesh_pipeline_v1_LabelScore__Output } from '../../../inference_mesh/pipeline/v1/LabelScore';

export interface ClassifyResult {
  /**
   * The best label and its probability.
   */
  'label'?: (string);
  'score'?: (number | string);
  /**
   * Sorted by score descending, cut to top_k.
   */
  'scores'?: (_inference_mesh_pipeline_v1_LabelScore)[];
  'modelName'?: (string);
  /**
   * The version that actually served this text.
   */
  'modelVersion'?: (string);
  /**
   * The text was cut to the model's maximum sequence length.
   */
  'truncated'?: (boolean);
  /**
   * Served by a fallback version because the chosen one was unavailable.
   */
  'degraded'?: (boolean);
}

export interface ClassifyResult__Output {
  /**
   * The best label and its probability.
   */
  'label': (string);
  'score': (number);
  /**
   * Sorted by score descending, cut to top_k.
   */
  'scores': (_inference_mesh_pipeline_v1_LabelScore__Output)[];
  'modelName': (string);
  /**
   * The version that actually served this text.
   */
  'modelVersion': (string);
  /**
   * The text was cut to the model's maximum sequence length.
   */
  'truncated': (boolean);
  /**
   * Served by a fallback version because the chosen one was unavailable.
   */
  'degraded': (boolean);
}

// Original file: protos/inference_mesh/postprocess/v1/postprocess.proto

import type { LabelScore as _inference_mesh_postprocess_v1_LabelScore, LabelScore__Output as _inference_mesh_postprocess_v1_LabelScore__Output } from '../../../inference_mesh/postprocess/v1/LabelScore';

export interface Prediction {
  /**
   * The best label and its probability.
   */
  'label'?: (string);
  'score'?: (number | string);
  /**
   * Sorted by score descending, cut to top_k.
   */
  'scores'?: (_inference_mesh_postprocess_v1_LabelScore)[];
}

export interface Prediction__Output {
  /**
   * The best label and its probability.
   */
  'label': (string);
  'score': (number);
  /**
   * Sorted by score descending, cut to top_k.
   */
  'scores': (_inference_mesh_postprocess_v1_LabelScore__Output)[];
}

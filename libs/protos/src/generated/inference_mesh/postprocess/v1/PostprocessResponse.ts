// Original file: protos/inference_mesh/postprocess/v1/postprocess.proto

import type { Prediction as _inference_mesh_postprocess_v1_Prediction, Prediction__Output as _inference_mesh_postprocess_v1_Prediction__Output } from '../../../inference_mesh/postprocess/v1/Prediction';

export interface PostprocessResponse {
  /**
   * One per row, in row order.
   */
  'predictions'?: (_inference_mesh_postprocess_v1_Prediction)[];
}

export interface PostprocessResponse__Output {
  /**
   * One per row, in row order.
   */
  'predictions': (_inference_mesh_postprocess_v1_Prediction__Output)[];
}

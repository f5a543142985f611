// Original file: protos/inference_mesh/postprocess/v1/postprocess.proto


export interface PostprocessRequest {
  /**
   * Selects the label set.
   */
  'modelName'?: (string);
  'modelVersion'?: (string);
  'rows'?: (number);
  'numLabels'?: (number);
  /**
   * FP32 little-endian, row-major [rows, num_labels], as the model's
   * raw_output_contents carries it, so the gateway forwards it untouched.
   */
  'logits'?: (Buffer | Uint8Array | string);
  /**
   * Length of Prediction.scores. 0: every label.
   */
  'topK'?: (number);
}

export interface PostprocessRequest__Output {
  /**
   * Selects the label set.
   */
  'modelName': (string);
  'modelVersion': (string);
  'rows': (number);
  'numLabels': (number);
  /**
   * FP32 little-endian, row-major [rows, num_labels], as the model's
   * raw_output_contents carries it, so the gateway forwards it untouched.
   */
  'logits': (Buffer);
  /**
   * Length of Prediction.scores. 0: every label.
   */
  'topK': (number);
}

// Original file: protos/inference_mesh/pipeline/v1/pipeline.proto


export interface ClassifyOptions {
  /**
   * Empty: the server's default model.
   */
  'modelName'?: (string);
  /**
   * Pins a version. Empty: the server chooses.
   */
  'modelVersion'?: (string);
  /**
   * Length of ClassifyResult.scores. 0: every label.
   */
  'topK'?: (number);
}

export interface ClassifyOptions__Output {
  /**
   * Empty: the server's default model.
   */
  'modelName': (string);
  /**
   * Pins a version. Empty: the server chooses.
   */
  'modelVersion': (string);
  /**
   * Length of ClassifyResult.scores. 0: every label.
   */
  'topK': (number);
}

// Original file: protos/inference_mesh/pipeline/v1/pipeline.proto


export interface LabelScore {
  'label'?: (string);
  'score'?: (number | string);
}

export interface LabelScore__Output {
  'label': (string);
  'score': (number);
}

// Original file: protos/inference_mesh/postprocess/v1/postprocess.proto


export interface LabelScore {
  'label'?: (string);
  'score'?: (number | string);
}

export interface LabelScore__Output {
  'label': (string);
  'score': (number);
}

// Original file: protos/inference_mesh/pipeline/v1/pipeline.proto


export interface RequestError {
  /**
   * A google.rpc.Code value, as the status of a unary call would carry it.
   */
  'code'?: (number);
  'message'?: (string);
}

export interface RequestError__Output {
  /**
   * A google.rpc.Code value, as the status of a unary call would carry it.
   */
  'code': (number);
  'message': (string);
}

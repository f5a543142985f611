// Original file: protos/inference/grpc_service.proto


export interface ModelReadyRequest {
  'name'?: (string);
  /**
   * Empty: the server picks a version by its version policy.
   */
  'version'?: (string);
}

export interface ModelReadyRequest__Output {
  'name': (string);
  /**
   * Empty: the server picks a version by its version policy.
   */
  'version': (string);
}

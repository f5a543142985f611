// Original file: protos/inference_mesh/pipeline/v1/pipeline.proto


/**
 * One internal call, in milliseconds.
 */
export interface HopTiming {
  /**
   * Observed by the gateway, from sending the request to the decoded answer.
   */
  'clientMs'?: (number | string);
  /**
   * Reported by the service (its imesh-server-ms trailer).
   */
  'serverMs'?: (number | string);
}

/**
 * One internal call, in milliseconds.
 */
export interface HopTiming__Output {
  /**
   * Observed by the gateway, from sending the request to the decoded answer.
   */
  'clientMs': (number);
  /**
   * Reported by the service (its imesh-server-ms trailer).
   */
  'serverMs': (number);
}

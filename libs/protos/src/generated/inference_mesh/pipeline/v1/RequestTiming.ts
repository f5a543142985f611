// Original file: protos/inference_mesh/pipeline/v1/pipeline.proto

import type { HopTiming as _inference_mesh_pipeline_v1_HopTiming, HopTiming__Output as _inference_mesh_pipeline_v1_HopTiming__Output } from '../../../inference_mesh/pipeline/v1/HopTiming';

/**
 * Where one request's time went, in milliseconds, each part measured by the process
 * that spent it (no clocks are compared across processes). A hop's client_ms is what
 * the gateway observed of the attempt that answered (encoding, network, the service,
 * decoding); its server_ms is what the service reported of its own handler; the
 * difference is what the hop itself costs. Requests merged into one call share that
 * call's hop times. The parts add up to at most total_ms; the rest is the gateway's
 * own work between them (and any retries).
 */
export interface RequestTiming {
  /**
   * The gateway's whole handling of the request.
   */
  'totalMs'?: (number | string);
  /**
   * From the request's arrival to its pipeline starting: the in-flight limit, the
   * fallback wrapper, the input check.
   */
  'admissionMs'?: (number | string);
  /**
   * Waiting for a free slot to be merged into (IMESH_GATEWAY_BATCHING); 0 when the
   * request went at once or merging is off.
   */
  'coalesceMs'?: (number | string);
  'tokenizer'?: (_inference_mesh_pipeline_v1_HopTiming | null);
  'model'?: (_inference_mesh_pipeline_v1_HopTiming | null);
  'postprocess'?: (_inference_mesh_pipeline_v1_HopTiming | null);
  /**
   * The model service's split of its own time: this request's wait in the dynamic
   * batcher's queue, and its batch's ONNX Runtime compute.
   */
  'modelQueueMs'?: (number | string);
  'modelComputeMs'?: (number | string);
}

/**
 * Where one request's time went, in milliseconds, each part measured by the process
 * that spent it (no clocks are compared across processes). A hop's client_ms is what
 * the gateway observed of the attempt that answered (encoding, network, the service,
 * decoding); its server_ms is what the service reported of its own handler; the
 * difference is what the hop itself costs. Requests merged into one call share that
 * call's hop times. The parts add up to at most total_ms; the rest is the gateway's
 * own work between them (and any retries).
 */
export interface RequestTiming__Output {
  /**
   * The gateway's whole handling of the request.
   */
  'totalMs': (number);
  /**
   * From the request's arrival to its pipeline starting: the in-flight limit, the
   * fallback wrapper, the input check.
   */
  'admissionMs': (number);
  /**
   * Waiting for a free slot to be merged into (IMESH_GATEWAY_BATCHING); 0 when the
   * request went at once or merging is off.
   */
  'coalesceMs': (number);
  'tokenizer': (_inference_mesh_pipeline_v1_HopTiming__Output | null);
  'model': (_inference_mesh_pipeline_v1_HopTiming__Output | null);
  'postprocess': (_inference_mesh_pipeline_v1_HopTiming__Output | null);
  /**
   * The model service's split of its own time: this request's wait in the dynamic
   * batcher's queue, and its batch's ONNX Runtime compute.
   */
  'modelQueueMs': (number);
  'modelComputeMs': (number);
}

import type { Tensor } from 'onnxruntime-node';
import type { TensorSpec } from './tensors/datatypes';
import type { ProviderChoice } from './ort/session';

/**
 * Runs one batch through one model version. The seam where a dynamic batcher plugs in: callers only hand over
 * feeds and wanted outputs, and an AbortSignal.
 */
export interface ModelRunner {
  /**
   * Rejects with the signal's reason, without running, when the signal has already aborted; once handed to ONNX
   * Runtime a run cannot be stopped. The feeds are handed over: a runner may take their memory (the worker runner
   * transfers every ArrayBuffer a feed spans whole to its thread, leaving the caller's typed array detached and
   * empty), so callers pass tensors built for this run and do not read or reuse them afterwards. Views into larger
   * buffers (slices of a gRPC message) are copied instead and stay intact.
   */
  run(feeds: Readonly<Record<string, Tensor>>, outputNames: readonly string[], signal: AbortSignal): Promise<RunResult>;
  /** Frees the session; idempotent. Runs already submitted finish first; later ones fail. */
  release(): Promise<void>;
}

/** A run's outputs, and how long ONNX Runtime itself took (not the time the run waited behind others). */
export interface RunResult {
  readonly outputs: Record<string, Tensor>;
  readonly computeMs: number;
}

/** A model file loaded: its runner and its signature as KServe metadata describes it. */
export interface LoadedModel {
  readonly runner: ModelRunner;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** The execution provider that serves it, when the loader knows (ONNX Runtime loaders do). */
  readonly executionProvider?: ProviderChoice;
}

/** Loads one model.onnx; the registry takes one so that tests and other execution providers can swap it. */
export type ModelLoader = (modelPath: string) => Promise<LoadedModel>;

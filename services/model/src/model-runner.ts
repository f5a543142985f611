import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { datatypeOfOrtType, type TensorSpec } from './datatypes';
import type { ExecutionConfig } from './execution-config';
import { createOrtSession, type ProviderChoice } from './ort-session';

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
  run(feeds: Readonly<Record<string, Tensor>>, outputNames: readonly string[], signal: AbortSignal): Promise<Record<string, Tensor>>;
  /** Frees the session; idempotent. Runs already submitted finish first; later ones fail. */
  release(): Promise<void>;
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

/**
 * A loader and the resources behind it, as `startOrtLoader` (ort-loader.ts) hands it out: with the default
 * worker, one thread that owns every session of the process.
 */
export interface OrtLoaderHandle {
  /** `worker`: sessions live in the ONNX Runtime worker thread; `main-thread`: in this thread (IMESH_MODEL_WORKER=off). */
  readonly mode: 'worker' | 'main-thread';
  readonly loadModel: ModelLoader;
  /**
   * Called once if the worker thread dies unexpectedly (an uncaught error in it, or it exits): every pending run
   * has been rejected with UNAVAILABLE and every later run fails at once, so the service should report NOT_SERVING.
   * Called on the next tick for a worker that has already died. Not called for `close()`. Returns an unsubscribe.
   */
  onWorkerExit(listener: (error: Error) => void): () => void;
  /** Ends the worker: pending runs are rejected (UNAVAILABLE). Release the registry first. Idempotent. */
  close(): Promise<void>;
}

/**
 * Loads models into onnxruntime-node sessions on the calling (main) thread, the execution provider chosen as
 * `createOrtSession` does. Each run blocks the event loop while it computes; the worker loader does not.
 */
export function ortInThreadLoader(execution: ExecutionConfig): ModelLoader {
  return async (modelPath) => {
    const { session, choice } = await createOrtSession(modelPath, execution);
    try {
      const inputs = tensorSpecsOf('input', session.inputMetadata);
      const outputs = tensorSpecsOf('output', session.outputMetadata);
      return { runner: new OrtSessionRunner(session), inputs, outputs, executionProvider: choice };
    } catch (error) {
      await session.release();
      throw error;
    }
  };
}

/**
 * ONNX Runtime's value metadata as KServe tensor metadata: datatypes such as INT64 and FP32, symbolic or unknown
 * dimensions as -1. Throws for values this server cannot move (sequences, maps, strings), so that such a model
 * is marked unavailable when it loads rather than failing on every request.
 */
export function tensorSpecsOf(kind: 'input' | 'output', metadata: readonly InferenceSession.ValueMetadata[]): TensorSpec[] {
  return metadata.map((value) => {
    if (!value.isTensor) throw new Error(`${kind} ${value.name} is not a tensor, which this server cannot serve`);
    const datatype = datatypeOfOrtType(value.type);
    if (!datatype) throw new Error(`${kind} ${value.name} has type ${value.type}, which this server cannot serve yet`);
    const shape = value.shape.map((dim) => (typeof dim === 'number' && dim >= 0 ? dim : -1));
    return { name: value.name, datatype, shape };
  });
}

class OrtSessionRunner implements ModelRunner {
  private released = false;
  /** The latest run submitted: runs execute in submission order, so once it settles none is pending. */
  private lastRun: Promise<unknown> = Promise.resolve();

  constructor(private readonly session: InferenceSession) {}

  async run(
    feeds: Readonly<Record<string, Tensor>>,
    outputNames: readonly string[],
    signal: AbortSignal,
  ): Promise<Record<string, Tensor>> {
    signal.throwIfAborted();
    if (this.released) throw new Error('the model session was released');
    // onnxruntime-node runs the session synchronously on the next turn of the event loop; nothing can stop a
    // run once started, so the check above is the last chance to skip an abandoned request.
    const running = this.session.run(feeds as InferenceSession.FeedsType, outputNames as string[]);
    this.lastRun = running.catch(() => undefined);
    return (await running) as Record<string, Tensor>;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    // A run is deferred by a setImmediate inside onnxruntime-node: disposing before it happens would free the
    // session under it.
    await this.lastRun;
    await this.session.release();
  }
}

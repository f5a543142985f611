import { InferenceSession, type Tensor } from 'onnxruntime-node';
import { datatypeOfOrtType, type TensorSpec } from './datatypes';

/**
 * Runs one batch through one model version. The seam where a dynamic batcher or another execution provider
 * (CUDA) plugs in later: callers only hand over feeds and wanted outputs, and an AbortSignal.
 */
export interface ModelRunner {
  /** Rejects with the signal's reason, without running, when the signal has already aborted. */
  run(feeds: Readonly<Record<string, Tensor>>, outputNames: readonly string[], signal: AbortSignal): Promise<Record<string, Tensor>>;
  /** Frees the session; idempotent. */
  release(): Promise<void>;
}

/** A model file loaded: its runner and its signature as KServe metadata describes it. */
export interface LoadedModel {
  readonly runner: ModelRunner;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

/** Loads one model.onnx; the registry takes one so that tests and other execution providers can swap it. */
export type ModelLoader = (modelPath: string) => Promise<LoadedModel>;

export interface OrtCpuOptions {
  /** Threads inside one operator; 0 lets ONNX Runtime choose (one per physical core). */
  readonly intraOpThreads: number;
}

/** Loads models into onnxruntime-node sessions on the CPU execution provider. */
export function ortCpuLoader(options: OrtCpuOptions): ModelLoader {
  return async (modelPath) => {
    const session = await InferenceSession.create(modelPath, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      interOpNumThreads: 1,
      ...(options.intraOpThreads > 0 && { intraOpNumThreads: options.intraOpThreads }),
    });
    try {
      const inputs = tensorSpecsOf('input', session.inputMetadata);
      const outputs = tensorSpecsOf('output', session.outputMetadata);
      return { runner: new OrtSessionRunner(session), inputs, outputs };
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
    const results = await this.session.run(feeds as InferenceSession.FeedsType, outputNames as string[]);
    return results as Record<string, Tensor>;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }
}

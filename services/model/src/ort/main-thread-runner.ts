import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { ModelLoader, ModelRunner, RunResult } from '../model-runner';
import type { ExecutionConfig } from './execution-config';
import { createOrtSession, tensorSpecsOf } from './session';

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

class OrtSessionRunner implements ModelRunner {
  private released = false;
  /** The latest run submitted: runs execute in submission order, so once it settles none is pending. */
  private lastRun: Promise<unknown> = Promise.resolve();

  constructor(private readonly session: InferenceSession) {}

  async run(
    feeds: Readonly<Record<string, Tensor>>,
    outputNames: readonly string[],
    signal: AbortSignal,
  ): Promise<RunResult> {
    signal.throwIfAborted();
    if (this.released) throw new Error('the model session was released');
    // onnxruntime-node runs the session synchronously on the next turn of the event loop; nothing can stop a
    // run once started, so the check above is the last chance to skip an abandoned request. Each run starts once
    // the one before it has settled, so that its time is its own and not the previous run's too.
    const running = this.lastRun.then(async () => {
      const started = performance.now();
      const outputs = (await this.session.run(feeds as InferenceSession.FeedsType, outputNames as string[])) as Record<string, Tensor>;
      return { outputs, computeMs: performance.now() - started };
    });
    this.lastRun = running.catch(() => undefined);
    return running;
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

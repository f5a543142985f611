import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { unavailable, type Logger } from '@inference-mesh/service-kit';
import type { Tensor } from 'onnxruntime-node';
import type { ExecutionConfig } from './execution-config';
import type { LoadedModel, ModelRunner, RunResult } from '../model-runner';
import type { OrtLoaderHandle } from './loader';
import { tensorSpecsOf } from './session';
import { fromWire, fromWireError, toWire, type WorkerReply, type WorkerRequest } from './wire';

export interface OrtWorkerClientOptions {
  readonly execution: ExecutionConfig;
  readonly logger: Logger;
  /** The worker script; tests swap it. Defaults to the compiled worker-thread.js beside this file. */
  readonly workerPath?: string;
}

/** What the worker has done so far: for metrics and for checking that batches overlap with the main thread. */
export interface OrtWorkerStats {
  /** Runs completed. */
  readonly runs: number;
  /** Time the worker spent inside ONNX Runtime's run, summed, in milliseconds. */
  readonly computeMs: number;
  /** Requests (loads, runs, releases) posted and not yet answered. */
  readonly pending: number;
}

type Reply<K extends WorkerReply['kind']> = Extract<WorkerReply, { kind: K }>;

interface Pending {
  readonly resolve: (reply: WorkerReply) => void;
  readonly reject: (error: Error) => void;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A request before the client numbers it. */
type RequestBody = DistributiveOmit<WorkerRequest, 'id'>;

/**
 * How long close() lets the runs the worker already has finish before it terminates the thread regardless: the
 * model service's share of the release allowance that follows the drain at shutdown (service-kit's
 * RELEASE_ALLOWANCE_MS, which tests/src/deploy-manifests.test.ts adds up against terminationGracePeriodSeconds). A
 * run still computing then is cut off with the thread, which aborts the process (SIGABRT, as any exit would under a
 * running ONNX Runtime call): the calls it computed for were cancelled by the drain already.
 */
export const WORKER_CLOSE_WAIT_MS = 3_000;

/**
 * One worker_threads Worker that owns every ONNX Runtime session of the process (all models, all versions); the
 * main thread keeps metadata and `ModelRunner` proxies. Requests are posted as they come and the worker serves them
 * in order, so a batcher can submit batch N+1 while batch N computes. Feeds and outputs move as transferred
 * ArrayBuffers, not copies (see `toWire`).
 *
 * If the worker dies (an uncaught error, an exit), every pending request is rejected with UNAVAILABLE, the failure
 * is logged, later requests fail at once, and `onWorkerExit` listeners are told: the process cannot serve any more
 * and should report NOT_SERVING until it is restarted. A crash inside native code takes the whole process down
 * regardless: a thread is no process boundary.
 */

export class OrtWorkerClient implements OrtLoaderHandle {
  readonly mode = 'worker';
  private readonly pending = new Map<number, Pending>();
  private readonly exitListeners = new Set<(error: Error) => void>();
  private nextId = 1;
  /** Set once the worker can no longer serve: why requests fail. */
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;
  /** Requests posted to the worker and not answered yet, including those already rejected here by close(). */
  private posted = 0;
  private onWorkerIdle: (() => void) | undefined;
  private runs = 0;
  private computeMs = 0;

  private constructor(
    private readonly worker: Worker,
    private readonly options: OrtWorkerClientOptions,
  ) {
    worker.on('message', (reply: WorkerReply) => this.onReply(reply));
    worker.on('error', (error) => this.fail(`the ONNX Runtime worker thread failed: ${error.message}`, error));
    worker.on('messageerror', (error) => {
      this.fail(`a reply from the ONNX Runtime worker thread could not be read: ${error.message}`, error);
      void worker.terminate();
    });
    worker.on('exit', (code) => {
      this.onWorkerIdle?.();
      this.fail(`the ONNX Runtime worker thread exited with code ${code}`);
    });
    // An idle worker does not keep the process alive; one with requests in flight does.
    worker.unref();
  }

  /** Starts the worker and waits until it has loaded onnxruntime-node. */
  static async start(options: OrtWorkerClientOptions): Promise<OrtWorkerClient> {
    const worker = new Worker(options.workerPath ?? join(__dirname, 'worker-thread.js'));
    await new Promise<void>((resolve, reject) => {
      const onMessage = (reply: WorkerReply) => {
        if (reply.kind !== 'ready') return;
        cleanUp();
        resolve();
      };
      const onError = (error: Error) => {
        cleanUp();
        reject(new Error(`the ONNX Runtime worker thread failed to start: ${error.message}`, { cause: error }));
      };
      const onExit = (code: number) => {
        cleanUp();
        reject(new Error(`the ONNX Runtime worker thread exited with code ${code} while starting`));
      };
      const cleanUp = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
    options.logger.info('ONNX Runtime worker thread started', { threadId: worker.threadId });
    return new OrtWorkerClient(worker, options);
  }

  /** Loads a model file into a session in the worker, with the client's execution configuration. */
  readonly loadModel = async (modelPath: string): Promise<LoadedModel> => {
    const loaded = await this.request<Reply<'loaded'>>({ kind: 'load', modelPath, execution: this.options.execution });
    const runner = new WorkerRunner(this, loaded.sessionId, modelPath);
    try {
      const inputs = tensorSpecsOf('input', loaded.inputMetadata);
      const outputs = tensorSpecsOf('output', loaded.outputMetadata);
      return { runner, inputs, outputs, executionProvider: loaded.choice };
    } catch (error) {
      await runner.release();
      throw error;
    }
  };

  /** Whether the worker can still serve (not crashed, not closed). */
  get alive(): boolean {
    return this.failure === undefined;
  }

  stats(): OrtWorkerStats {
    return { runs: this.runs, computeMs: this.computeMs, pending: this.pending.size };
  }

  onWorkerExit(listener: (error: Error) => void): () => void {
    if (this.failure && !this.closing) {
      const failure = this.failure;
      process.nextTick(() => listener(failure));
      return () => {};
    }
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  /** `waitMs`: how long the runs already posted may take to finish before the thread is terminated under them. */
  close(waitMs = WORKER_CLOSE_WAIT_MS): Promise<void> {
    this.closing ??= (async () => {
      this.exitListeners.clear();
      // A worker that failed is gone or going: nothing of it to wait for.
      const workerFailed = this.failure !== undefined;
      this.settleAll(unavailable('the model service is shutting down: its ONNX Runtime worker was closed'));
      // Terminating the thread while ONNX Runtime still computes a run it was handed tears the addon's environment
      // down under a running native call, which aborts the whole process: let the runs already posted end first.
      if (!workerFailed) await this.untilWorkerIdle(waitMs);
      await this.worker.terminate();
    })();
    return this.closing;
  }

  private untilWorkerIdle(timeoutMs: number): Promise<void> {
    if (this.posted === 0) return Promise.resolve();
    this.worker.ref();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.onWorkerIdle = undefined;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.onWorkerIdle = done;
    });
  }

  /** @internal Runs feeds through a session in the worker; the feeds' whole buffers are transferred. */
  async run(sessionId: number, feeds: Readonly<Record<string, Tensor>>, outputNames: readonly string[]): Promise<RunResult> {
    const { wire, transfer } = toWire(feeds);
    const ran = await this.request<Reply<'ran'>>({ kind: 'run', sessionId, feeds: wire, outputNames: [...outputNames] }, transfer);
    this.runs++;
    this.computeMs += ran.computeMs;
    return { outputs: fromWire(ran.outputs), computeMs: ran.computeMs };
  }

  /** @internal Frees a session in the worker once the requests before it are done; nothing to do if the worker is gone. */
  async releaseSession(sessionId: number): Promise<void> {
    if (this.failure) return;
    try {
      await this.request<Reply<'released'>>({ kind: 'release', sessionId });
    } catch (error) {
      if (this.failure) return; // the worker went away meanwhile, and the session with it
      throw error;
    }
  }

  private request<R extends WorkerReply>(body: RequestBody, transfer: ArrayBuffer[] = []): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (reply: WorkerReply) => void, reject });
      try {
        this.worker.postMessage({ ...body, id } as WorkerRequest, transfer);
      } catch (error) {
        // Not cloneable (DataCloneError): nothing was posted.
        this.pending.delete(id);
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      this.posted++;
      this.worker.ref();
    });
  }

  private onReply(reply: WorkerReply): void {
    if (reply.kind === 'ready') return;
    if (--this.posted === 0) this.onWorkerIdle?.();
    const pending = this.pending.get(reply.id);
    if (!pending) return; // already rejected: the client was closed
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if (reply.kind === 'failed') pending.reject(fromWireError(reply.error));
    else pending.resolve(reply);
  }

  /** The worker is gone or going: reject everything, refuse everything, tell the listeners once. */
  private fail(message: string, cause?: Error): void {
    if (this.closing) {
      this.failure ??= unavailable('the model service is shutting down: its ONNX Runtime worker was closed');
      return;
    }
    if (this.failure) return;
    const error = unavailable(`model runs fail: ${message}; the model service must be restarted`);
    if (cause) (error as { cause?: unknown }).cause = cause;
    this.failure = error;
    const pendingRequests = this.pending.size;
    this.settleAll(error);
    this.options.logger.error('the ONNX Runtime worker thread stopped: every model run fails from now on', {
      reason: message,
      error: cause,
      pendingRequests,
    });
    const listeners = [...this.exitListeners];
    this.exitListeners.clear();
    for (const listener of listeners) {
      try {
        listener(error);
      } catch (listenerError) {
        this.options.logger.error('an onWorkerExit listener threw', { error: listenerError });
      }
    }
    void this.worker.terminate();
  }

  private settleAll(error: Error): void {
    this.failure ??= error;
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.worker.unref();
    for (const p of pending) p.reject(error);
  }
}

/** The main thread's stand-in for a session in the worker. */
class WorkerRunner implements ModelRunner {
  private released = false;

  constructor(
    private readonly client: OrtWorkerClient,
    private readonly sessionId: number,
    private readonly modelPath: string,
  ) {}

  async run(feeds: Readonly<Record<string, Tensor>>, outputNames: readonly string[], signal: AbortSignal): Promise<RunResult> {
    signal.throwIfAborted();
    if (this.released) throw new Error(`the model session was released (${this.modelPath})`);
    // Posted now and queued in the worker behind earlier runs; from here on it cannot be stopped.
    return this.client.run(this.sessionId, feeds, outputNames);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.client.releaseSession(this.sessionId);
  }
}

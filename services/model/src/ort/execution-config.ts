import type { EnvReader } from '@inference-mesh/service-kit';

/**
 * Which execution provider sessions are created on. `auto`: CUDA where it can be had, else the CPU (a warning when
 * CUDA was tried and failed); `cuda`: CUDA or nothing (a version that cannot be created on CUDA fails to load, with
 * ONNX Runtime's reason); `cpu`: the CPU.
 */
export type ExecutionProviderSetting = 'auto' | 'cuda' | 'cpu';
export const EXECUTION_PROVIDER_SETTINGS: readonly ExecutionProviderSetting[] = ['auto', 'cuda', 'cpu'];

/** ONNX Runtime's graph optimization levels, as onnxruntime-node names them. */
export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';
export const GRAPH_OPTIMIZATION_LEVELS: readonly GraphOptimizationLevel[] = ['disabled', 'basic', 'extended', 'all'];

/** How the model service creates and runs ONNX Runtime sessions. Plain data: it is posted to the worker thread. */
export interface ExecutionConfig {
  readonly executionProvider: ExecutionProviderSetting;
  /** CUDA device ordinal, counted within CUDA_VISIBLE_DEVICES (ONNX Runtime honours it). */
  readonly cudaDeviceId: number;
  /**
   * Cap on the CUDA arena in bytes; 0: unlimited. onnxruntime-node 1.30 hands only `deviceId` to the CUDA
   * provider, so a non-zero value is reported as not applied (see `cudaMemoryLimitNote`).
   */
  readonly cudaMemoryLimitBytes: number;
  /** Threads inside one operator; 0 lets ONNX Runtime choose (one per physical core). */
  readonly intraOpThreads: number;
  /** Threads running independent operators at once; only used by the parallel execution mode. */
  readonly interOpThreads: number;
  readonly graphOptimizationLevel: GraphOptimizationLevel;
  /**
   * Run sessions in one worker thread (default), so that the event loop keeps serving gRPC while a batch
   * computes; off runs them on the main thread, as before (a fallback for diagnosis).
   */
  readonly worker: boolean;
  /**
   * ONNX Runtime's intra-op threads busy-wait for work between runs. Off by default: in this service they share
   * the cores with the gRPC thread, and spinning burns CPU the gRPC thread needs.
   */
  readonly allowSpinning: boolean;
}

export const DEFAULT_EXECUTION: ExecutionConfig = {
  executionProvider: 'auto',
  cudaDeviceId: 0,
  cudaMemoryLimitBytes: 0,
  intraOpThreads: 0,
  interOpThreads: 1,
  graphOptimizationLevel: 'all',
  worker: true,
  allowSpinning: false,
};

/**
 * IMESH_MODEL_EXECUTION_PROVIDER (auto|cuda|cpu), IMESH_MODEL_CUDA_DEVICE_ID, IMESH_MODEL_CUDA_MEMORY_LIMIT_BYTES,
 * IMESH_MODEL_INTRA_OP_THREADS, IMESH_MODEL_INTER_OP_THREADS, IMESH_MODEL_GRAPH_OPTIMIZATION
 * (disabled|basic|extended|all) and IMESH_MODEL_WORKER (on|off). Bad values are recorded on the reader, which
 * names each variable when its `done()` throws.
 */
export function readExecutionConfig(env: EnvReader): ExecutionConfig {
  const d = DEFAULT_EXECUTION;
  return {
    executionProvider: env.oneOf('IMESH_MODEL_EXECUTION_PROVIDER', d.executionProvider, EXECUTION_PROVIDER_SETTINGS),
    cudaDeviceId: env.integer('IMESH_MODEL_CUDA_DEVICE_ID', d.cudaDeviceId, { min: 0, max: 1023 }),
    cudaMemoryLimitBytes: env.integer('IMESH_MODEL_CUDA_MEMORY_LIMIT_BYTES', d.cudaMemoryLimitBytes, { min: 0 }),
    intraOpThreads: env.integer('IMESH_MODEL_INTRA_OP_THREADS', d.intraOpThreads, { min: 0, max: 1024 }),
    interOpThreads: env.integer('IMESH_MODEL_INTER_OP_THREADS', d.interOpThreads, { min: 0, max: 1024 }),
    graphOptimizationLevel: env.oneOf('IMESH_MODEL_GRAPH_OPTIMIZATION', d.graphOptimizationLevel, GRAPH_OPTIMIZATION_LEVELS),
    worker: env.boolean('IMESH_MODEL_WORKER', d.worker),
    allowSpinning: env.boolean('IMESH_MODEL_ALLOW_SPINNING', d.allowSpinning),
  };
}

/**
 * Why a CUDA memory limit cannot take effect, or undefined when none is asked for. onnxruntime-node's binding
 * reads only `deviceId` from a `{ name: 'cuda' }` provider entry (js/node/src/session_options_helper.cc), and the
 * CUDA provider has no session-config key for `gpu_mem_limit`.
 */
export function cudaMemoryLimitNote(config: ExecutionConfig): string | undefined {
  if (config.cudaMemoryLimitBytes === 0 || config.executionProvider === 'cpu') return undefined;
  return (
    `IMESH_MODEL_CUDA_MEMORY_LIMIT_BYTES=${config.cudaMemoryLimitBytes} is not applied: onnxruntime-node passes only ` +
    'deviceId to the CUDA execution provider; limit GPU memory per process instead (one model service per GPU, MIG)'
  );
}

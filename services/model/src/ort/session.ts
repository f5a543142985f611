import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { datatypeOfOrtType, type TensorSpec } from '../tensors/datatypes';
import type { ExecutionConfig, ExecutionProviderSetting } from './execution-config';

/** The execution provider a session was created on, what was asked for, and why they differ when they do. */
export interface ProviderChoice {
  readonly provider: 'cuda' | 'cpu';
  readonly requested: ExecutionProviderSetting;
  /** `auto` only (`cuda` never falls back): set when the session runs on the CPU, with why CUDA could not serve. */
  readonly fallbackReason?: string;
  /**
   * With `fallbackReason`: true when creating the session on CUDA was tried and failed (ONNX Runtime's error: no
   * driver, no device, CUDA libraries missing, out of memory), false when this onnxruntime-node has no CUDA
   * provider library at all (a CPU install, which is expected on a machine without a GPU).
   */
  readonly cudaFailed?: boolean;
}

export interface CreatedSession {
  readonly session: InferenceSession;
  readonly choice: ProviderChoice;
}

/** Session options for one execution provider list; the rest follows the configuration. */
export function sessionOptionsFor(
  config: ExecutionConfig,
  executionProviders: InferenceSession.ExecutionProviderConfig[],
): InferenceSession.SessionOptions {
  return {
    executionProviders,
    graphOptimizationLevel: config.graphOptimizationLevel,
    executionMode: 'sequential',
    interOpNumThreads: config.interOpThreads,
    ...(config.intraOpThreads > 0 && { intraOpNumThreads: config.intraOpThreads }),
    extra: { session: { intra_op: { allow_spinning: config.allowSpinning ? '1' : '0' } } },
  };
}

/**
 * A session for `modelPath` on the execution provider the configuration asks for:
 * - `cpu`: the CPU.
 * - `cuda`: `[cuda, cpu]` (nodes CUDA lacks a kernel for fall to the CPU within the session), and nothing else: when
 *   that throws (no driver, no device, CUDA libraries missing, out of memory), or onnxruntime-node has no CUDA
 *   provider library, the load fails with the reason (`CudaUnavailableError`), so that a broken GPU image does not
 *   serve slowly on the CPU while it holds a GPU.
 * - `auto`: as `cuda`, then on the CPU alone when CUDA cannot serve, with the reason in `fallbackReason`.
 * A model that cannot be loaded at all fails with the CPU attempt's error. Where onnxruntime-node was installed
 * without its CUDA provider library (the default install, see the README), CUDA is not even tried: that attempt only
 * makes ONNX Runtime print an error line on stderr for every version.
 */
export async function createOrtSession(
  modelPath: string,
  config: ExecutionConfig,
  options: { readonly probeCudaLibrary?: boolean } = {},
): Promise<CreatedSession> {
  const requested = config.executionProvider;
  if (requested !== 'cpu') {
    const missing = options.probeCudaLibrary === false ? undefined : cudaLibraryMissing();
    const onCuda = missing ?? (await createOnCuda(modelPath, config));
    if (typeof onCuda !== 'string') return { session: onCuda, choice: { provider: 'cuda', requested } };
    if (requested === 'cuda') throw new CudaUnavailableError(onCuda);
    const session = await InferenceSession.create(modelPath, sessionOptionsFor(config, ['cpu']));
    return { session, choice: { provider: 'cpu', requested, fallbackReason: onCuda, cudaFailed: missing === undefined } };
  }
  const session = await InferenceSession.create(modelPath, sessionOptionsFor(config, ['cpu']));
  return { session, choice: { provider: 'cpu', requested } };
}

/** IMESH_MODEL_EXECUTION_PROVIDER=cuda and CUDA cannot serve: the model is not loaded. `reason`: ONNX Runtime's error. */
export class CudaUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(
      `the CUDA execution provider is unavailable, and IMESH_MODEL_EXECUTION_PROVIDER=cuda does not fall back to the ` +
        `CPU (auto would): ${reason}`,
    );
    this.name = 'CudaUnavailableError';
  }
}

/** A session on `[cuda, cpu]`, or why it could not be created. */
async function createOnCuda(modelPath: string, config: ExecutionConfig): Promise<InferenceSession | string> {
  try {
    return await InferenceSession.create(modelPath, sessionOptionsFor(config, [{ name: 'cuda', deviceId: config.cudaDeviceId }, 'cpu']));
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Why CUDA cannot work, when that can be told without trying: on linux/x64 the npm package ships the CUDA provider
 * library only when installed with ONNXRUNTIME_NODE_INSTALL=cuda12 (it lies beside the native binding). Undefined:
 * worth trying (the library is there, or this platform lays files out otherwise).
 */
export function cudaLibraryMissing(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const binDir = join(dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);
  if (!existsSync(join(binDir, 'onnxruntime_binding.node'))) return undefined;
  const library = 'libonnxruntime_providers_cuda.so';
  if (existsSync(join(binDir, library))) return undefined;
  return `onnxruntime-node was installed without CUDA support (no ${library} in ${binDir}; install it with ONNXRUNTIME_NODE_INSTALL=cuda12)`;
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

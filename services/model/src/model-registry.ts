import { resolveBatchingConfig, type BatchingConfig, type BatchingOverrides } from './batching/batching-config';
import { existsSync } from 'node:fs';
import {
  modelFiles,
  noVersionLoaded,
  readModelConfig,
  scanModelRepository,
  tokenizerFingerprint,
  versionFailedToLoad,
  type ModelVersionDir,
} from '@inference-mesh/model-repository';
import { notFound, type Logger } from '@inference-mesh/service-kit';
import { Tensor } from 'onnxruntime-node';
import { elementBytes, elementCount, ortTypeOf, typedArrayOver, type TensorSpec } from './tensors/datatypes';
import type { ModelLoader, ModelRunner } from './model-runner';
import type { ProviderChoice } from './ort/session';
import type { ModelSignature } from './tensors/tensor-codec';
import { readVocabularySize, type ServedTokenizer } from './tokenizer-check';

export type VersionState = 'READY' | 'UNAVAILABLE';

interface VersionBase {
  readonly name: string;
  /** Decimal digits. */
  readonly version: string;
  readonly dir: string;
  /** `<name>/<version>`, as messages name it. */
  readonly label: string;
}

/** A version loaded, warmed up and serving. */
export interface ReadyVersion extends VersionBase, ModelSignature, ServedTokenizer {
  readonly state: 'READY';
  readonly runner: ModelRunner;
  /**
   * Growth of the process's resident memory while this version loaded and warmed up (versions load one at a time,
   * so the growth is theirs; sessions live in the worker thread, which shares the process). An estimate: memory the
   * allocator reuses from earlier frees is not counted. Never negative.
   */
  readonly memoryBytes: number;
  /** The execution provider serving it, when the loader says. */
  readonly executionProvider?: ProviderChoice;
  /** Its dynamic batching: defaults, its serving.json, then the environment. */
  readonly batching: BatchingConfig;
  /** Time loading and warming it up took (the cold start's share of this version). */
  readonly loadMs: number;
  /** Pad id for its `input_ids` when requests of different lengths share a batch (config.json pad_token_id, else 0). */
  readonly padTokenId: number;
}

/** A version found in the repository that failed to load; the others are served regardless. */
export interface UnavailableVersion extends VersionBase {
  readonly state: 'UNAVAILABLE';
  readonly error: string;
}

export type ModelVersion = ReadyVersion | UnavailableVersion;

export interface ModelRegistryOptions {
  readonly repositoryRoot: string;
  readonly loadModel: ModelLoader;
  readonly logger: Logger;
  /**
   * One warm-up run per size (rows) before a version is READY, e.g. the preferred batch sizes of the batcher.
   * Default [1]. Sizes apply to a variable first dimension; a model with a fixed one is warmed up once.
   */
  readonly warmupBatchSizes?: readonly number[];
  /** Environment settings that win over each version's serving.json. */
  readonly batchingOverrides?: BatchingOverrides;
  /** Resident memory of the process in bytes; a seam for tests. Default `process.memoryUsage().rss`. */
  readonly residentMemory?: () => number;
  /** Load only these version numbers (IMESH_MODEL_VERSIONS, one Deployment per version); empty or absent: all. */
  readonly servedVersions?: readonly string[];
}

/**
 * Every model version of a repository (`<root>/<name>/<version>/model.onnx`), each with its own session. A
 * version that fails to load, warm up or describe itself is kept as UNAVAILABLE with the reason, logged, and
 * the others are served.
 */
export class ModelRegistry {
  private readonly byName: ReadonlyMap<string, readonly ModelVersion[]>;

  private constructor(readonly versions: readonly ModelVersion[]) {
    const byName = new Map<string, ModelVersion[]>();
    for (const version of versions) {
      const list = byName.get(version.name) ?? [];
      list.push(version);
      byName.set(version.name, list);
    }
    this.byName = byName;
  }

  static async load(options: ModelRegistryOptions): Promise<ModelRegistry> {
    const versions: ModelVersion[] = [];
    const residentMemory = options.residentMemory ?? (() => process.memoryUsage().rss);
    // One at a time: loads compete for the same cores, the memory each takes is attributable, and the order keeps
    // the log readable.
    for (const found of servedVersionDirs(options)) {
      const label = `${found.name}/${found.version}`;
      const started = Date.now();
      try {
        // A bad serving.json makes the version UNAVAILABLE with the reason, like any other load failure.
        const batching = resolveBatchingConfig(found.dir, options.batchingOverrides ?? {});
        const warmupBatchSizes = normalizeBatchSizes(
          options.warmupBatchSizes ?? (batching.preferredBatchSizes.length > 0 ? batching.preferredBatchSizes : [1]),
        );
        const ready = await loadVersion({ ...found, label }, options.loadModel, warmupBatchSizes, residentMemory, batching);
        logExecutionProvider(options.logger, ready);
        options.logger.info('model version ready', {
          model: found.name,
          version: found.version,
          loadMs: Date.now() - started,
          memoryBytes: ready.memoryBytes,
          executionProvider: ready.executionProvider?.provider,
          warmupBatchSizes,
          inputs: ready.inputs,
          outputs: ready.outputs,
          tokenizerFingerprint: ready.fingerprint,
        });
        versions.push(ready);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        options.logger.error('model version failed to load; serving the others', {
          model: found.name,
          version: found.version,
          dir: found.dir,
          error,
        });
        versions.push({ ...found, label, state: 'UNAVAILABLE', error: message });
      }
    }
    if (versions.length === 0) options.logger.warn('the model repository holds no model', { root: options.repositoryRoot });
    return new ModelRegistry(versions);
  }

  /** Ready for inference: at least one version, and every version found is READY (Triton's strict readiness). */
  get ready(): boolean {
    return this.versions.length > 0 && this.versions.every((v) => v.state === 'READY');
  }

  /** At least one version can serve. */
  get anyReady(): boolean {
    return this.versions.some((v) => v.state === 'READY');
  }

  /** READY versions of a model, in numeric order; NOT_FOUND for an unknown model. */
  readyVersionsOf(name: string): ReadyVersion[] {
    return this.versionsOf(name).filter(isReady);
  }

  /**
   * The version a request means: an explicit version as named, or for an empty one the highest-numbered READY
   * version (Triton's "latest" policy), or the highest-numbered at all when none is READY. NOT_FOUND for an
   * unknown model or version, listing the ones there are.
   */
  find(name: string, version: string): ModelVersion {
    const versions = this.versionsOf(name);
    if (version === '') {
      const latest = versions.filter(isReady).at(-1) ?? versions.at(-1);
      if (!latest) throw notFound(`model ${JSON.stringify(name)} has no versions`);
      return latest;
    }
    const found = versions.find((v) => v.version === version);
    if (!found) {
      throw notFound(
        `model ${JSON.stringify(name)} has no version ${JSON.stringify(version)}; available versions: ${describeVersions(versions)}`,
      );
    }
    return found;
  }

  /**
   * As `find`, then, unless the version is READY, the answer every service gives for a version that failed to
   * load (FAILED_PRECONDITION with the load error, see `versionFailedToLoad`).
   */
  resolveReady(name: string, version: string): ReadyVersion {
    const found = this.find(name, version);
    if (found.state === 'READY') return found;
    if (version === '') {
      // find() falls back to an UNAVAILABLE version only when none is READY.
      throw noVersionLoaded(name, this.versionsOf(name).flatMap((v) => (v.state === 'READY' ? [] : [{ version: v.version, reason: v.error }])));
    }
    throw versionFailedToLoad(name, found.version, found.error);
  }

  /** Frees every session; idempotent. */
  async release(): Promise<void> {
    await Promise.all(this.versions.filter(isReady).map((v) => v.runner.release()));
  }

  private versionsOf(name: string): readonly ModelVersion[] {
    const versions = this.byName.get(name);
    if (!versions) {
      const names = [...this.byName.keys()];
      throw notFound(
        `unknown model ${JSON.stringify(name)}; available models: ${names.length > 0 ? names.join(', ') : '(none)'}`,
      );
    }
    return versions;
  }
}

/**
 * The repository's version folders, less those IMESH_MODEL_VERSIONS leaves out. A listed version that no model has
 * is a deployment mistake (a pod that would never serve its version), so it stops the service at start.
 */
function servedVersionDirs(options: ModelRegistryOptions): ModelVersionDir[] {
  const found = scanModelRepository(options.repositoryRoot);
  const served = options.servedVersions ?? [];
  if (served.length === 0) return found;
  const missing = served.filter((version) => !found.some((dir) => dir.version === version));
  if (missing.length > 0) {
    const present = [...new Set(found.map((dir) => dir.version))].join(', ') || 'none';
    throw new Error(`IMESH_MODEL_VERSIONS lists ${missing.join(', ')}, which no model in ${options.repositoryRoot} has (versions there: ${present})`);
  }
  const skipped = found.filter((dir) => !served.includes(dir.version)).map((dir) => `${dir.name}/${dir.version}`);
  if (skipped.length > 0) options.logger.info('IMESH_MODEL_VERSIONS: not serving these versions', { servedVersions: served, skipped });
  return found.filter((dir) => served.includes(dir.version));
}

function isReady(version: ModelVersion): version is ReadyVersion {
  return version.state === 'READY';
}

function describeVersions(versions: readonly ModelVersion[]): string {
  return versions.map((v) => (v.state === 'READY' ? v.version : `${v.version} (UNAVAILABLE: ${v.error})`)).join(', ');
}

async function loadVersion(
  found: VersionBase,
  loadModel: ModelLoader,
  warmupBatchSizes: readonly number[],
  residentMemory: () => number,
  batching: BatchingConfig,
): Promise<ReadyVersion> {
  const files = modelFiles(found.dir);
  // Tokenizer and config are optional: a model served to plain KServe clients needs neither.
  const hasTokenizer = existsSync(files.tokenizer);
  const fingerprint = hasTokenizer ? tokenizerFingerprint(files.tokenizer) : undefined;
  const vocabularySize = hasTokenizer ? readVocabularySize(files.tokenizer) : undefined;
  const config = existsSync(files.config) ? readModelConfig(found.dir) : undefined;
  const maxSequenceLength = config?.maxSequenceLength;
  const typeVocabularySize = config?.typeVocabSize;

  const memoryBefore = residentMemory();
  const loadStartedMs = performance.now();
  const { runner, inputs, outputs, executionProvider } = await loadModel(files.model);
  try {
    await warmUp(runner, inputs, outputs, warmupBatchSizes);
  } catch (error) {
    await runner.release();
    throw new Error(`warm-up run failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  const memoryBytes = Math.max(0, residentMemory() - memoryBefore);
  return {
    ...found,
    state: 'READY',
    runner,
    inputs,
    outputs,
    memoryBytes,
    ...(executionProvider && { executionProvider }),
    fingerprint,
    vocabularySize,
    maxSequenceLength,
    typeVocabularySize,
    batching,
    padTokenId: config?.padTokenId ?? 0,
    loadMs: performance.now() - loadStartedMs,
  };
}

/** Distinct positive integer sizes, ascending; [1] when none is left. */
function normalizeBatchSizes(sizes: readonly number[]): number[] {
  const valid = [...new Set(sizes.filter((size) => Number.isSafeInteger(size) && size > 0))].sort((a, b) => a - b);
  return valid.length > 0 ? valid : [1];
}

/**
 * Which provider serves a version: info, or a warning when `auto` tried CUDA, CUDA failed, and the CPU serves (a
 * GPU machine whose CUDA does not work). `auto` on an onnxruntime-node without CUDA support (the CPU install) is
 * info: nothing failed. `cuda` never gets here on the CPU: its load fails instead.
 */
function logExecutionProvider(logger: Logger, version: ReadyVersion): void {
  const choice = version.executionProvider;
  if (!choice) return;
  const fields = {
    model: version.name,
    version: version.version,
    provider: choice.provider,
    requested: choice.requested,
    ...(choice.fallbackReason !== undefined && { reason: choice.fallbackReason }),
  };
  if (choice.provider !== 'cuda' && choice.cudaFailed === true) {
    logger.warn('execution provider: CUDA failed, so auto serves this version on the CPU', fields);
  } else {
    logger.info('execution provider', fields);
  }
}

/**
 * For each batch size, one run with the first (batch) dimension at that size when it is variable, every other
 * variable dimension at 1, and all-zero inputs, so that the first requests do not pay for ONNX Runtime's lazy
 * allocations, and a model that cannot run at all is caught at load.
 */
async function warmUp(
  runner: ModelRunner,
  inputs: readonly TensorSpec[],
  outputs: readonly TensorSpec[],
  batchSizes: readonly number[],
): Promise<void> {
  const batchDimVariable = inputs.some((spec) => spec.shape[0] === -1);
  for (const rows of batchDimVariable ? batchSizes : [1]) {
    // Fresh tensors every run: the runner takes their buffers.
    const feeds: Record<string, Tensor> = {};
    for (const spec of inputs) {
      const shape = spec.shape.map((dim, i) => (dim >= 0 ? dim : i === 0 ? rows : 1));
      const count = elementCount(shape);
      const zeros = new Uint8Array(count * elementBytes(spec.datatype));
      feeds[spec.name] = new Tensor(ortTypeOf(spec.datatype), typedArrayOver(spec.datatype, zeros, count), shape);
    }
    await runner.run(feeds, outputs.map((o) => o.name), new AbortController().signal);
  }
}

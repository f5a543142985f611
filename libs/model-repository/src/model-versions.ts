import { noVersionLoaded, quoteModelName as quote, versionFailedToLoad } from './failed-versions';
import { scanModelRepository, type ModelVersionDir } from './repository';
import { notFound, type Logger } from '@inference-mesh/service-kit';
import { sep } from 'node:path';

/** One version of a model as loading left it: usable, or refused with the reason. */
export type VersionSlot<T> =
  | { readonly version: string; readonly loaded: true; readonly value: T }
  | { readonly version: string; readonly loaded: false; readonly reason: string };

export interface ResolvedVersion<T> {
  readonly model: string;
  readonly version: string;
  readonly value: T;
}

export interface LoadModelVersionsOptions<T> {
  readonly repositoryRoot: string;
  /** Serves requests that leave the model name empty; must be in the repository. */
  readonly defaultModel: string;
  readonly logger: Logger;
  /** Loads one version folder; a throw marks that version failed without stopping the others. */
  readonly loadVersion: (dir: ModelVersionDir) => T;
}

/**
 * What every model version of a repository loaded into, and the one set of rules that picks a version for a
 * request: an empty model name means the default model, an empty version the highest-numbered version that
 * loaded. An unknown name is NOT_FOUND with a message listing what exists; a version that failed to load is
 * FAILED_PRECONDITION with the reason (`versionFailedToLoad`).
 */
export class ModelVersions<T> {
  private constructor(
    readonly defaultModel: string,
    /** Versions of each model in ascending numeric order. */
    private readonly models: ReadonlyMap<string, readonly VersionSlot<T>[]>,
  ) {}

  /**
   * Loads every `<name>/<version>/` of the repository. A version that fails is logged and kept as a failed
   * slot (its requests get FAILED_PRECONDITION with the reason) so that one bad folder cannot take the service down;
   * a default model missing from the repository is a configuration error and throws.
   */
  static load<T>(options: LoadModelVersionsOptions<T>): ModelVersions<T> {
    const { repositoryRoot, defaultModel, logger, loadVersion } = options;
    const models = new Map<string, VersionSlot<T>[]>();
    for (const dir of scanModelRepository(repositoryRoot)) {
      let slot: VersionSlot<T>;
      try {
        slot = { version: dir.version, loaded: true, value: loadVersion(dir) };
      } catch (error) {
        const reason = withoutRoot(error instanceof Error ? error.message : String(error), repositoryRoot);
        logger.error('model version failed to load; requests for it get FAILED_PRECONDITION', {
          model: dir.name,
          version: dir.version,
          dir: dir.dir,
          reason,
        });
        slot = { version: dir.version, loaded: false, reason };
      }
      let versions = models.get(dir.name);
      if (!versions) models.set(dir.name, (versions = []));
      versions.push(slot);
    }
    const table = new ModelVersions<T>(defaultModel, models);
    if (!models.has(defaultModel)) {
      throw new Error(
        `default model ${quote(defaultModel)} is not in the model repository ${repositoryRoot} ` +
          `(${table.describeModels()}); set IMESH_DEFAULT_MODEL or IMESH_MODEL_REPOSITORY`,
      );
    }
    logger.info('model versions loaded', { repositoryRoot, defaultModel, models: table.describeModels() });
    return table;
  }

  /** Picks the version a request names; throws NOT_FOUND naming what exists, or FAILED_PRECONDITION for a failed version. */
  resolve(modelName: string, modelVersion: string): ResolvedVersion<T> {
    const model = modelName === '' ? this.defaultModel : modelName;
    const versions = this.models.get(model);
    if (!versions) throw notFound(`model ${quote(model)} not found; ${this.describeModels()}`);
    if (modelVersion === '') {
      for (let i = versions.length - 1; i >= 0; i--) {
        const slot = versions[i]!;
        if (slot.loaded) return { model, version: slot.version, value: slot.value };
      }
      throw noVersionLoaded(model, versions.flatMap((slot) => (slot.loaded ? [] : [{ version: slot.version, reason: slot.reason }])));
    }
    const slot = versions.find((candidate) => candidate.version === modelVersion);
    if (!slot) {
      throw notFound(`model ${quote(model)} has no version ${quote(modelVersion)}; versions: ${describeVersions(versions)}`);
    }
    if (!slot.loaded) throw versionFailedToLoad(model, slot.version, slot.reason);
    return { model, version: slot.version, value: slot.value };
  }

  /** Every version that loaded, models in name order, versions ascending. */
  loaded(): ResolvedVersion<T>[] {
    const found: ResolvedVersion<T>[] = [];
    for (const [model, versions] of this.models) {
      for (const slot of versions) if (slot.loaded) found.push({ model, version: slot.version, value: slot.value });
    }
    return found;
  }

  /** e.g. `models: sentiment (versions 1, 2), topic (versions 3 (failed to load))`. */
  private describeModels(): string {
    if (this.models.size === 0) return 'the model repository holds no models';
    const described = [...this.models].map(([name, versions]) => `${quote(name)} (versions ${describeVersions(versions)})`);
    return `models: ${described.join(', ')}`;
  }
}

function describeVersions(versions: readonly VersionSlot<unknown>[]): string {
  return versions.map((slot) => (slot.loaded ? slot.version : `${slot.version} (failed to load)`)).join(', ');
}

/** Load errors quote file paths; callers see them relative to the repository, not the server's filesystem. */
function withoutRoot(message: string, repositoryRoot: string): string {
  const prefix = repositoryRoot.endsWith(sep) ? repositoryRoot : repositoryRoot + sep;
  return message.split(prefix).join('');
}

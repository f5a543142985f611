import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WEIGHTS_KEY, type KubectlRunner } from './canary-weights';
import { parseRolloutState, type RolloutState } from './rollout-state';

/** The ConfigMap key (and file) holding the rollout's state beside the split. */
export const ROLLOUT_KEY = 'rollout';

export interface StoredRollout {
  /** The split in force, e.g. `1=95,2=5`; undefined when none is written. */
  readonly weights: string | undefined;
  readonly rollout: RolloutState | undefined;
}

/** Where the split and the rollout's state live: the split's ConfigMap in a cluster, or a directory mounted as one. */
export interface RolloutStore {
  /** For messages, e.g. `ConfigMap imesh/gateway-version-split`. */
  readonly description: string;
  read(): Promise<StoredRollout>;
  /** Writes both; the gateway applies the weights within seconds. */
  write(weights: string, rollout: RolloutState): Promise<void>;
}

/**
 * A directory laid out as a ConfigMap volume is (`weights`, `rollout`), which a gateway reads through
 * IMESH_MODEL_VERSION_WEIGHTS_FILE=DIR/weights: a rollout on one machine, or the tests'. Each file is replaced by a
 * rename, so a reader never sees half of one.
 */
export class DirectoryStore implements RolloutStore {
  readonly description: string;

  constructor(private readonly dir: string) {
    this.description = `directory ${dir}`;
  }

  async read(): Promise<StoredRollout> {
    const weights = readIfThere(join(this.dir, WEIGHTS_KEY))?.trim();
    const rollout = readIfThere(join(this.dir, ROLLOUT_KEY));
    return { weights, rollout: rollout === undefined ? undefined : parseRolloutState(rollout, join(this.dir, ROLLOUT_KEY)) };
  }

  async write(weights: string, rollout: RolloutState): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    replaceFile(join(this.dir, ROLLOUT_KEY), `${JSON.stringify(rollout, null, 1)}\n`);
    replaceFile(join(this.dir, WEIGHTS_KEY), `${weights}\n`);
  }
}

/** The split's ConfigMap through kubectl: `get` to read, a merge patch of both keys to write (nothing restarts). */
export class ConfigMapStore implements RolloutStore {
  readonly description: string;

  constructor(
    private readonly kubectl: KubectlRunner,
    private readonly namespace: string,
    private readonly name: string,
  ) {
    this.description = `ConfigMap ${namespace}/${name}`;
  }

  async read(): Promise<StoredRollout> {
    const text = await this.kubectl(['get', 'configmap', this.name, '--namespace', this.namespace, '--output', 'json']);
    const data = (JSON.parse(text) as { data?: Record<string, string> }).data ?? {};
    const rollout = data[ROLLOUT_KEY];
    return { weights: data[WEIGHTS_KEY]?.trim(), rollout: rollout === undefined ? undefined : parseRolloutState(rollout, `${this.description} key ${ROLLOUT_KEY}`) };
  }

  async write(weights: string, rollout: RolloutState): Promise<void> {
    const patch = JSON.stringify({ data: { [WEIGHTS_KEY]: weights, [ROLLOUT_KEY]: JSON.stringify(rollout) } });
    await this.kubectl(['patch', 'configmap', this.name, '--namespace', this.namespace, '--type', 'merge', '--patch', patch]);
  }
}

function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function replaceFile(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, path);
}

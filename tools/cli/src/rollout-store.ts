import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
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

/** Where a pod finds its ServiceAccount's credentials. */
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubernetesApi {
  /** e.g. https://10.96.0.1:443 */
  readonly baseUrl: string;
  readonly token: string;
  /** PEM; absent for a plain-HTTP API (tests). */
  readonly ca?: string;
}

/** The API server as a pod sees it (KUBERNETES_SERVICE_HOST and the mounted ServiceAccount token), or undefined outside one. */
export function inClusterApi(env: Readonly<Record<string, string | undefined>> = process.env, dir = SERVICE_ACCOUNT_DIR): KubernetesApi | undefined {
  const host = env['KUBERNETES_SERVICE_HOST'];
  if (!host || !existsSync(join(dir, 'token'))) return undefined;
  const port = env['KUBERNETES_SERVICE_PORT'] ?? '443';
  return { baseUrl: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, token: readFileSync(join(dir, 'token'), 'utf8').trim(), ca: readFileSync(join(dir, 'ca.crt'), 'utf8') };
}

/**
 * The split's ConfigMap through the Kubernetes API itself, for the controller running as a Deployment (its image
 * has no kubectl): GET to read, a JSON merge patch of both keys to write. Its Role allows exactly that
 * (k8s/rollout/rbac.yaml).
 */
export class ConfigMapApiStore implements RolloutStore {
  readonly description: string;
  private readonly path: string;

  constructor(
    private readonly api: KubernetesApi,
    namespace: string,
    name: string,
  ) {
    this.description = `ConfigMap ${namespace}/${name}`;
    this.path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(name)}`;
  }

  async read(): Promise<StoredRollout> {
    const data = (JSON.parse(await this.call('GET')) as { data?: Record<string, string> }).data ?? {};
    const rollout = data[ROLLOUT_KEY];
    return { weights: data[WEIGHTS_KEY]?.trim(), rollout: rollout === undefined ? undefined : parseRolloutState(rollout, `${this.description} key ${ROLLOUT_KEY}`) };
  }

  async write(weights: string, rollout: RolloutState): Promise<void> {
    await this.call('PATCH', JSON.stringify({ data: { [WEIGHTS_KEY]: weights, [ROLLOUT_KEY]: JSON.stringify(rollout) } }));
  }

  private call(method: 'GET' | 'PATCH', body?: string): Promise<string> {
    const url = new URL(this.path, this.api.baseUrl);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const request = send(
        url,
        {
          method,
          headers: { authorization: `Bearer ${this.api.token}`, accept: 'application/json', ...(body !== undefined && { 'content-type': 'application/merge-patch+json' }) },
          ...(this.api.ca !== undefined && { ca: this.api.ca }),
          timeout: 10_000,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (response.statusCode === 200) resolve(text);
            else reject(new Error(`${method} ${this.description}: HTTP ${response.statusCode} ${(JSON.parse(text || '{}') as { message?: string }).message ?? text.slice(0, 200)}`));
          });
        },
      );
      request.on('timeout', () => request.destroy(new Error(`${method} ${this.description}: the API server did not answer within 10 s`)));
      request.on('error', reject);
      request.end(body);
    });
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

import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { CanaryVersions } from './canary-args';

/** The gateway's split as a variable: fixed for the life of a pod. Still rewritten where a Deployment sets it. */
export const WEIGHTS_VARIABLE = 'IMESH_MODEL_VERSION_WEIGHTS';
/** The ConfigMap key the gateway pods mount and re-read (IMESH_MODEL_VERSION_WEIGHTS_FILE=/etc/imesh/split/weights). */
export const WEIGHTS_KEY = 'weights';

export interface CanarySplit extends CanaryVersions {
  /** The canary's share, 0 to 100; the stable version gets the rest. */
  readonly canaryPercent: number;
}

/** The split's ConfigMap, e.g. gateway-version-split (k8s/base/gateway.yaml). */
export interface SplitTarget {
  readonly configMap: string;
}

/** The gateway's split for a step, e.g. `1=95,2=5` (the syntax of the ConfigMap key and of the variable alike). */
export function weightsSetting(split: CanarySplit): string {
  return `${split.stable}=${100 - split.canaryPercent},${split.canary}=${split.canaryPercent}`;
}

type Path = readonly (string | number)[];

/** One value to write, at a path inside a manifest. */
interface Edit {
  readonly path: Path;
  readonly value: string | number;
  /** For the report, e.g. `ConfigMap gateway-version-split: weights=1=95,2=5`. */
  readonly what: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function at(value: Json | undefined, key: string | number): Json | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  return Array.isArray(value) ? (typeof key === 'number' ? value[key] : undefined) : (value as Record<string, Json>)[key];
}

function list(value: Json | undefined): Json[] {
  return Array.isArray(value) ? value : [];
}

/**
 * What the split changes in one manifest: the `weights` key of the split's ConfigMap (the gateway reads it from
 * its mount and applies it without restarting), and, where a Deployment's container still sets
 * IMESH_MODEL_VERSION_WEIGHTS itself (a split fixed at start), that value. VirtualServices are left alone: the
 * gateway splits, and Istio routes each model call by its x-model-version header (istio/model-routing.yaml).
 */
export function splitEdits(manifest: Json, split: CanarySplit, target: SplitTarget): Edit[] {
  const kind = at(manifest, 'kind');
  const name = String(at(at(manifest, 'metadata'), 'name') ?? '');
  const edits: Edit[] = [];
  if (kind === 'Deployment') {
    list(at(at(at(at(manifest, 'spec'), 'template'), 'spec'), 'containers')).forEach((container, c) => {
      list(at(container, 'env')).forEach((variable, e) => {
        if (at(variable, 'name') !== WEIGHTS_VARIABLE || at(variable, 'value') === undefined) return;
        edits.push({
          path: ['spec', 'template', 'spec', 'containers', c, 'env', e, 'value'],
          value: weightsSetting(split),
          what: `Deployment ${name} container ${String(at(container, 'name'))}: ${WEIGHTS_VARIABLE}=${weightsSetting(split)}`,
        });
      });
    });
  } else if (kind === 'ConfigMap' && name === target.configMap) {
    edits.push({ path: ['data', WEIGHTS_KEY], value: weightsSetting(split), what: `ConfigMap ${name}: ${WEIGHTS_KEY}=${weightsSetting(split)}` });
  }
  return edits;
}

/**
 * Rewrites the split in a YAML file in place, keeping its comments and layout. Returns what changed; throws when
 * the file holds nothing the split applies to (a wrong path should not pass silently).
 */
export function setSplitInFile(path: string, split: CanarySplit, target: SplitTarget): string[] {
  const documents = parseAllDocuments(readFileSync(path, 'utf8'));
  if (!Array.isArray(documents)) throw new Error(`${path} is not YAML documents`);
  const changed: string[] = [];
  for (const document of documents) {
    if (document.errors.length > 0) throw new Error(`${path}: ${document.errors[0]!.message}`);
    for (const edit of splitEdits(document.toJS() as Json, split, target)) {
      document.setIn(edit.path, edit.value);
      changed.push(edit.what);
    }
  }
  if (changed.length === 0) {
    throw new Error(
      `${path} has no ConfigMap ${target.configMap} and no Deployment setting ${WEIGHTS_VARIABLE}; give the file holding the split ` +
        '(k8s/base/gateway.yaml). VirtualServices hold no split: the gateway splits, Istio routes by the x-model-version header',
    );
  }
  writeFileSync(path, documents.map((document) => document.toString()).join(''));
  return changed;
}

/** Runs kubectl with `args`, `input` on its stdin; resolves with its stdout, rejects with its stderr. */
export type KubectlRunner = (args: readonly string[], input?: string) => Promise<string>;

export const runKubectl: KubectlRunner = (args, input) =>
  new Promise((resolve, reject) => {
    const child = execFile('kubectl', [...args], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`kubectl ${args.join(' ')}: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
    child.stdin?.end(input ?? '');
  });

/** Whether `kubectl` is an executable on PATH. */
export function kubectlOnPath(path = process.env['PATH'] ?? ''): boolean {
  return path.split(delimiter).some((dir) => {
    if (dir === '') return false;
    try {
      accessSync(join(dir, 'kubectl'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export interface ClusterTarget extends SplitTarget {
  readonly namespace: string;
}

/**
 * The same step in the cluster: a merge patch of the ConfigMap's `weights` key. Nothing restarts: the kubelet
 * refreshes the file in every gateway pod (within its sync period, about a minute at most by default) and each
 * gateway applies it within a second of seeing it, once the model service has confirmed the versions. A patch
 * fails on a ConfigMap that does not exist instead of creating one no gateway mounts, keeps the ConfigMap's other
 * keys and labels, and leaves `kubectl apply`'s last-applied record alone, so a later client-side `kubectl apply -k`
 * keeps the patched value unless the committed one changes (commit the step with --file in a GitOps flow: a sync
 * writes back what is committed).
 */
export async function setSplitInCluster(target: ClusterTarget, split: CanarySplit, kubectl: KubectlRunner = runKubectl): Promise<string[]> {
  const setting = weightsSetting(split);
  const patch = JSON.stringify({ data: { [WEIGHTS_KEY]: setting } });
  await kubectl(['patch', 'configmap', target.configMap, '--namespace', target.namespace, '--type', 'merge', '--patch', patch]);
  return [`ConfigMap ${target.configMap}: ${WEIGHTS_KEY}=${setting} (the gateway pods apply it once their mounted file updates, without restarting)`];
}

import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { CanaryVersions } from './canary-args';

/** The gateway's split setting; the same `VERSION=PERCENT,...` text in a Deployment's env or a ConfigMap. */
export const WEIGHTS_VARIABLE = 'IMESH_MODEL_VERSION_WEIGHTS';

export interface CanarySplit extends CanaryVersions {
  /** The canary's share, 0 to 100; the stable version gets the rest. */
  readonly canaryPercent: number;
}

/** The VirtualService subset that serves a version: `v1` for version 1, as istio/model-routing.yaml names them. */
export function subsetOf(version: string): string {
  return `v${version}`;
}

/** IMESH_MODEL_VERSION_WEIGHTS for a split, e.g. `1=95,2=5`. */
export function weightsSetting(split: CanarySplit): string {
  return `${split.stable}=${100 - split.canaryPercent},${split.canary}=${split.canaryPercent}`;
}

type Path = readonly (string | number)[];

/** One value to write, at a path inside a manifest. */
interface Edit {
  readonly path: Path;
  readonly value: string | number;
  /** For the report, e.g. `VirtualService model: v1=95, v2=5`. */
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
 * What the split changes in one manifest: in a VirtualService, every HTTP route that sends weighted traffic to
 * both versions' subsets (routes pinned by the x-model-version header have one destination and are left alone);
 * in a Deployment, each container's IMESH_MODEL_VERSION_WEIGHTS; in a ConfigMap, that key. Throws when a weighted
 * route also sends traffic elsewhere, because the two weights could then not add up to 100.
 */
export function splitEdits(manifest: Json, split: CanarySplit): Edit[] {
  const kind = at(manifest, 'kind');
  const name = String(at(at(manifest, 'metadata'), 'name') ?? '');
  const edits: Edit[] = [];
  if (kind === 'VirtualService') {
    const stableSubset = subsetOf(split.stable);
    const canarySubset = subsetOf(split.canary);
    list(at(at(manifest, 'spec'), 'http')).forEach((route, r) => {
      const destinations = list(at(route, 'route'));
      const subsets = destinations.map((d) => at(at(d, 'destination'), 'subset'));
      if (!subsets.includes(stableSubset) || !subsets.includes(canarySubset)) return;
      const others = destinations.filter((d, i) => subsets[i] !== stableSubset && subsets[i] !== canarySubset && Number(at(d, 'weight') ?? 0) > 0);
      if (others.length > 0) {
        throw new Error(`VirtualService ${name}, route ${r}: also sends traffic to ${others.map((d) => JSON.stringify(at(d, 'destination'))).join(', ')}; set those weights to 0 first`);
      }
      destinations.forEach((_, d) => {
        const subset = subsets[d];
        if (subset !== stableSubset && subset !== canarySubset) return;
        edits.push({
          path: ['spec', 'http', r, 'route', d, 'weight'],
          value: subset === canarySubset ? split.canaryPercent : 100 - split.canaryPercent,
          what: `VirtualService ${name} route ${String(at(route, 'name') ?? r)}: ${subset}=${subset === canarySubset ? split.canaryPercent : 100 - split.canaryPercent}`,
        });
      });
    });
  } else if (kind === 'Deployment') {
    list(at(at(at(at(manifest, 'spec'), 'template'), 'spec'), 'containers')).forEach((container, c) => {
      list(at(container, 'env')).forEach((variable, e) => {
        if (at(variable, 'name') !== WEIGHTS_VARIABLE) return;
        edits.push({
          path: ['spec', 'template', 'spec', 'containers', c, 'env', e, 'value'],
          value: weightsSetting(split),
          what: `Deployment ${name} container ${String(at(container, 'name'))}: ${WEIGHTS_VARIABLE}=${weightsSetting(split)}`,
        });
      });
    });
  } else if (kind === 'ConfigMap' && at(at(manifest, 'data'), WEIGHTS_VARIABLE) !== undefined) {
    edits.push({ path: ['data', WEIGHTS_VARIABLE], value: weightsSetting(split), what: `ConfigMap ${name}: ${WEIGHTS_VARIABLE}=${weightsSetting(split)}` });
  }
  return edits;
}

/**
 * Rewrites the split in a YAML file in place, keeping its comments and layout. Returns what changed; throws when
 * the file holds nothing the split applies to (a wrong path should not pass silently).
 */
export function setSplitInFile(path: string, split: CanarySplit): string[] {
  const documents = parseAllDocuments(readFileSync(path, 'utf8'));
  if (!Array.isArray(documents)) throw new Error(`${path} is not YAML documents`);
  const changed: string[] = [];
  for (const document of documents) {
    if (document.errors.length > 0) throw new Error(`${path}: ${document.errors[0]!.message}`);
    for (const edit of splitEdits(document.toJS() as Json, split)) {
      document.setIn(edit.path, edit.value);
      changed.push(edit.what);
    }
  }
  if (changed.length === 0) {
    throw new Error(
      `${path} has no VirtualService route splitting ${subsetOf(split.stable)}/${subsetOf(split.canary)} and no ${WEIGHTS_VARIABLE}; ` +
        'give the model VirtualService (istio/model-routing.yaml) and the gateway Deployment (k8s/base/gateway.yaml)',
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

export interface ClusterTarget {
  readonly namespace: string;
  readonly virtualService: string;
  readonly deployment: string;
}

/**
 * The same split through kubectl: the VirtualService is read, edited and replaced (replace carries its
 * resourceVersion, so a concurrent change fails instead of being overwritten), then the gateway's variable is set,
 * which rolls the gateway (its drain settings keep in-flight requests).
 */
export async function setSplitInCluster(target: ClusterTarget, split: CanarySplit, kubectl: KubectlRunner = runKubectl): Promise<string[]> {
  const scope = ['--namespace', target.namespace];
  const virtualService = JSON.parse(await kubectl(['get', 'virtualservice', target.virtualService, ...scope, '--output', 'json'])) as Json;
  const edits = splitEdits(virtualService, split);
  if (edits.length === 0) {
    throw new Error(`VirtualService ${target.virtualService} in ${target.namespace} has no route splitting ${subsetOf(split.stable)}/${subsetOf(split.canary)}`);
  }
  for (const edit of edits) setPath(virtualService, edit.path, edit.value);
  await kubectl(['replace', ...scope, '--filename', '-'], JSON.stringify(virtualService));
  const setting = `${WEIGHTS_VARIABLE}=${weightsSetting(split)}`;
  await kubectl(['set', 'env', `deployment/${target.deployment}`, ...scope, setting]);
  return [...edits.map((edit) => edit.what), `Deployment ${target.deployment}: ${setting}`];
}

function setPath(root: Json, path: Path, value: string | number): void {
  let node = root as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  node[path[path.length - 1]!] = value;
}

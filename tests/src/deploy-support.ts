// Reading the deployment manifests for the deploy-*.test.ts files: kustomize builds through kubectl, YAML files,
// and lookups across manifests.
import { REPO_ROOT } from '@inference-mesh/launcher';
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { delimiter, join, relative } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import type { Manifest } from './deploy-schemas';

export { REPO_ROOT };

// Manifests are plain parsed YAML; the tests look into them by path.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export const NAMESPACE = 'imesh';
/** Seconds a pod's grace period keeps beyond its processes' own shutdown deadline: exit, teardown, clock skew. */
export const SHUTDOWN_MARGIN_SECONDS = 3;
export const OVERLAYS = ['base', 'dev', 'prod'] as const;
export type Overlay = (typeof OVERLAYS)[number];

/** The directory kustomize builds for an overlay name. */
export function overlayDir(overlay: Overlay): string {
  return overlay === 'base' ? join(REPO_ROOT, 'k8s', 'base') : join(REPO_ROOT, 'k8s', 'overlays', overlay);
}

function kubectl(): string {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, 'kubectl'), constants.X_OK);
      return join(dir, 'kubectl');
    } catch {
      // not here
    }
  }
  throw new Error('kubectl is not on PATH: the deployment tests build the kustomize overlays with `kubectl kustomize` (Debian: apt-get install kubernetes-client; .ci/run installs it)');
}

/** `kubectl kustomize DIR`, parsed: what `kubectl apply -k DIR` would send. */
export function buildOverlay(overlay: Overlay): Manifest[] {
  return buildKustomization(overlayDir(overlay));
}

/** `kubectl kustomize DIR` of any kustomization (k8s/rollout, say), parsed. */
export function buildKustomization(dir: string): Manifest[] {
  const output = execFileSync(kubectl(), ['kustomize', dir], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return parseManifests(output, `kustomize ${relative(REPO_ROOT, dir)}`);
}

/** Every document of a YAML text; throws on a syntax error. */
export function parseManifests(text: string, source: string): Manifest[] {
  const manifests: Manifest[] = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) throw new Error(`${source}: ${document.errors.map((e) => e.message).join('; ')}`);
    const object = document.toJS() as Record<string, unknown> | null;
    if (object !== null) manifests.push({ source, object });
  }
  return manifests;
}

/** YAML files under a directory, recursively, as paths relative to the repository. */
export function yamlFiles(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(name)) found.push(relative(REPO_ROOT, path));
  }
  return found;
}

export function readManifests(file: string): Manifest[] {
  return parseManifests(readFileSync(join(REPO_ROOT, file), 'utf8'), file);
}

export function readYaml(file: string): Json {
  return parse(readFileSync(join(REPO_ROOT, file), 'utf8'));
}

export function ofKind(manifests: readonly Manifest[], kind: string): Json[] {
  return manifests.filter((m) => m.object['kind'] === kind).map((m) => m.object);
}

export function named(manifests: readonly Manifest[], kind: string, name: string): Json {
  const found = ofKind(manifests, kind).find((o) => o.metadata?.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
}

/** Whether every label of `selector` is on `labels`. */
export function selects(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

export function podLabels(deployment: Json): Record<string, string> {
  return deployment.spec.template.metadata.labels ?? {};
}

/** The environment a container starts with: its ConfigMaps (envFrom), then its own env, which wins. */
export function containerEnv(manifests: readonly Manifest[], container: Json): Map<string, string> {
  const env = new Map<string, string>();
  for (const source of container.envFrom ?? []) {
    const configMap = named(manifests, 'ConfigMap', source.configMapRef.name);
    for (const [key, value] of Object.entries(configMap.data ?? {})) env.set(key, String(value));
  }
  for (const variable of container.env ?? []) env.set(variable.name, String(variable.value ?? ''));
  return env;
}

/** `25s`, `1m30s`, `500ms` in seconds. */
export function durationSeconds(text: string): number {
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
  let total = 0;
  const rest = text.replace(/([0-9.]+)(ms|s|m|h)/g, (_, value: string, unit: string) => {
    total += Number(value) * units[unit]!;
    return '';
  });
  if (rest !== '' || text === '') throw new Error(`not a duration: ${JSON.stringify(text)}`);
  return total;
}

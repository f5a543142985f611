import { Metadata } from '@grpc/grpc-js';
import type { EnvReader } from '@inference-mesh/service-kit';

/**
 * The header that names the model version a model call is for. The gateway sets it on every ModelInfer and
 * ModelMetadata call; under Istio the model's VirtualService routes on it to the subset (Deployment) serving that
 * version (istio/model-routing.yaml).
 */
export const MODEL_VERSION_HEADER = 'x-model-version';

/** One version's share of the default model's unpinned requests, in percent. */
export interface VersionWeight {
  readonly version: string;
  readonly weight: number;
}

export const VERSION_WEIGHTS_VARIABLE = 'IMESH_MODEL_VERSION_WEIGHTS';
/** A file holding the split in the same syntax (a mounted ConfigMap key), re-read while the gateway runs. */
export const VERSION_WEIGHTS_FILE_VARIABLE = 'IMESH_MODEL_VERSION_WEIGHTS_FILE';
export const VERSION_WEIGHTS_POLL_VARIABLE = 'IMESH_MODEL_VERSION_WEIGHTS_POLL_INTERVAL_MS';

/**
 * Parses `1=95,2=5`: version numbers and integer percentages that add up to 100. Throws an Error whose message
 * says what is wrong and what is expected.
 */
export function parseVersionWeights(text: string): VersionWeight[] {
  const weights: VersionWeight[] = [];
  for (const part of text.split(',')) {
    const match = /^\s*([0-9]+)\s*=\s*([0-9]+)\s*$/.exec(part);
    if (!match) throw new Error(`${JSON.stringify(part.trim())} is not VERSION=PERCENT (for example 1=95,2=5)`);
    const version = match[1]!;
    const weight = Number(match[2]);
    if (weight > 100) throw new Error(`version ${version} has weight ${weight}; weights are percentages from 0 to 100`);
    if (weights.some((w) => w.version === version)) throw new Error(`version ${version} is listed twice`);
    weights.push({ version, weight });
  }
  const total = weights.reduce((sum, w) => sum + w.weight, 0);
  if (total !== 100) throw new Error(`the weights add up to ${total}; they must add up to 100`);
  return weights;
}

/** `1=95,2=5`: the text parseVersionWeights reads back. */
export function formatVersionWeights(weights: readonly VersionWeight[]): string {
  return weights.map((w) => `${w.version}=${w.weight}`).join(',');
}

/** The same versions with the same weights, in any order. */
export function sameVersionWeights(a: readonly VersionWeight[], b: readonly VersionWeight[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((w) => b.some((v) => v.version === w.version && v.weight === w.weight));
}

/** IMESH_MODEL_VERSION_WEIGHTS; empty (the default) when unset: unpinned requests get the latest version. */
export function readVersionWeights(env: EnvReader): VersionWeight[] {
  const text = env.string(VERSION_WEIGHTS_VARIABLE, '');
  if (text === '') return [];
  try {
    return parseVersionWeights(text);
  } catch (error) {
    env.fail(`${VERSION_WEIGHTS_VARIABLE}=${JSON.stringify(text)}: ${(error as Error).message}`);
    return [];
  }
}

/**
 * Picks a version for each unpinned request at random, in proportion to the weights: the same per-request
 * weighted choice Envoy makes for a weighted route, so the canary share holds for any arrival pattern.
 */
export class VersionSplit {
  /** Cumulative upper bounds in percent, for versions with a weight above 0. */
  private readonly bounds: readonly { readonly version: string; readonly upTo: number }[];
  /** More than one version has a weight above 0: an answer from one of them has another to be compared with. */
  readonly hasOtherVersions: boolean;

  constructor(weights: readonly VersionWeight[], private readonly random: () => number = Math.random) {
    let upTo = 0;
    this.bounds = weights.filter((w) => w.weight > 0).map((w) => ({ version: w.version, upTo: (upTo += w.weight) }));
    if (this.bounds.length === 0) throw new Error('a version split needs at least one version with a weight above 0');
    this.hasOtherVersions = this.bounds.length > 1;
  }

  pick(): string {
    const draw = this.random() * 100;
    for (const bound of this.bounds) if (draw < bound.upTo) return bound.version;
    return this.bounds[this.bounds.length - 1]!.version;
  }

  /**
   * A version other than `version` with a weight above 0, at random in proportion to the weights (the shadow's
   * target, prediction-shadow.ts); undefined when there is none. Allocates nothing.
   */
  pickOther(version: string): string | undefined {
    let others = 0;
    let previous = 0;
    for (const bound of this.bounds) {
      if (bound.version !== version) others += bound.upTo - previous;
      previous = bound.upTo;
    }
    if (others === 0) return undefined;
    let draw = this.random() * others;
    let last: string | undefined;
    previous = 0;
    for (const bound of this.bounds) {
      const weight = bound.upTo - previous;
      previous = bound.upTo;
      if (bound.version === version) continue;
      last = bound.version;
      if (draw < weight) return bound.version;
      draw -= weight;
    }
    return last;
  }
}

/**
 * The split in force, swapped whole when a new one is loaded (split-reloader.ts). The pipeline reads `current`
 * per request: one property read, as cheap as a split fixed at start.
 */
export class LiveVersionSplit {
  /** Undefined: no split, unpinned requests get the version the tokenizer resolves (the latest). */
  current: VersionSplit | undefined;
  /** The weights of `current`; empty with no split. */
  weights: readonly VersionWeight[] = [];

  constructor(weights: readonly VersionWeight[] = []) {
    this.set(weights);
  }

  set(weights: readonly VersionWeight[]): void {
    this.current = weights.length > 0 ? new VersionSplit(weights) : undefined;
    this.weights = weights;
  }
}

/** Metadata routing a model call to `version`'s subset; none for an empty version (the server chooses). */
export function modelVersionMetadata(version: string | undefined): Metadata {
  const metadata = new Metadata();
  if (version) metadata.set(MODEL_VERSION_HEADER, version);
  return metadata;
}

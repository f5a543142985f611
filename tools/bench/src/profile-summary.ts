#!/usr/bin/env node
/**
 * `node tools/bench/dist/profile-summary.js FILE.cpuprofile...`: where a service's CPU went, from the profiles
 * `node --cpu-prof` writes (IMESH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" makes the launcher pass the flag to every
 * service). Self time is grouped by where the code lives (grpc-js, protobufjs, onnxruntime, Node internals, this
 * project's modules), then the top functions are listed.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Where a frame's code lives: a package, Node's own modules, this project's workspace, or a VM bucket. */
export function areaOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return url.startsWith('node:internal/http2') ? 'node:http2' : 'node:internal';
  const own = /\/(services|libs|tools)\/([^/]+)\//.exec(url);
  return own ? `${own[1]}/${own[2]}` : url;
}

/** The service whose main.js the profile ran (worker threads write profiles of their own: they have none). */
export function serviceOf(profile: CpuProfile): string | undefined {
  for (const node of profile.nodes) {
    const match = /\/services\/([^/]+)\/dist\/main\.js$/.exec(node.callFrame.url);
    if (match) return match[1];
  }
  return undefined;
}

export function summarize(profile: CpuProfile, top = 15): string[] {
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byArea = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busy = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0 || node.callFrame.functionName === '(idle)') continue;
    busy += us;
    const area = areaOf(node.callFrame.url, node.callFrame.functionName);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    const name = `${node.callFrame.functionName || '(anonymous)'} ${area}${node.callFrame.url ? `:${node.callFrame.lineNumber + 1}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
  }
  const rows = (map: Map<string, number>, n: number) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => `  ${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${name}`);
  return [`busy ${(busy / 1000).toFixed(0)} ms (idle excluded); by area:`, ...rows(byArea, 12), 'top functions (self time):', ...rows(byFunction, top)];
}

if (require.main === module) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: node tools/bench/dist/profile-summary.js FILE.cpuprofile...');
    process.exitCode = 2;
  }
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    console.log(`== ${basename(file)}: ${serviceOf(profile) ?? 'unknown process'}`);
    for (const line of summarize(profile)) console.log(line);
  }
}

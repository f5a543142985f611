// The rooms of the repository and who may import whom (README, "Layout"): checked on the package manifests and on
// every import in the sources, so that a shortcut through another package's dist/ or a service importing a
// service fails here instead of in review.
import { REPO_ROOT } from '@inference-mesh/launcher';
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

type Room = 'libs' | 'services' | 'tools' | 'tests';

interface Workspace {
  /** e.g. "libs/client" */
  readonly dir: string;
  readonly room: Room;
  readonly manifest: { name: string; bin?: unknown; exports?: unknown; dependencies?: Record<string, string> };
}

/** The rooms each room's packages may depend on. Tools may embed a service through its `exports` entry. */
const MAY_DEPEND_ON: Readonly<Record<Room, readonly Room[]>> = {
  libs: ['libs'],
  services: ['libs'],
  tools: ['libs', 'services', 'tools'],
  tests: ['libs', 'services', 'tools'],
};

function workspaces(): Workspace[] {
  const found: Workspace[] = [];
  for (const room of ['libs', 'services', 'tools'] as const) {
    for (const name of readdirSync(join(REPO_ROOT, room))) {
      const manifestPath = join(REPO_ROOT, room, name, 'package.json');
      if (existsSync(manifestPath)) found.push({ dir: `${room}/${name}`, room, manifest: JSON.parse(readFileSync(manifestPath, 'utf8')) });
    }
  }
  found.push({ dir: 'tests', room: 'tests', manifest: JSON.parse(readFileSync(join(REPO_ROOT, 'tests', 'package.json'), 'utf8')) });
  return found;
}

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name === 'generated') continue;
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.ts$/.test(entry.name) && !entry.name.endsWith('.d.ts')) files.push(path);
    }
  };
  walk(join(REPO_ROOT, dir, 'src'));
  return files;
}

/** Module specifiers of static imports, re-exports and require() calls. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers: string[] = [];
  for (const match of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]/g)) specifiers.push(match[1]!);
  return specifiers;
}

function exportsSubpath(workspace: Workspace | undefined, subpath: string): boolean {
  const exports = workspace?.manifest.exports;
  return typeof exports === 'object' && exports !== null && subpath in exports;
}

describe('layout: rooms and who may import whom', () => {
  const all = workspaces();
  const byName = new Map(all.map((workspace) => [workspace.manifest.name, workspace]));

  it('every workspace package depends only on the rooms its own room may use', () => {
    assert.ok(all.length >= 12, `found only ${all.length} workspaces`);
    const wrong: string[] = [];
    for (const workspace of all) {
      for (const dependency of Object.keys(workspace.manifest.dependencies ?? {})) {
        const target = byName.get(dependency);
        if (target && !MAY_DEPEND_ON[workspace.room].includes(target.room)) wrong.push(`${workspace.dir} -> ${target.dir}`);
      }
    }
    assert.deepEqual(wrong, [], 'a lib may use only libs, a service only libs');
  });

  it('no source imports another package by a dist/ path (a subpath must be in its exports map) or reaches out of its own package by a relative path', () => {
    const wrong: string[] = [];
    for (const workspace of all) {
      const root = join(REPO_ROOT, workspace.dir);
      for (const file of sourceFiles(workspace.dir)) {
        for (const specifier of importsOf(file)) {
          const where = `${relative(REPO_ROOT, file)}: ${specifier}`;
          // A subpath only when the package's exports map names it (`@inference-mesh/client/queue`), never its dist/.
          const subpath = /^(@inference-mesh\/[^/]+)\/(.+)$/.exec(specifier);
          if (subpath && !exportsSubpath(byName.get(subpath[1]!), `./${subpath[2]}`)) wrong.push(where);
          if (specifier.startsWith('.') && !resolve(dirname(file), specifier).startsWith(root + sep)) wrong.push(where);
          const imported = /^(@inference-mesh\/[^/]+)/.exec(specifier)?.[1];
          if (imported && byName.has(imported) && imported !== workspace.manifest.name) {
            const declared = Object.keys(workspace.manifest.dependencies ?? {});
            if (!declared.includes(imported)) wrong.push(`${where} (not in ${workspace.dir}/package.json)`);
          }
        }
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('every package that others import has an exports map', () => {
    const imported = new Set(all.flatMap((workspace) => Object.keys(workspace.manifest.dependencies ?? {})));
    const missing = all.filter((workspace) => imported.has(workspace.manifest.name) && workspace.manifest.exports === undefined);
    assert.deepEqual(missing.map((workspace) => workspace.dir), []);
  });

  it('the SDK is a library only: no bin, no CLI or deployment dependencies, nothing from the server side', () => {
    const sdk = byName.get('@inference-mesh/client')!;
    assert.equal(sdk.manifest.bin, undefined, 'the imesh command lives in tools/cli');
    const dependencies = Object.keys(sdk.manifest.dependencies ?? {});
    for (const forbidden of ['yaml', '@inference-mesh/service-kit', '@inference-mesh/telemetry']) {
      assert.ok(!dependencies.includes(forbidden), `libs/client depends on ${forbidden}`);
    }
    const cli = byName.get('@inference-mesh/cli');
    assert.ok(cli && typeof cli.manifest.bin === 'object' && cli.manifest.bin !== null && 'imesh' in cli.manifest.bin, 'tools/cli provides the imesh command');
  });

  it('each service has the same rooms: main.ts only wires, server.ts starts the server, handlers.ts answers the calls', () => {
    for (const service of all.filter((workspace) => workspace.room === 'services')) {
      for (const file of ['main.ts', 'server.ts', 'handlers.ts']) {
        assert.ok(existsSync(join(REPO_ROOT, service.dir, 'src', file)), `${service.dir}/src/${file} is missing`);
      }
      const main = readFileSync(join(REPO_ROOT, service.dir, 'src', 'main.ts'), 'utf8');
      assert.ok(main.split('\n').filter((line) => line.trim() !== '').length <= 15, `${service.dir}/src/main.ts does more than wire`);
    }
  });
});

// The README is what a newcomer runs first: the files it names must exist, and its SDK example must compile
// against the SDK as built, so that a rename or an API change that forgets the docs fails here.
import { REPO_ROOT } from '@inference-mesh/launcher';
import { strict as assert } from 'node:assert';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const TOP_LEVEL = ['libs', 'services', 'tools', 'tests', 'k8s', 'istio', 'docker', 'models', 'protos', 'examples', 'bench', '.ci'];

/** Every file name in the repository (not in node_modules or build output), for names the README gives without a folder. */
function fileNames(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (['node_modules', 'dist', '.git'].includes(entry.name)) continue;
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else names.add(entry.name);
    }
  };
  walk(REPO_ROOT);
  return names;
}

/** A path git ignores is one the tools write (bench/models/, say): named in the README, absent from a clone. */
function gitIgnores(path: string): boolean {
  return spawnSync('git', ['check-ignore', '-q', path], { cwd: REPO_ROOT }).status === 0;
}

describe('README', () => {
  it('names only paths and source files that exist', () => {
    const names = fileNames();
    const missing: string[] = [];
    for (const [, code] of README.matchAll(/`([^`\n]+)`/g)) {
      for (const token of code!.split(/[\s,;()]+/)) {
        const path = token.replace(/^\.\//, '').replace(/[.:]$/, '');
        if (/[*{}<>$]|\.\.\./.test(path) || path.includes('://')) continue; // globs, placeholders, URLs
        if (TOP_LEVEL.some((top) => path.startsWith(`${top}/`))) {
          if (!existsSync(join(REPO_ROOT, path)) && !gitIgnores(path)) missing.push(path);
        } else if (/^[a-z0-9-]+\.(ts|py|proto)$/.test(path) && !names.has(path)) {
          missing.push(path);
        }
      }
    }
    assert.deepEqual([...new Set(missing)], []);
  });

  for (const [what, start, end] of [
    ['the Client SDK example', '\n## Client SDK', '\n## '],
    ["the queue client's example", '\n### Producing: QueueClient and imesh submit', '\n### '],
  ] as const) {
    it(`${what} type-checks against the SDK`, async function () {
      this.timeout(60_000);
      const section = README.split(start)[1]?.split(end)[0] ?? '';
      const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
      assert.ok(blocks.length > 0, `${what}: a ts block in its section`);
      const dir = mkdtempSync(join(REPO_ROOT, 'tests', 'dist', 'readme-snippet-'));
      try {
        // Top-level await needs a module: the example is wrapped in an async function instead, imports kept on top.
        const code = blocks.join('\n');
        const imports = code.split('\n').filter((line) => line.startsWith('import '));
        const body = code.split('\n').filter((line) => !line.startsWith('import '));
        writeFileSync(join(dir, 'example.ts'), `${imports.join('\n')}\nexport async function example(): Promise<void> {\n${body.join('\n')}\n}\n`);
        const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
        const options = ['--noEmit', '--strict', '--target', 'ES2022', '--module', 'Node16', '--moduleResolution', 'Node16', '--types', 'node', '--skipLibCheck'];
        await promisify(execFile)(process.execPath, [tsc, ...options, join(dir, 'example.ts')], { cwd: REPO_ROOT }).catch((error: { stdout?: string }) => {
          assert.fail(`the README's ${what} does not compile:\n${error.stdout ?? String(error)}`);
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

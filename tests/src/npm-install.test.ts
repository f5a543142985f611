// A fresh `npm ci` of the checkout stays offline, without an npm setting npm does not know. onnxruntime-node's
// install script downloads ONNX Runtime's CUDA provider (hundreds of MB, from outside the npm registry) on Linux x64
// unless told not to; it reads its own `onnxruntime-node-install` setting, which npm 11 warns about as unknown on
// every npm and npx command. The root package.json denies the script in `allowScripts` instead (npm's own policy
// field), GPU images run it themselves (docker/Dockerfile), and no dependency needs its install script.
import { REPO_ROOT } from '@inference-mesh/launcher';
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

interface Manifest {
  readonly allowScripts?: Record<string, boolean>;
}

/** Dependencies whose install script the checkout runs (`allowScripts` true), with why; none so far. */
const SCRIPTS_ALLOWED: readonly string[] = [];

/**
 * The environment of an npm run that tests the repository's own settings: none of the variables that would skip or
 * force onnxruntime-node's script from outside, and a proxy that refuses every connection for the script's
 * downloads (it bootstraps global-agent), so that a script that does run fails at once instead of downloading.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GLOBAL_AGENT_HTTP_PROXY: 'http://127.0.0.1:9', GLOBAL_AGENT_HTTPS_PROXY: 'http://127.0.0.1:9' };
  for (const name of Object.keys(env)) {
    if (/^(ONNXRUNTIME_NODE_INSTALL|npm_config_onnxruntime_node_install|npm_config_ignore_scripts|npm_config_dangerously_allow_all_scripts)/i.test(name)) delete env[name];
  }
  return env;
}

function npmMajor(): Promise<number> {
  return run('npm', ['--version'], { cwd: REPO_ROOT, env: npmEnv() }).then(({ stdout }) => Number(stdout.trim().split('.')[0]));
}

describe('npm install settings: offline-safe, and nothing npm does not know', function () {
  this.timeout(60_000);
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Manifest;

  it('npm warns about no setting of this repository', async () => {
    const { stderr } = await run('npm', ['config', 'list'], { cwd: REPO_ROOT, env: npmEnv() });
    assert.doesNotMatch(stderr, /Unknown (project|env|cli) config/i, stderr);
    const projectWarnings = stderr.split('\n').filter((line) => /^npm warn/i.test(line) && line.includes(join(REPO_ROOT, '.npmrc')));
    assert.deepEqual(projectWarnings, []);
    // The setting onnxruntime-node reads is no npm setting: neither in .npmrc nor anywhere npm would take it from.
    const npmrc = existsSync(join(REPO_ROOT, '.npmrc')) ? readFileSync(join(REPO_ROOT, '.npmrc'), 'utf8') : '';
    assert.doesNotMatch(npmrc, /^\s*onnxruntime-node-install/m);
  });

  it("denies onnxruntime-node's install script, and every dependency install script is decided", () => {
    assert.equal(manifest.allowScripts?.['onnxruntime-node'], false, 'package.json allowScripts denies the CUDA download');
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
    const withScripts = [...new Set(Object.entries(lock.packages).filter(([, entry]) => entry.hasInstallScript).map(([path]) => path.split('node_modules/').at(-1)!))].sort();
    assert.ok(withScripts.includes('onnxruntime-node'), `the lockfile's packages with install scripts: ${withScripts.join(', ')}`);
    // An undecided one would run (npm 11) or be skipped with a notice after every install (npm 12): decide it here.
    const decided = Object.keys(manifest.allowScripts ?? {}).map((key) => key.replace(/(?<=.)@.*$/, ''));
    assert.deepEqual(withScripts.filter((name) => !decided.includes(name)), [], 'add each to package.json allowScripts');
    const allowed = Object.entries(manifest.allowScripts ?? {}).filter(([, allow]) => allow).map(([key]) => key);
    assert.deepEqual(allowed, SCRIPTS_ALLOWED, 'a dependency whose install script runs: say why in SCRIPTS_ALLOWED');
  });

  it("npm skips onnxruntime-node's install script: rebuilding it attempts no download", async function () {
    // allowScripts is npm's from 11.16 on, and denials skip scripts from 11.17 at the latest; npm 10 ignores it.
    if ((await npmMajor()) < 11) this.skip();
    const { stdout, stderr } = await run('npm', ['rebuild', 'onnxruntime-node', '--foreground-scripts'], { cwd: REPO_ROOT, env: npmEnv() }).catch(
      (error: { stdout?: string; stderr?: string }) => assert.fail(`npm rebuild ran onnxruntime-node's install script:\n${error.stdout ?? ''}${error.stderr ?? ''}`),
    );
    assert.doesNotMatch(stdout + stderr, /script\/install|Downloading|ECONNREFUSED/, stdout + stderr);
  });
});

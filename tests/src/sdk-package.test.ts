// The SDK as someone outside the checkout gets it: `npm pack` of libs/protos and libs/client, both tarballs
// installed into an empty project, and a script there that requires @inference-mesh/client and classifies against
// the real mesh, and finds @inference-mesh/client/queue (without the main entry loading amqplib) (the README's "Using the SDK in your own project" runs the same commands).
import { REPO_ROOT } from '@inference-mesh/launcher';
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { useMesh } from './mesh-fixture';

const run = promisify(execFile);

const SCRIPT = `
const { PipelineClient } = require('@inference-mesh/client');
// A gRPC-only user never loads amqplib: the queue client is a subpath of its own.
const amqplibByMain = Object.keys(require.cache).some((path) => path.includes('/node_modules/amqplib/'));
const queue = require('@inference-mesh/client/queue');
async function main() {
  const client = new PipelineClient({ target: process.argv[2] });
  try {
    const { results } = await client.classify(['a gorgeous, witty, seductive movie.', 'the plot is a tedious, joyless mess.']);
    const bulk = [];
    for await (const item of client.classifyAll(['a masterpiece', '', 'a waste of time'])) {
      bulk.push(item.error ? { index: item.index, error: item.error.codeName } : { index: item.index, label: item.result.label });
    }
    const health = await client.health();
    console.log(JSON.stringify({ labels: results.map((r) => r.label), bulk, health, resolved: require.resolve('@inference-mesh/client'),
      queue: { amqplibByMain, client: typeof queue.QueueClient.connect, header: queue.PUBLISHED_AT_HEADER, resolved: require.resolve('@inference-mesh/client/queue') } }));
  } finally {
    client.close();
  }
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

describe('the SDK packed with npm pack works in an empty project', function () {
  this.timeout(120_000);
  const fixture = useMesh();
  let dir: string | undefined;
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs from the two tarballs alone and classifies against the mesh', async () => {
    dir = mkdtempSync(join(tmpdir(), 'imesh-sdk-package-'));
    await run('npm', ['pack', '--pack-destination', dir, '-w', 'libs/protos', '-w', 'libs/client'], { cwd: REPO_ROOT });
    const tarballs = readdirSync(dir).filter((name) => name.endsWith('.tgz')).sort();
    assert.deepEqual(tarballs, ['inference-mesh-client-0.1.0.tgz', 'inference-mesh-protos-0.1.0.tgz']);
    assert.ok(!existsSync(join(REPO_ROOT, 'libs', 'protos', 'protos')), 'the packed copy of protos/ is removed after packing');

    const project = join(dir, 'app');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'sdk-smoke', version: '1.0.0', private: true }));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs.map((name) => join('..', name))], { cwd: project });
    const installed = readdirSync(join(project, 'node_modules'));
    assert.ok(!installed.includes('yaml'), 'the SDK brings no CLI dependencies');
    assert.deepEqual(readdirSync(join(project, 'node_modules', '@inference-mesh')).sort(), ['client', 'protos']);

    writeFileSync(join(project, 'classify.js'), SCRIPT);
    // The project's own node_modules only: nothing may come from the checkout.
    const { stdout } = await run(process.execPath, ['classify.js', fixture.mesh.gateway], { cwd: project, env: { ...process.env, NODE_PATH: '' } });
    const answer = JSON.parse(stdout) as {
      labels: string[];
      bulk: unknown[];
      health: string;
      resolved: string;
      queue: { amqplibByMain: boolean; client: string; header: string; resolved: string };
    };
    assert.deepEqual(answer.labels, ['positive', 'negative']);
    assert.deepEqual(answer.bulk, [
      { index: 0, label: 'positive' },
      { index: 1, error: 'INVALID_ARGUMENT' },
      { index: 2, label: 'negative' },
    ]);
    assert.equal(answer.health, 'SERVING');
    assert.ok(answer.resolved.startsWith(join(project, 'node_modules')), answer.resolved);
    assert.deepEqual({ ...answer.queue, resolved: undefined }, { amqplibByMain: false, client: 'function', header: 'x-imesh-published-at', resolved: undefined });
    assert.equal(answer.queue.resolved, join(project, 'node_modules', '@inference-mesh', 'client', 'dist', 'queue', 'index.js'));
    assert.ok(installed.includes('amqplib'), 'the queue client\'s one dependency beyond gRPC');
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules', '@inference-mesh', 'client', 'package.json'), 'utf8')) as { bin?: unknown };
    assert.equal(manifest.bin, undefined);
  });
});

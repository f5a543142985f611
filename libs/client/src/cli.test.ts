import { SERVICE_NAMES } from '@inference-mesh/protos';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startFakePipelineServer, type FakePipelineServer } from './testing/fake-pipeline-server';

const IMESH = join(__dirname, '..', 'bin', 'imesh.js');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs bin/imesh.js as a user would, feeding `stdin` when given. */
function imesh(args: readonly string[], stdin?: string | Buffer): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [IMESH, ...args], { env: { ...process.env, IMESH_TARGET: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

const lines = (text: string) => text.split('\n').filter((line) => line !== '');

describe('imesh (child process)', function () {
  // Starting node and loading grpc-js takes a few hundred ms, more on a busy machine.
  this.timeout(10_000);
  let server: FakePipelineServer;

  before(async () => {
    server = await startFakePipelineServer({ '': 'SERVING', [SERVICE_NAMES.pipeline]: 'SERVING' });
  });
  after(() => server.stop());

  it('classify TEXT... prints one JSON line per text and exits 0', async () => {
    const run = await imesh(['classify', '--target', server.target, 'good day', 'a dull day', '--version', '3']);
    assert.equal(run.stderr, '');
    assert.equal(run.code, 0);
    assert.deepEqual(lines(run.stdout), [
      '{"text": "good day", "label": "positive", "score": 0.9731, "model": "sentiment", "model_version": "3"}',
      '{"text": "a dull day", "label": "negative", "score": 0.8812, "model": "sentiment", "model_version": "3"}',
    ]);
  });

  it('classify --file - streams stdin in batches, in order, with scores for --top-k', async () => {
    const input = 'good 1\r\nbad 2\ngood 3\nbad 4\ngood 5\n';
    const run = await imesh(['classify', '--target', server.target, '--file', '-', '--batch-size', '2', '--top-k', '1'], input);
    assert.equal(run.stderr, '');
    assert.equal(run.code, 0);
    const printed = lines(run.stdout).map((line) => JSON.parse(line) as { text: string; label: string; scores: unknown[] });
    assert.deepEqual(printed.map((item) => item.text), ['good 1', 'bad 2', 'good 3', 'bad 4', 'good 5']);
    assert.deepEqual(printed[1]?.scores, [{ label: 'negative', score: 0.8812 }]);
  });

  it('exits 1 with "imesh: CODE: message" on a server error; an empty line is sent, not skipped', async () => {
    const unary = await imesh(['classify', '--target', server.target, 'good', '']);
    assert.equal(unary.code, 1);
    assert.equal(unary.stdout, '');
    assert.equal(unary.stderr, 'imesh: INVALID_ARGUMENT: texts[1] is empty\n');

    const streamed = await imesh(['classify', '--target', server.target, '-f', '-', '--batch-size', '2'], 'good\nbad\ngood\n\nmore\n');
    assert.equal(streamed.code, 1);
    assert.equal(lines(streamed.stdout).length, 2);
    assert.equal(streamed.stderr, 'imesh: INVALID_ARGUMENT: texts[1] is empty (in the batch from line 3 of stdin)\n');
  });

  it('exits 1 on input that is not UTF-8 rather than altering it', async () => {
    const run = await imesh(['classify', '--target', server.target, '-f', '-'], Buffer.from([0x67, 0x6f, 0x6f, 0x64, 0x0a, 0xff, 0x0a]));
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^imesh: stdin is not valid UTF-8/);
  });

  it('exits 2 with the usage on stderr for bad usage', async () => {
    const run = await imesh(['classify', '--top-k', 'many', 'x']);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^imesh: --top-k must be an integer >= 0, got "many"\n\nUsage: imesh <command>/);
  });

  it('health prints every status and exits 1 unless all are SERVING', async () => {
    const run = await imesh(['health', '--target', server.target]);
    assert.equal(run.code, 1);
    assert.deepEqual(lines(run.stdout).map((line) => line.split(/\s{2,}/)), [
      ['gateway (overall)', 'SERVING'],
      [SERVICE_NAMES.pipeline, 'SERVING'],
      [SERVICE_NAMES.tokenizer, 'SERVICE_UNKNOWN'],
      [SERVICE_NAMES.inference, 'SERVICE_UNKNOWN'],
      [SERVICE_NAMES.postprocess, 'SERVICE_UNKNOWN'],
    ]);

    for (const name of [SERVICE_NAMES.tokenizer, SERVICE_NAMES.inference, SERVICE_NAMES.postprocess]) {
      server.health.setStatus(name, 'SERVING');
    }
    const allServing = await imesh(['health', '--target', server.target]);
    assert.equal(allServing.code, 0);
    assert.equal(lines(allServing.stdout).length, 5);
  });
});

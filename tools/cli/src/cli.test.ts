import { SERVICE_NAMES } from '@inference-mesh/protos';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startFakePipelineServer, type FakePipelineServer } from '@inference-mesh/client';

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

  it('classify --timing adds the request\'s timing breakdown to each line, TEXT... and --file alike', async () => {
    for (const args of [['good day', 'a dull day'], ['--file', '-']]) {
      const run = await imesh(['classify', '--target', server.target, '--timing', ...args], 'good day\na dull day\n');
      assert.equal(run.code, 0, run.stderr);
      const printed = lines(run.stdout).map((line) => JSON.parse(line) as { timing?: { total_ms: number; model: { compute_ms: number } } });
      assert.equal(printed.length, 2);
      for (const line of printed) assert.deepEqual([line.timing?.total_ms, line.timing?.model.compute_ms], [2, 0.5]);
    }
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

  it('exits 1 with "imesh: CODE: message" on a server error; an empty text is sent, not skipped', async () => {
    const unary = await imesh(['classify', '--target', server.target, 'good', '']);
    assert.equal(unary.code, 1);
    assert.equal(unary.stdout, '');
    assert.equal(unary.stderr, 'imesh: INVALID_ARGUMENT: texts[1] is empty\n');
  });

  it('classify --file goes on past refused lines: an error line each, the rest classified, exit 1 saying how many', async () => {
    const run = await imesh(['classify', '--target', server.target, '-f', '-', '--batch-size', '2'], 'good\nbad\n\ngood\n\nmore\n');
    assert.equal(run.code, 1);
    assert.deepEqual(lines(run.stdout).map((line) => JSON.parse(line) as unknown), [
      { text: 'good', label: 'positive', score: 0.9731, model: 'sentiment', model_version: '1' },
      { text: 'bad', label: 'negative', score: 0.8812, model: 'sentiment', model_version: '1' },
      { text: '', line: 3, error: { code: 'INVALID_ARGUMENT', message: 'texts[2] is empty' } },
      { text: 'good', label: 'positive', score: 0.9731, model: 'sentiment', model_version: '1' },
      { text: '', line: 5, error: { code: 'INVALID_ARGUMENT', message: 'texts[4] is empty' } },
      { text: 'more', label: 'negative', score: 0.8812, model: 'sentiment', model_version: '1' },
    ]);
    assert.equal(run.stderr, 'imesh: 2 of 6 lines of stdin refused by the server (their error lines are in the output)\n');
  });

  it('classify --file --skip-invalid leaves refused lines out, counts them on stderr, and still exits 1', async () => {
    const run = await imesh(['classify', '--target', server.target, '-f', '-', '--skip-invalid'], 'good\n\nbad\n');
    assert.equal(run.code, 1);
    assert.deepEqual(lines(run.stdout).map((line) => (JSON.parse(line) as { text: string }).text), ['good', 'bad']);
    assert.equal(run.stderr, 'imesh: skipped 1 of 3 lines of stdin: refused by the server\n');
  });

  it('says what matters when the gateway cannot be reached, without grpc-js\'s diagnostics', async () => {
    for (const args of [['health'], ['classify', 'good']]) {
      const run = await imesh([...args, '--target', '127.0.0.1:1']);
      assert.equal(run.code, 1);
      assert.equal(run.stderr, 'imesh: UNAVAILABLE: No connection established (connect ECONNREFUSED 127.0.0.1:1)\n');
    }
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

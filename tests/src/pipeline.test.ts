import { isPipelineError, PipelineClient } from '@inference-mesh/client';
import { REPO_ROOT, type MeshService } from '@inference-mesh/launcher';
import { readSst2 } from '@inference-mesh/model-tools';
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { IN_PROCESS_BATCH, inProcessPredictions } from './in-process-predictions';
import { useMesh } from './mesh-fixture';

const run = promisify(execFile);

describe('the mesh, end to end (four processes, real gRPC)', function () {
  this.timeout(300_000);
  const fixture = useMesh();
  let client: PipelineClient;
  before(() => {
    client = new PipelineClient({ target: fixture.mesh.gateway });
  });
  after(() => client.close());

  it('answers every text of dev.tsv as the model does in-process, for both versions', async () => {
    const texts = readSst2('dev').map((row) => row.text);
    for (const version of ['1', '2']) {
      const expected = await inProcessPredictions(version, texts);
      const chunks: Promise<void>[] = [];
      let mismatches = 0;
      let maxScoreError = 0;
      // Same 64-text batches as the in-process run (so padding is the same), four calls in flight.
      const starts = Array.from({ length: Math.ceil(texts.length / IN_PROCESS_BATCH) }, (_, i) => i * IN_PROCESS_BATCH);
      const worker = async () => {
        for (let start = starts.shift(); start !== undefined; start = starts.shift()) {
          const response = await client.classify(texts.slice(start, start + IN_PROCESS_BATCH), { version });
          response.results.forEach((result, i) => {
            const want = expected[start + i]!;
            assert.equal(result.modelVersion, version);
            assert.equal(result.model, 'sentiment');
            if (result.label !== (want.label === 1 ? 'positive' : 'negative')) mismatches++;
            maxScoreError = Math.max(maxScoreError, Math.abs(result.score - want.score));
          });
        }
      };
      for (let i = 0; i < 4; i++) chunks.push(worker());
      await Promise.all(chunks);
      assert.equal(mismatches, 0, `version ${version}: labels differing from in-process inference`);
      // The model service may merge concurrent calls into one batch padded differently from the reference, which
      // moves float32 sums in their last bits; labels must not change.
      assert.ok(maxScoreError < 1e-5, `version ${version}: largest score difference ${maxScoreError}`);
    }
  });

  it('serves the latest version unless one is pinned, and cuts scores to top_k', async () => {
    const latest = await client.classify(['a gorgeous, witty, seductive movie.']);
    assert.equal(latest.results[0]!.modelVersion, '2');
    assert.ok(latest.requestId.length > 0, 'the gateway generates a request id');
    const pinned = await client.classify(['a gorgeous, witty, seductive movie.'], { version: '1', topK: 1, requestId: 'req-7' });
    assert.equal(pinned.requestId, 'req-7');
    assert.equal(pinned.results[0]!.modelVersion, '1');
    assert.deepEqual(pinned.results[0]!.scores.map((s) => s.label), ['positive']);
    const all = await client.classify(['dull and lifeless'], { topK: 0 });
    const scores = all.results[0]!.scores;
    assert.deepEqual(scores.map((s) => s.label), ['negative', 'positive']);
    assert.ok(Math.abs(scores[0]!.score + scores[1]!.score - 1) < 1e-6);
  });

  it('fails DEADLINE_EXCEEDED when the caller\'s deadline is too short for the pipeline, and keeps serving', async () => {
    await assert.rejects(client.classify(['a gorgeous, witty, seductive movie.'], { deadlineMs: 1 }), (error: unknown) => {
      assert.ok(isPipelineError(error));
      assert.equal(error.codeName, 'DEADLINE_EXCEEDED');
      return true;
    });
    assert.equal((await client.classify(['a gorgeous, witty, seductive movie.'])).results[0]!.label, 'positive');
  });

  it('carries many requests on one ClassifyStream, matched by request id', async () => {
    const stream = client.classifyStream();
    const texts = ['a masterpiece', 'a waste of time', 'thrilling and heartfelt', 'boring , predictable mess'];
    const responses = await Promise.all(texts.map((text) => stream.send([text])));
    await stream.close();
    assert.deepEqual(responses.map((r) => r.results[0]!.label), ['positive', 'negative', 'positive', 'negative']);
  });

  it('refuses one bad request on a stream with its own error, and the stream carries on', async () => {
    const stream = client.classifyStream();
    const [good, bad, after] = await Promise.allSettled([stream.send(['a masterpiece']), stream.send(['fine', '']), stream.send(['a waste of time'])]);
    await stream.close();
    assert.equal(good.status === 'fulfilled' && good.value.results[0]!.label, 'positive');
    assert.ok(bad.status === 'rejected' && isPipelineError(bad.reason) && bad.reason.codeName === 'INVALID_ARGUMENT');
    assert.match((bad as PromiseRejectedResult).reason.details, /texts\[1\] is empty/);
    assert.equal(after.status === 'fulfilled' && after.value.results[0]!.label, 'negative');
  });

  it('imesh classify (via npx, as the README says) prints positive and negative', async () => {
    const env = { ...process.env, IMESH_TARGET: fixture.mesh.gateway };
    const { stdout } = await run('npx', ['--no-install', 'imesh', 'classify', 'a gorgeous, witty, seductive movie.', 'the plot is a tedious, joyless mess.'], { cwd: REPO_ROOT, env });
    const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(lines.map((l) => [l.text, l.label, l.model, l.model_version]), [
      ['a gorgeous, witty, seductive movie.', 'positive', 'sentiment', '2'],
      ['the plot is a tedious, joyless mess.', 'negative', 'sentiment', '2'],
    ]);
    assert.ok(typeof lines[0]!.score === 'number' && (lines[0]!.score as number) > 0.5);
  });

  it('every service answers server reflection (grpcurl list) with its own service and health', async () => {
    const protoPath = join(require.resolve('@grpc/reflection/package.json'), '..', 'build', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto');
    const Reflection = (grpc.loadPackageDefinition(loadSync(protoPath, { keepCase: true })) as any).grpc.reflection.v1.ServerReflection;
    const expected: Record<MeshService, string> = {
      gateway: 'inference_mesh.pipeline.v1.PipelineService',
      tokenizer: 'inference_mesh.tokenizer.v1.TokenizerService',
      model: 'inference.GRPCInferenceService',
      postprocess: 'inference_mesh.postprocess.v1.PostprocessService',
    };
    for (const [service, name] of Object.entries(expected)) {
      const client = new Reflection(fixture.mesh.services[service as MeshService].address, grpc.credentials.createInsecure());
      const call = client.ServerReflectionInfo();
      const listed = new Promise<string[]>((resolve, reject) => {
        call.on('data', (response: { list_services_response?: { service: { name: string }[] } }) =>
          resolve(response.list_services_response!.service.map((s) => s.name).sort()),
        );
        call.on('error', reject);
      });
      call.write({ list_services: '' });
      const names = await listed;
      call.end();
      client.close();
      assert.deepEqual(names, [name, 'grpc.health.v1.Health'].sort(), service);
    }
  });

  it('imesh health shows every service SERVING through the gateway', async () => {
    const { stdout } = await run(process.execPath, [join(REPO_ROOT, 'tools', 'cli', 'bin', 'imesh.js'), 'health', '--target', fixture.mesh.gateway]);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 5, stdout);
    for (const line of lines) assert.match(line, /SERVING$/);
  });

  it('imesh bench loads the running mesh, unary and streamed, and exits 0 with no errors', async () => {
    for (const mode of [[], ['--stream']]) {
      const { stdout } = await run(process.execPath, [
        join(REPO_ROOT, 'tools', 'cli', 'bin', 'imesh.js'),
        'bench', '--target', fixture.mesh.gateway, '--concurrency', '1,4', '--warmup-s', '0.1', '--duration-s', '0.5', ...mode,
      ]);
      // A line per level, each followed by its answers' mean timing breakdown.
      const lines = stdout.trim().split('\n').slice(1);
      const levels = lines.filter((_, index) => index % 2 === 0);
      assert.equal(levels.length, 2, stdout);
      assert.equal(lines.length, 4, stdout);
      for (const line of levels) assert.match(line, /callers: +[1-9]\d* texts\/s, p50 [\d.]+ ms, p95 [\d.]+ ms, p99 [\d.]+ ms, 0 errors$/);
      for (const line of lines.filter((_, index) => index % 2 === 1)) assert.match(line, /^ +mean ms of [1-9]\d* answers: caller [\d.]+ = edge /);
    }
  });
});

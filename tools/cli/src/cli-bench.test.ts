import assert from 'node:assert/strict';
import type { BenchCommand } from './cli-args';
import { runBench } from './cli-bench';
import { PipelineClient, startFakePipelineServer, type FakePipelineServer } from '@inference-mesh/client';

describe('imesh bench (runBench)', function () {
  this.timeout(20_000);
  let server: FakePipelineServer;
  let client: PipelineClient;
  before(async () => {
    server = await startFakePipelineServer();
    client = new PipelineClient({ target: server.target });
  });
  after(async () => {
    client.close();
    await server.stop();
  });

  const command = (extra: Partial<BenchCommand> = {}): BenchCommand => ({
    kind: 'bench',
    connection: { target: server.target },
    concurrency: [1, 4],
    warmupMs: 50,
    durationMs: 300,
    stream: false,
    ...extra,
  });

  for (const stream of [false, true]) {
    it(`measures each concurrency level ${stream ? 'over one stream' : 'with unary calls'}, cycling through the texts`, async () => {
      const before = server.requests.length;
      const printed: string[] = [];
      const levels = await runBench(client, command({ stream, model: 'm', version: '2' }), ['good one', 'sleep:2'], (line) => printed.push(line));
      assert.deepEqual(levels.map((l) => l.concurrency), [1, 4]);
      for (const level of levels) {
        assert.equal(level.errors, 0);
        assert.ok(level.texts > 0 && level.textsPerSecond > 0);
        assert.ok(level.p50Ms > 0 && level.p50Ms <= level.p95Ms && level.p95Ms <= level.p99Ms);
      }
      const sent = server.requests.slice(before);
      assert.ok(sent.every((r) => r.texts.length === 1 && r.options?.modelName === 'm' && r.options.modelVersion === '2'), 'one text per request, with the selection');
      assert.ok(new Set(sent.map((r) => Buffer.from(r.texts[0]!).toString())).size === 2, 'both texts were sent');
      assert.equal(printed.length, 5, 'a header, and a line per level with its mean breakdown');
      assert.match(printed[3]!, /^ +4 callers: +\d+ texts\/s, p50 [\d.]+ ms/);
      // The fake gateway's fixed timing: its means are its figures.
      assert.match(printed[4]!, /^ +mean ms of \d+ answers: caller [\d.]+ = edge -?[\d.]+ \+ gateway 2\.00; gateway: admission 0\.13, .*model 1\.00 \(server 0\.75: queue 0\.13, compute 0\.50\)/);
      assert.ok(levels.every((level) => level.breakdown?.startsWith('mean ms')));
    });
  }

  it('counts failed requests as errors with a sample message, not as answers', async () => {
    const [level] = await runBench(client, command({ concurrency: [2] }), ['fine', ''], () => undefined);
    assert.ok(level!.errors > 0 && level!.texts > 0);
    assert.match(level!.errorSamples[0]!, /INVALID_ARGUMENT: texts\[0\] is empty/);
  });
});

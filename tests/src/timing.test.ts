// Where the time went, per request, against the real mesh: every answer carries its breakdown (unary in the
// imesh-timing trailer, on a stream in each answer), its parts are present and consistent with each other, `imesh
// classify --timing` prints it, and the gateway's /metrics has the per-hop overhead histogram. No speed assertions.
import { PipelineClient, type RequestTiming } from '@inference-mesh/client';
import { MESH_SERVICES } from '@inference-mesh/launcher';
import { strict as assert } from 'node:assert';
import { runImesh } from './imesh-cli';
import { useMesh } from './mesh-fixture';

/** Rounding (3 decimals on the trailer, float32 on the stream) and the two clocks of one process. */
const TOLERANCE_MS = 1;

/** Every part present and >= 0, the parts within the whole, each service's own time within what the gateway saw. */
function assertConsistent(timing: RequestTiming | undefined, what: string): void {
  assert.ok(timing, `${what}: no timing`);
  const hops = { tokenizer: timing.tokenizer, model: timing.model, postprocess: timing.postprocess };
  const parts = [timing.totalMs, timing.admissionMs, timing.coalesceMs, timing.model.queueMs, timing.model.computeMs];
  for (const hop of Object.values(hops)) parts.push(hop.clientMs, hop.serverMs);
  assert.ok(parts.every((ms) => Number.isFinite(ms) && ms >= 0), `${what}: a part is missing or negative: ${JSON.stringify(timing)}`);
  for (const [name, hop] of Object.entries(hops)) {
    assert.ok(hop.clientMs > 0 && hop.serverMs > 0, `${what}: ${name} has no time of its own: ${JSON.stringify(hop)}`);
    assert.ok(hop.serverMs <= hop.clientMs + TOLERANCE_MS, `${what}: ${name}'s server time exceeds what the gateway saw: ${JSON.stringify(hop)}`);
  }
  const sum = timing.admissionMs + timing.coalesceMs + timing.tokenizer.clientMs + timing.model.clientMs + timing.postprocess.clientMs;
  assert.ok(sum <= timing.totalMs + TOLERANCE_MS, `${what}: the parts (${sum} ms) exceed the gateway's total: ${JSON.stringify(timing)}`);
  const modelOwn = timing.model.queueMs + timing.model.computeMs;
  assert.ok(modelOwn <= timing.model.serverMs + TOLERANCE_MS, `${what}: queue + compute exceed the model service's time: ${JSON.stringify(timing.model)}`);
  assert.ok(timing.model.computeMs > 0, `${what}: no ONNX Runtime compute`);
}

describe('timing breakdown per request (the real mesh)', function () {
  this.timeout(120_000);
  // Free ports for /metrics (each service logs the one it bound), so parallel meshes do not collide.
  const fixture = useMesh({ env: Object.fromEntries(MESH_SERVICES.map((service) => [`IMESH_${service.toUpperCase()}_METRICS_PORT`, '0'])) });
  let client: PipelineClient;
  before(() => {
    client = new PipelineClient({ target: fixture.mesh.gateway });
  });
  after(() => client.close());

  it('answers a unary Classify with a consistent breakdown', async () => {
    for (const texts of [['a gorgeous, witty, seductive movie.'], ['flat.', 'an ugly, boring waste of two hours.', 'a small gem.']]) {
      const response = await client.classify(texts);
      assert.equal(response.results.length, texts.length);
      assertConsistent(response.timing, `${texts.length} texts`);
    }
  });

  it('gives each request its own consistent breakdown when concurrent requests are merged', async () => {
    const responses = await Promise.all(Array.from({ length: 24 }, (_, index) => client.classify([`request ${index} was fine`])));
    responses.forEach((response, index) => assertConsistent(response.timing, `concurrent request ${index}`));
  });

  it('answers each request on a ClassifyStream with its breakdown', async () => {
    const stream = client.classifyStream();
    try {
      const responses = await Promise.all(Array.from({ length: 8 }, (_, index) => stream.send([`streamed text ${index}`])));
      responses.forEach((response, index) => assertConsistent(response.timing, `streamed request ${index}`));
    } finally {
      await stream.close();
    }
  });

  it('imesh classify --timing prints the breakdown in each line', async () => {
    const run = await runImesh(['classify', '--target', fixture.mesh.gateway, '--timing', 'a small gem.', 'flat.']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as { timing?: Record<string, unknown> });
    assert.equal(lines.length, 2);
    for (const line of lines) {
      assert.deepEqual(Object.keys(line.timing ?? {}), ['total_ms', 'admission_ms', 'coalesce_ms', 'tokenizer', 'model', 'postprocess']);
      assert.ok((line.timing!['total_ms'] as number) > 0);
    }
  });

  it("puts each hop's overhead histogram on the gateway's /metrics", async () => {
    await client.classify(['one more for the metrics']);
    const listening = fixture.logs.map((line) => /^gateway: (\{.*"msg":"metrics listening".*\})$/.exec(line)).find((match) => match);
    assert.ok(listening, 'the gateway logs its metrics port');
    const port = (JSON.parse(listening[1]!) as { port: number }).port;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const hop of ['tokenizer', 'model', 'postprocess']) {
      const count = new RegExp(`^imesh_gateway_hop_overhead_duration_count\\{[^}]*hop="${hop}"[^}]*\\} (\\d+)`, 'm').exec(text);
      assert.ok(count && Number(count[1]) > 0, `no overhead samples for ${hop} in:\n${text.split('\n').filter((l) => l.includes('overhead')).join('\n')}`);
    }
  });
});

import * as grpc from '@grpc/grpc-js';
import { isPipelineError, PipelineClient } from '@inference-mesh/client';
import { exitOf, type ServiceProcess } from '@inference-mesh/launcher';
import { loadInferenceProto, loadPipelineProto, type inference } from '@inference-mesh/protos';
import { strict as assert } from 'node:assert';
import { SteadyLoad } from './load';
import { report, useProcessGroup } from './resilience-fixture';

/** The gateway's debug line for each retry it sends to the model. */
const MODEL_RETRY = /"msg":"retrying".*"hop":"model"/;

/**
 * Fault injection with several model replicas behind one gateway (a comma-separated IMESH_MODEL_TARGET, balanced
 * round-robin per call), under steady load from the SDK: bad input while the load runs, a replica stopped with
 * SIGTERM, then one killed with SIGKILL. Issue 6, scenarios 9, 1 and 2.
 */
describe('resilience: model replicas under load', function () {
  this.timeout(180_000);
  const group = useProcessGroup();
  let models: ServiceProcess[];
  let gateway: ServiceProcess;
  let client: PipelineClient;

  before(async function () {
    this.timeout(180_000);
    // A 20 ms batching delay keeps several calls waiting in each replica's batcher at any moment, so a replica
    // stopped or killed under load always has work in flight.
    const modelEnv = { IMESH_SHUTDOWN_GRACE_MS: '1000', IMESH_DRAIN_TIMEOUT_MS: '10000', IMESH_MODEL_MAX_QUEUE_DELAY_US: '20000' };
    const [tokenizer, postprocess, ...replicas] = await Promise.all([
      group.launch('tokenizer', { IMESH_MAX_BATCH_TEXTS: '64' }),
      group.launch('postprocess', { IMESH_MAX_BATCH_TEXTS: '64' }),
      group.launch('model', modelEnv),
      group.launch('model', modelEnv),
      group.launch('model', modelEnv),
    ]);
    models = replicas;
    gateway = await group.launch('gateway', {
      IMESH_TOKENIZER_TARGET: tokenizer!.address,
      IMESH_MODEL_TARGET: models.map((m) => m.address).join(','),
      IMESH_POSTPROCESS_TARGET: postprocess!.address,
      IMESH_MAX_BATCH_TEXTS: '64',
      IMESH_LOG_LEVEL: 'debug',
    });
    client = new PipelineClient({ target: gateway.address });
  });
  after(() => client?.close());

  it('9. bad inputs sent while load runs: each gets its status, every other request succeeds', async () => {
    await using load = new SteadyLoad(client, { concurrency: 4 });
    await load.waitForSuccesses(20);
    const Pipeline = loadPipelineProto().grpc.inference_mesh.pipeline.v1.PipelineService;
    const raw = new Pipeline(gateway.address, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1 }) as unknown as grpc.Client & {
      Classify: (request: object, callback: (error: grpc.ServiceError | null) => void) => void;
    };
    const Inference = loadInferenceProto().grpc.inference.GRPCInferenceService;
    const model = new Inference(models[0]!.address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      ModelInfer: (request: inference.ModelInferRequest, callback: (error: grpc.ServiceError | null) => void) => void;
    };
    const ids = (values: number[]) => Buffer.from(new BigInt64Array(values.map(BigInt)).buffer);
    const infer = (mutate: (r: inference.ModelInferRequest) => void) => {
      const request: inference.ModelInferRequest = {
        modelName: 'sentiment',
        inputs: [
          { name: 'input_ids', datatype: 'INT64', shape: [1, 3] },
          { name: 'attention_mask', datatype: 'INT64', shape: [1, 3] },
        ],
        rawInputContents: [ids([2, 100, 3]), ids([1, 1, 1])],
      };
      mutate(request);
      return new Promise<void>((resolve, reject) => model.ModelInfer(request, (error) => (error ? reject(error) : resolve())));
    };
    const code = async (call: Promise<unknown>): Promise<[string, string]> => {
      try {
        await call;
        return ['OK', ''];
      } catch (error) {
        if (isPipelineError(error)) return [error.codeName, error.details];
        const e = error as grpc.ServiceError;
        return [grpc.status[e.code]!, e.details];
      }
    };
    const cases: [string, () => Promise<unknown>, string, RegExp][] = [
      ['empty batch', () => client.classify([]), 'INVALID_ARGUMENT', /texts is empty/],
      ['empty text', () => client.classify(['fine', '']), 'INVALID_ARGUMENT', /texts\[1\] is empty/],
      ['no texts field', () => new Promise<void>((resolve, reject) => raw.Classify({}, (e) => (e ? reject(e) : resolve()))), 'INVALID_ARGUMENT', /texts is empty/],
      ['invalid UTF-8', () => client.classify([Buffer.from('ok'), Buffer.from([0x61, 0xff, 0xfe])]), 'INVALID_ARGUMENT', /texts\[1\] is not valid UTF-8/],
      ['unknown model', () => client.classify(['x'], { model: 'no-such-model' }), 'NOT_FOUND', /no-such-model/],
      ['unknown version', () => client.classify(['x'], { version: '99' }), 'NOT_FOUND', /99/],
      ['batch over the limit', () => client.classify(Array.from({ length: 65 }, () => 'x')), 'INVALID_ARGUMENT', /at most 64/],
      [
        'message over the size limit',
        () => new Promise<void>((resolve, reject) => raw.Classify({ texts: [Buffer.alloc(5 * 1024 * 1024, 0x61)] }, (e) => (e ? reject(e) : resolve()))),
        'RESOURCE_EXHAUSTED',
        /./,
      ],
      ['ModelInfer: wrong input name', () => infer((r) => (r.inputs![0]!.name = 'input_idz')), 'INVALID_ARGUMENT', /input_idz/],
      ['ModelInfer: wrong datatype', () => infer((r) => (r.inputs![0]!.datatype = 'FP32')), 'INVALID_ARGUMENT', /FP32/],
      ['ModelInfer: wrong byte size', () => infer((r) => (r.rawInputContents![0] = ids([2, 3]))), 'INVALID_ARGUMENT', /bytes?/],
      [
        'ModelInfer: ids from another tokenizer',
        () => infer((r) => (r.parameters = { tokenizer_fingerprint: { stringParam: 'sha256:0000' } })),
        'FAILED_PRECONDITION',
        /tokenizer/,
      ],
    ];
    try {
      for (const [name, send, expected, message] of cases) {
        const [got, details] = await code(send());
        assert.equal(got, expected, `${name}: ${details}`);
        assert.match(details, message, name);
      }
      const long = 'a gorgeous , witty , seductive movie . '.repeat(26_215).slice(0, 1_048_576);
      const truncated = await client.classify([long]);
      assert.equal(truncated.results[0]!.truncated, true, 'a 1 MB text is served, truncated');
    } finally {
      raw.close();
      model.close();
    }
    await load.waitForSuccesses(10);
    const figures = await load.stop();
    report('9 bad inputs under load', figures, `${cases.length + 1} bad requests each answered with its status`);
    assert.deepEqual(figures.failures, [], 'every good request succeeded');
    assert.ok(models.every((m) => m.process.exitCode === null), 'no replica went down');
  });

  it('1. SIGTERM one of the replicas under steady load: health NOT_SERVING at once, in-flight work finishes, 0 failed', async () => {
    await using load = new SteadyLoad(client, { concurrency: 6 });
    await load.waitForSuccesses(50);
    const retriesBefore = group.logs.length;
    const victim = models[0]!;
    const health = new PipelineClient({ target: victim.address });
    const check = () => health.health('', { deadlineMs: 1_000 }).catch((error: unknown) => (isPipelineError(error) ? error.codeName : String(error)));
    assert.equal(await check(), 'SERVING');
    const exited = exitOf(victim.process);
    const signalledAt = Date.now();
    victim.process.kill('SIGTERM');
    // Within its 1 s grace the replica still answers, saying NOT_SERVING, so a load balancer can stop routing.
    let answer = await check();
    const askUntil = Date.now() + 10_000;
    while (answer === 'SERVING' && Date.now() < askUntil) answer = await check();
    health.close();
    assert.equal(answer, 'NOT_SERVING', 'the first answer after SIGTERM that is not SERVING');
    const { code, signal } = await exited;
    const exitMs = Date.now() - signalledAt;
    await load.waitForSuccesses(50);
    const figures = await load.stop();
    const retries = group.count('gateway', MODEL_RETRY, retriesBefore);
    report('1 SIGTERM one of the model replicas', figures, `replica exited ${code} after ${exitMs} ms; gateway retries ${retries}`);
    assert.deepEqual([code, signal], [0, null], 'a clean exit after draining');
    assert.deepEqual(figures.failures, [], 'no request failed');
    assert.equal(retries, 0, 'no call to the stopping replica failed: in-flight calls finished, new ones went elsewhere');
  });

  it('2. SIGKILL one of two live replicas under load: calls in flight on it are retried on the other, 0 failed', async () => {
    const concurrency = 8;
    await using load = new SteadyLoad(client, { concurrency });
    await load.waitForSuccesses(50);
    const logsBefore = group.logs.length;
    const victim = models[1]!;
    const exited = exitOf(victim.process);
    // Its calls take about a millisecond: frozen first, the replica surely holds some when it dies (round robin
    // keeps sending it its share), instead of by the luck of the moment.
    victim.process.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, 300));
    victim.process.kill('SIGKILL');
    assert.equal((await exited).signal, 'SIGKILL');
    await load.waitForSuccesses(100);
    const figures = await load.stop();
    const retries = group.count('gateway', MODEL_RETRY, logsBefore);
    report('2 SIGKILL one of two model replicas', figures, `${retries} calls in flight on it retried to the other replica`);
    assert.deepEqual(figures.failures, [], 'the client saw no failure');
    assert.ok(retries >= 1, 'calls were in flight on the killed replica, and were retried');
    assert.ok(retries <= concurrency, `retries (${retries}) are bounded by the calls that can be in flight on it (${concurrency})`);
    assert.equal(models[2]!.process.exitCode, null, 'the surviving replica serves');
  });
});

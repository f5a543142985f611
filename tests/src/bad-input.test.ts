import * as grpc from '@grpc/grpc-js';
import { isPipelineError, PipelineClient } from '@inference-mesh/client';
import { loadInferenceProto, loadPipelineProto, type inference } from '@inference-mesh/protos';
import { strict as assert } from 'node:assert';
import { useMesh } from './mesh-fixture';

type Outcome = { code: grpc.status; message: string };

async function outcome(promise: Promise<unknown>): Promise<Outcome> {
  try {
    await promise;
  } catch (error) {
    if (isPipelineError(error)) return { code: error.code, message: error.details };
    if (error instanceof Error && typeof (error as grpc.ServiceError).code === 'number') {
      return { code: (error as grpc.ServiceError).code, message: (error as grpc.ServiceError).details };
    }
    throw error;
  }
  return assert.fail('expected the call to fail');
}

describe('bad input gets a clear status, and the mesh stays up for everyone else', function () {
  this.timeout(120_000);
  const fixture = useMesh({ env: { IMESH_MAX_BATCH_TEXTS: '64' } });
  let client: PipelineClient;
  let model: grpc.Client & { ModelInfer: Function };
  let rawPipeline: grpc.Client & { Classify: Function };

  before(() => {
    client = new PipelineClient({ target: fixture.mesh.gateway });
    const Inference = loadInferenceProto().grpc.inference.GRPCInferenceService;
    model = new Inference(fixture.mesh.services.model.address, grpc.credentials.createInsecure()) as never;
    // No client-side size limit, so the server's own limit is what answers.
    const Pipeline = loadPipelineProto().grpc.inference_mesh.pipeline.v1.PipelineService;
    rawPipeline = new Pipeline(fixture.mesh.gateway, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1 }) as never;
  });
  after(() => {
    client.close();
    model.close();
    rawPipeline.close();
  });

  /** Sends the bad request together with a good one; the good one must still be answered correctly. */
  async function expectRefusal(bad: () => Promise<unknown>, code: grpc.status, message: RegExp): Promise<void> {
    const [refused, good] = await Promise.all([outcome(bad()), client.classify(['a gorgeous, witty, seductive movie.'])]);
    assert.equal(grpc.status[refused.code], grpc.status[code], refused.message);
    assert.match(refused.message, message);
    assert.equal(good.results[0]!.label, 'positive');
  }

  const infer = (request: inference.ModelInferRequest) =>
    new Promise((resolve, reject) => model.ModelInfer(request, (error: Error | null, response: unknown) => (error ? reject(error) : resolve(response))));
  const ids = (values: number[]) => Buffer.from(new BigInt64Array(values.map(BigInt)).buffer);
  const goodInfer = (): inference.ModelInferRequest => ({
    modelName: 'sentiment',
    inputs: [
      { name: 'input_ids', datatype: 'INT64', shape: [1, 3] },
      { name: 'attention_mask', datatype: 'INT64', shape: [1, 3] },
    ],
    rawInputContents: [ids([2, 100, 3]), ids([1, 1, 1])],
  });

  it('an empty batch: INVALID_ARGUMENT', () => expectRefusal(() => client.classify([]), grpc.status.INVALID_ARGUMENT, /texts is empty/));

  it('an empty string: INVALID_ARGUMENT naming its index', () =>
    expectRefusal(() => client.classify(['fine', '']), grpc.status.INVALID_ARGUMENT, /texts\[1\] is empty/));

  it('missing fields (a request with no texts at all): INVALID_ARGUMENT', () =>
    expectRefusal(
      () => new Promise((resolve, reject) => rawPipeline.Classify({}, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r)))),
      grpc.status.INVALID_ARGUMENT,
      /texts is empty/,
    ));

  it('invalid UTF-8: INVALID_ARGUMENT naming the text', () =>
    expectRefusal(() => client.classify([Buffer.from('ok'), Buffer.from([0x61, 0xff, 0xfe])]), grpc.status.INVALID_ARGUMENT, /texts\[1\] is not valid UTF-8/));

  it('an unknown model or version: NOT_FOUND', async () => {
    await expectRefusal(() => client.classify(['x'], { model: 'no-such-model' }), grpc.status.NOT_FOUND, /no-such-model/);
    await expectRefusal(() => client.classify(['x'], { version: '99' }), grpc.status.NOT_FOUND, /99/);
  });

  it('a batch over the configured limit: INVALID_ARGUMENT saying the limit', () =>
    expectRefusal(() => client.classify(Array.from({ length: 65 }, () => 'x')), grpc.status.INVALID_ARGUMENT, /at most 64/));

  it('a request over the message size limit: RESOURCE_EXHAUSTED', () =>
    expectRefusal(
      () => new Promise((resolve, reject) => rawPipeline.Classify({ texts: [Buffer.alloc(5 * 1024 * 1024, 0x61)] }, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r)))),
      grpc.status.RESOURCE_EXHAUSTED,
      /./,
    ));

  it('a 1 MB text is truncated to the model\'s length and flagged, not refused', async () => {
    const words = 'a gorgeous , witty , seductive movie . '.repeat(Math.ceil(1_048_576 / 40)).slice(0, 1_048_576);
    const response = await client.classify([words, 'short and sweet']);
    assert.deepEqual(response.results.map((r) => r.truncated), [true, false]);
    assert.equal(response.results[0]!.label, 'positive');
  });

  it('ModelInfer with a wrong input name, datatype, shape or byte size: INVALID_ARGUMENT before any batching', async () => {
    const cases: [string, (r: inference.ModelInferRequest) => void, RegExp][] = [
      ['name', (r) => (r.inputs![0]!.name = 'input_idz'), /input_idz/],
      ['datatype', (r) => (r.inputs![0]!.datatype = 'FP32'), /FP32/],
      ['shape', (r) => (r.inputs![0]!.shape = [1, 3, 1]), /shape|rank/i],
      ['byte size', (r) => (r.rawInputContents![0] = ids([2, 3])), /bytes?/],
      ['missing model name', (r) => (r.modelName = ''), /model_name|model name/i],
    ];
    for (const [, mutate, message] of cases) {
      const request = goodInfer();
      mutate(request);
      await expectRefusal(() => infer(request), grpc.status.INVALID_ARGUMENT, message);
    }
    assert.ok(await infer(goodInfer()), 'a well-formed ModelInfer still works');
  });

  it('ModelInfer with ids from another tokenizer: FAILED_PRECONDITION', () =>
    expectRefusal(
      () => infer({ ...goodInfer(), parameters: { tokenizer_fingerprint: { stringParam: 'sha256:0000' } } }),
      grpc.status.FAILED_PRECONDITION,
      /tokenizer/,
    ));

  it('left every service running', () => {
    for (const service of Object.values(fixture.mesh.services)) {
      assert.equal(service.process.exitCode, null, `${service.service} exited`);
    }
  });
});

import { Metadata, status } from '@grpc/grpc-js';
import type { inference, postprocess, tokenizer } from '@inference-mesh/protos';
import { createLogger, isServiceError } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { HOPS, type Hop, type HopPolicyConfig } from './config';
import type { Downstreams } from './downstreams';
import { HopPolicy } from './hop-policy';
import { ClassifyPipeline, type ClassifyInput } from './pipeline';
import { RequestTimer, type HopTiming } from './timing';

const policyConfig: HopPolicyConfig = {
  retryMaxAttempts: 1,
  retryInitialBackoffMs: 1,
  retryMaxBackoffMs: 1,
  breakerConsecutiveFailures: 100,
  breakerHalfOpenAfterMs: 1000,
  attemptTimeoutMs: 1000,
  bulkheadLimit: 10,
  bulkheadQueue: 10,
};
const logger = createLogger('test', 'error', () => {});
const budget = () => ({ deadlineMs: Date.now() + 5000, signal: new AbortController().signal });

/** A scripted stand-in for the three services: records what the pipeline sends, answers like they would. */
class FakeDownstreams implements Downstreams {
  readonly sent: { encode: tokenizer.EncodeRequest[]; metadata: inference.ModelMetadataRequest[]; infer: inference.ModelInferRequest[]; postprocess: postprocess.PostprocessRequest[] } = {
    encode: [],
    metadata: [],
    infer: [],
    postprocess: [],
  };
  metadataInputs = ['input_ids', 'attention_mask'];
  logits: (rows: number) => { shape: number[]; bytes: Buffer } = (rows) => ({ shape: [rows, 2], bytes: Buffer.alloc(rows * 8) });

  async encode(request: tokenizer.EncodeRequest): Promise<tokenizer.EncodeResponse__Output> {
    this.sent.encode.push(request);
    const rows = request.texts!.length;
    const sequenceLength = 4;
    return {
      rows,
      sequenceLength,
      inputIds: Buffer.alloc(rows * sequenceLength * 8, 1),
      attentionMask: Buffer.alloc(rows * sequenceLength * 8, 2),
      truncatedRows: rows > 1 ? [1] : [],
      maxLength: 128,
      tokenizerFingerprint: 'sha256:abc',
      modelVersion: request.modelVersion || '2',
    };
  }
  async modelMetadata(request: inference.ModelMetadataRequest): Promise<inference.ModelMetadataResponse__Output> {
    this.sent.metadata.push(request);
    return {
      name: request.name!,
      versions: [request.version!],
      platform: 'onnxruntime_onnx',
      inputs: this.metadataInputs.map((name) => ({ name, datatype: 'INT64', shape: [-1, -1] })),
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 2] }],
    };
  }
  async modelInfer(request: inference.ModelInferRequest): Promise<inference.ModelInferResponse__Output> {
    this.sent.infer.push(request);
    const rows = Number(request.inputs![0]!.shape![0]);
    const { shape, bytes } = this.logits(rows);
    return {
      modelName: request.modelName!,
      modelVersion: request.modelVersion!,
      id: '',
      parameters: {},
      outputs: [{ name: 'logits', datatype: 'FP32', shape, parameters: {}, contents: null }],
      rawOutputContents: [bytes],
    };
  }
  async postprocess(request: postprocess.PostprocessRequest): Promise<postprocess.PostprocessResponse__Output> {
    this.sent.postprocess.push(request);
    return {
      predictions: Array.from({ length: request.rows! }, (_, row) => ({
        label: row % 2 ? 'negative' : 'positive',
        score: 0.9,
        scores: [{ label: 'positive', score: 0.9 }],
      })),
    };
  }
  close(): void {}
}

/** Answers like FakeDownstreams, and times each call the way the real connection does (fixed, known figures). */
class TimedDownstreams extends FakeDownstreams {
  override async encode(request: tokenizer.EncodeRequest, _options?: unknown, timing?: HopTiming) {
    Object.assign(timing ?? {}, { clientMs: 1, serverMs: 0.25 });
    return super.encode(request);
  }
  override async modelInfer(request: inference.ModelInferRequest, _options?: unknown, timing?: HopTiming) {
    Object.assign(timing ?? {}, { clientMs: 4, serverMs: 3 });
    const response = await super.modelInfer(request);
    return { ...response, parameters: { imesh_queue_ms: { doubleParam: 0.5, parameterChoice: 'doubleParam' as const }, imesh_compute_ms: { doubleParam: 2, parameterChoice: 'doubleParam' as const } } };
  }
  override async postprocess(request: postprocess.PostprocessRequest, _options?: unknown, timing?: HopTiming) {
    Object.assign(timing ?? {}, { clientMs: 0.5, serverMs: Number.NaN });
    return super.postprocess(request);
  }
}

function pipelineWith(
  downstreams: Downstreams,
  maxBatchTexts = 8,
  coalescing?: { maxRows: number; maxInFlight: number },
  metrics?: { recordHopOverhead(hop: string, overheadMs: number): void },
): ClassifyPipeline {
  const policies = Object.fromEntries(HOPS.map((hop) => [hop, new HopPolicy(hop, policyConfig, logger)])) as Record<Hop, HopPolicy>;
  return new ClassifyPipeline(downstreams, policies, { defaultModel: 'sentiment', maxBatchTexts, ...(coalescing && { coalescing }), metrics });
}

const input = (texts: string[], extra: Partial<ClassifyInput> = {}): ClassifyInput => ({
  texts: texts.map((t) => Buffer.from(t)),
  modelName: '',
  modelVersion: '',
  topK: 0,
  ...extra,
});

async function rejectionOf(promise: Promise<unknown>): Promise<{ code: number; message: string }> {
  const error = await promise.then(() => assert.fail('expected a rejection'), (e: unknown) => e);
  assert.ok(isServiceError(error));
  return error;
}

describe('ClassifyPipeline', () => {
  it("fills a timed request's breakdown: each hop's times, the model's queue and compute, and the hops' overhead metrics", async () => {
    const overheads: [string, number][] = [];
    const pipeline = pipelineWith(new TimedDownstreams(), 8, undefined, { recordHopOverhead: (hop, ms) => overheads.push([hop, ms]) });
    const timing = new RequestTimer();
    await pipeline.classify(input(['good']), { ...budget(), timing });
    const message = timing.toMessage();
    assert.deepEqual(message.tokenizer, { clientMs: 1, serverMs: 0.25 });
    assert.deepEqual(message.model, { clientMs: 4, serverMs: 3 });
    assert.deepEqual(message.postprocess, { clientMs: 0.5, serverMs: 0 }, 'a service that reports nothing counts 0');
    assert.deepEqual([message.modelQueueMs, message.modelComputeMs], [0.5, 2]);
    assert.ok(message.admissionMs >= 0 && message.admissionMs <= message.totalMs);
    assert.deepEqual(overheads, [['tokenizer', 0.75], ['model', 1]], 'no overhead without a server time');
  });

  it('gives merged requests the shared call\'s hop times', async () => {
    const pipeline = pipelineWith(new TimedDownstreams(), 8, { maxRows: 8, maxInFlight: 1 });
    const timers = [new RequestTimer(), new RequestTimer(), new RequestTimer()];
    await Promise.all(timers.map((timing, index) => pipeline.classify(input([`text ${index}`]), { ...budget(), timing })));
    assert.equal(timers[1]!.hops, timers[2]!.hops, 'the two that waited rode in one call');
    for (const timer of timers) assert.deepEqual(timer.toMessage().model, { clientMs: 4, serverMs: 3 });
  });

  it('sends one batched call per hop and forwards the tokenizer\'s bytes to the model untouched', async () => {
    const fake = new FakeDownstreams();
    const results = await pipelineWith(fake).classify(input(['good', 'bad', 'fine'], { topK: 1 }), budget());
    assert.equal(fake.sent.encode.length, 1);
    assert.equal(fake.sent.infer.length, 1);
    assert.equal(fake.sent.postprocess.length, 1);
    assert.equal(fake.sent.encode[0]!.modelName, 'sentiment', 'the default model fills an empty name');
    const infer = fake.sent.infer[0]!;
    assert.equal(infer.modelVersion, '2', 'the model is pinned to the version the tokenizer resolved');
    assert.deepEqual(infer.inputs!.map((i) => [i.name, i.datatype, i.shape]), [
      ['input_ids', 'INT64', [3, 4]],
      ['attention_mask', 'INT64', [3, 4]],
    ]);
    const [ids, mask] = infer.rawInputContents as Buffer[];
    assert.ok(ids!.every((b) => b === 1) && mask!.every((b) => b === 2));
    assert.deepEqual(infer.parameters, { tokenizer_fingerprint: { stringParam: 'sha256:abc' } });
    assert.deepEqual(infer.outputs, [{ name: 'logits' }]);
    const post = fake.sent.postprocess[0]!;
    assert.deepEqual([post.modelVersion, post.rows, post.numLabels, post.topK], ['2', 3, 2, 1]);
    assert.deepEqual(results.map((r) => [r.label, r.modelName, r.modelVersion, r.truncated]), [
      ['positive', 'sentiment', '2', false],
      ['negative', 'sentiment', '2', true],
      ['positive', 'sentiment', '2', false],
    ]);
  });

  it('feeds token_type_ids as zeros to models that take it, and asks for metadata once per version', async () => {
    const fake = new FakeDownstreams();
    fake.metadataInputs = ['input_ids', 'token_type_ids', 'attention_mask'];
    const pipeline = pipelineWith(fake);
    await pipeline.classify(input(['a']), budget());
    await pipeline.classify(input(['b']), budget());
    assert.equal(fake.sent.metadata.length, 1);
    const raw = fake.sent.infer[0]!.rawInputContents as Buffer[];
    assert.deepEqual(fake.sent.infer[0]!.inputs!.map((i) => i.name), ['input_ids', 'token_type_ids', 'attention_mask']);
    assert.equal(raw[1]!.length, raw[0]!.length);
    assert.ok(raw[1]!.every((b) => b === 0));
  });

  it('refuses a model whose inputs the tokenizer cannot feed, with FAILED_PRECONDITION', async () => {
    const fake = new FakeDownstreams();
    fake.metadataInputs = ['input_ids', 'pixel_values'];
    const error = await rejectionOf(pipelineWith(fake).classify(input(['a']), budget()));
    assert.equal(error.code, status.FAILED_PRECONDITION);
    assert.match(error.message, /takes an input "pixel_values"/);
  });

  it('rejects an empty batch, an empty text and a batch over the limit before any hop', async () => {
    const fake = new FakeDownstreams();
    const pipeline = pipelineWith(fake, 2);
    const empty = await rejectionOf(pipeline.classify(input([]), budget()));
    assert.deepEqual([empty.code, empty.message], [status.INVALID_ARGUMENT, 'texts is empty: send at least one text']);
    const blank = await rejectionOf(pipeline.classify(input(['ok', '']), budget()));
    assert.match(blank.message, /^texts\[1\] is empty/);
    const over = await rejectionOf(pipeline.classify(input(['a', 'b', 'c']), budget()));
    assert.equal(over.code, status.INVALID_ARGUMENT);
    assert.match(over.message, /texts has 3 items; at most 2/);
    assert.equal(fake.sent.encode.length, 0);
  });

  it('fails INTERNAL when the model\'s output does not match the batch', async () => {
    const fake = new FakeDownstreams();
    fake.logits = (rows) => ({ shape: [rows, 2], bytes: Buffer.alloc(rows * 8 - 4) });
    const error = await rejectionOf(pipelineWith(fake).classify(input(['a', 'b']), budget()));
    assert.equal(error.code, status.INTERNAL);
    assert.match(error.message, /holds 12 bytes; \[2, 2\] FP32 needs 16/);
  });

  it('surfaces a tokenizer NOT_FOUND as is and does not cache a failed metadata lookup', async () => {
    const fake = new FakeDownstreams();
    fake.encode = async () => Promise.reject(Object.assign(new Error('x'), { code: status.NOT_FOUND, details: 'unknown model "nope"', metadata: new Metadata() }));
    const error = await rejectionOf(pipelineWith(fake).classify(input(['a'], { modelName: 'nope' }), budget()));
    assert.deepEqual([error.code, error.message], [status.NOT_FOUND, 'unknown model "nope"']);

    const flaky = new FakeDownstreams();
    const real = flaky.modelMetadata.bind(flaky);
    let failures = 1;
    flaky.modelMetadata = async (request) => {
      if (failures-- > 0) throw Object.assign(new Error('x'), { code: status.INTERNAL, details: 'metadata broke', metadata: new Metadata() });
      return real(request);
    };
    const pipeline = pipelineWith(flaky);
    await rejectionOf(pipeline.classify(input(['a']), budget()));
    assert.equal((await pipeline.classify(input(['a']), budget())).length, 1);
  });

  it('merges concurrent requests for the same model, version and top-k into one call per hop', async () => {
    const fake = new FakeDownstreams();
    let releaseFirst!: () => void;
    const firstEncode = new Promise<void>((resolve) => (releaseFirst = resolve));
    const encode = fake.encode.bind(fake);
    fake.encode = async (request) => {
      if (fake.sent.encode.length === 0) {
        const answer = encode(request);
        await firstEncode;
        return answer;
      }
      return encode(request);
    };
    const pipeline = pipelineWith(fake, 8, { maxRows: 8, maxInFlight: 1 });
    const first = pipeline.classify(input(['one']), budget());
    const merged = [
      pipeline.classify(input(['two', 'three']), budget()),
      pipeline.classify(input(['four']), budget()),
      pipeline.classify(input(['five'], { topK: 1 }), budget()),
    ];
    releaseFirst();
    await first;
    const [twoThree, four, five] = await Promise.all(merged);
    assert.deepEqual(fake.sent.encode.map((r) => r.texts!.map(String)), [['one'], ['two', 'three', 'four'], ['five']]);
    assert.equal(fake.sent.infer.length, 3);
    assert.deepEqual(fake.sent.postprocess.map((r) => r.topK), [0, 0, 1]);
    assert.equal(twoThree!.length, 2);
    assert.deepEqual(twoThree!.map((r) => r.truncated), [false, true], 'rows keep their own flags after the split');
    assert.deepEqual(four!.map((r) => [r.label, r.truncated]), [['positive', false]]);
    assert.equal(five!.length, 1);
  });

  it('refuses invalid UTF-8 per request, before it can share a call with others', async () => {
    const fake = new FakeDownstreams();
    const pipeline = pipelineWith(fake, 8, { maxRows: 8, maxInFlight: 1 });
    const bad = { ...input(['ok']), texts: [Buffer.from('ok'), Buffer.from([0xff, 0xfe])] };
    const error = await rejectionOf(pipeline.classify(bad, budget()));
    assert.deepEqual([error.code, error.message], [status.INVALID_ARGUMENT, 'texts[1] is not valid UTF-8']);
    assert.equal(fake.sent.encode.length, 0);
  });

  it('records one model call per merged call, by version, with its final status after the retries and its whole time', async () => {
    const fake = new FakeDownstreams();
    const failures: status[] = [];
    const infer = fake.modelInfer.bind(fake);
    let attempts = 0;
    fake.modelInfer = async (request) => {
      attempts++;
      const code = failures.shift();
      if (code !== undefined) throw Object.assign(new Error(`${status[code]}: injected`), { code, details: 'injected', metadata: new Metadata() });
      return infer(request);
    };
    const recorded: { call: string; seconds: number }[] = [];
    const policies = Object.fromEntries(HOPS.map((hop) => [hop, new HopPolicy(hop, policyConfig, logger)])) as Record<Hop, HopPolicy>;
    const pipeline = new ClassifyPipeline(fake, policies, {
      defaultModel: 'sentiment',
      maxBatchTexts: 8,
      coalescing: { maxRows: 8, maxInFlight: 1 },
      modelCalls: { recordModelCall: (model, version, code, seconds) => recorded.push({ call: `${model}/${version} ${status[code]}`, seconds }) },
    });
    // Three requests merged behind a first one: two model calls, two records, whatever the number of texts.
    await Promise.all([pipeline.classify(input(['a']), budget()), pipeline.classify(input(['b', 'c']), budget()), pipeline.classify(input(['d']), budget())]);
    // One UNAVAILABLE retried into an answer: OK, once. Two in a row (retryMaxAttempts 1): UNAVAILABLE, once.
    failures.push(status.UNAVAILABLE);
    await pipeline.classify(input(['e'], { modelVersion: '1' }), budget());
    failures.push(status.UNAVAILABLE, status.UNAVAILABLE);
    const error = await rejectionOf(pipeline.classify(input(['f'], { modelVersion: '1' }), budget()));
    assert.equal(error.code, status.UNAVAILABLE);
    assert.deepEqual(recorded.map((r) => r.call), ['sentiment/2 OK', 'sentiment/2 OK', 'sentiment/1 OK', 'sentiment/1 UNAVAILABLE']);
    assert.ok(recorded.every((r) => r.seconds >= 0 && r.seconds < 5));
    assert.equal(attempts, 2 + 2 + 2, 'the retries were sent, and counted with their call');
  });
});

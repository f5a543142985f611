import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { modelFiles, tokenizerFingerprint } from '@inference-mesh/model-repository';
import { loadInferenceProto, SERVICE_NAMES, type inference } from '@inference-mesh/protos';
import { createLogger, EnvReader, HealthChecker } from '@inference-mesh/service-kit';
import { DEFAULT_MODEL_REPOSITORY } from '@inference-mesh/model-repository';
import { readModelServiceConfig } from './config';
import { cudaLibraryMissing } from './ort/session';
import { startModelServer, type StartedModelServer } from './server';
import { int64Bytes } from './test-support';

type Callback<T> = (error: grpc.ServiceError | null, response?: T) => void;

/** Runs one unary call with a 10 s deadline. */
function call<T>(start: (options: grpc.CallOptions, callback: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    start({ deadline: Date.now() + 10_000 }, (error, response) => (error ? reject(error) : resolve(response as T)));
  });
}

/** Asserts that a call fails with `code` and a message matching every pattern. */
async function assertStatus(promise: Promise<unknown>, code: grpc.status, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(promise, (error: grpc.ServiceError) => {
    assert.equal(error.code, code, `status of: ${error.details}`);
    for (const pattern of patterns) assert.match(error.details, pattern);
    return true;
  });
}

const SENTIMENT_2 = join(DEFAULT_MODEL_REPOSITORY, 'sentiment', '2');
const vocab = (JSON.parse(readFileSync(modelFiles(SENTIMENT_2).tokenizer, 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;

/** Token ids of lower-case words the BERT way: [CLS] words [SEP], padded with [PAD] to `length`. */
function encode(text: string, length: number): { ids: number[]; mask: number[] } {
  const ids = [vocab['[CLS]']!, ...text.split(' ').map((word) => {
    const id = vocab[word];
    assert.ok(id !== undefined, `${word} is in the vocabulary`);
    return id;
  }), vocab['[SEP]']!];
  const mask = ids.map(() => 1);
  while (ids.length < length) {
    ids.push(vocab['[PAD]']!);
    mask.push(0);
  }
  return { ids, mask };
}

const TEXTS = ['this movie is great', 'this movie is terrible', 'bad'];
const SEQUENCE = 6;
const ENCODED = TEXTS.map((text) => encode(text, SEQUENCE));
const IDS = ENCODED.flatMap((e) => e.ids);
const MASK = ENCODED.flatMap((e) => e.mask);
const SHAPE = [TEXTS.length, SEQUENCE];

function rawRequest(fields: Partial<inference.ModelInferRequest> = {}): inference.ModelInferRequest {
  return {
    modelName: 'sentiment',
    id: 'batch-1',
    inputs: [
      { name: 'input_ids', datatype: 'INT64', shape: SHAPE },
      { name: 'attention_mask', datatype: 'INT64', shape: SHAPE },
    ],
    rawInputContents: [int64Bytes(IDS), int64Bytes(MASK)],
    ...fields,
  };
}

function logitsOf(response: inference.ModelInferResponse__Output): number[] {
  const raw = response.rawOutputContents[0]!;
  return Array.from({ length: raw.byteLength / 4 }, (_, i) => raw.readFloatLE(i * 4));
}

describe('model service over gRPC', function () {
  this.timeout(60_000);
  let service: StartedModelServer;
  let client: inference.GRPCInferenceServiceClient;
  let health: HealthChecker;
  const infer = (request: inference.ModelInferRequest) =>
    call<inference.ModelInferResponse__Output>((options, callback) => client.ModelInfer(request, options, callback));

  before(async () => {
    const env = new EnvReader({
      IMESH_HOST: '127.0.0.1',
      IMESH_MODEL_PORT: '0',
      IMESH_MODEL_MAX_BATCH_SIZE: '4',
      IMESH_MODEL_INTRA_OP_THREADS: '1',
      IMESH_DRAIN_TIMEOUT_MS: '1000',
    });
    const config = readModelServiceConfig(env);
    env.done();
    service = await startModelServer(config, createLogger('model', 'error', () => {}));
    const address = `127.0.0.1:${service.port}`;
    const { grpc: proto } = loadInferenceProto();
    client = new proto.inference.GRPCInferenceService(address, grpc.credentials.createInsecure());
    health = new HealthChecker(address);
  });

  after(async () => {
    client?.close();
    health?.close();
    await service?.shutdown();
  });

  it('reports SERVING once the versions are loaded, live and ready', async () => {
    for (const name of ['', SERVICE_NAMES.inference]) {
      assert.equal(await health.check(name, Date.now() + 5_000), 'SERVING', `health of ${JSON.stringify(name)}`);
    }
    assert.deepEqual(await call((o, cb) => client.ServerLive({}, o, cb)), { live: true });
    assert.deepEqual(await call((o, cb) => client.ServerReady({}, o, cb)), { ready: true });
    assert.deepEqual(await call((o, cb) => client.ModelReady({ name: 'sentiment' }, o, cb)), { ready: true });
    assert.deepEqual(await call((o, cb) => client.ModelReady({ name: 'sentiment', version: '1' }, o, cb)), { ready: true });
    await assertStatus(call((o, cb) => client.ModelReady({ name: 'sentiment', version: '3' }, o, cb)), grpc.status.NOT_FOUND, /available versions: 1, 2/);
  });

  it('describes the server and the model', async () => {
    const server = await call<inference.ServerMetadataResponse__Output>((o, cb) => client.ServerMetadata({}, o, cb));
    assert.deepEqual(server, { name: 'inference-mesh-model', version: '0.1.0', extensions: [] });
    const model = await call<inference.ModelMetadataResponse__Output>((o, cb) => client.ModelMetadata({ name: 'sentiment' }, o, cb));
    assert.deepEqual(model, {
      name: 'sentiment',
      versions: ['1', '2'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'input_ids', datatype: 'INT64', shape: [-1, -1] },
        { name: 'attention_mask', datatype: 'INT64', shape: [-1, -1] },
      ],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 2] }],
    });
    const v1 = await call<inference.ModelMetadataResponse__Output>((o, cb) => client.ModelMetadata({ name: 'sentiment', version: '1' }, o, cb));
    assert.deepEqual(v1.versions, ['1']);
  });

  it('classifies raw INT64 token ids with the latest version: FP32 logits [rows, 2], id echoed', async () => {
    const response = await infer(rawRequest());
    assert.equal(response.id, 'batch-1');
    assert.equal(response.modelName, 'sentiment');
    assert.equal(response.modelVersion, '2');
    assert.deepEqual(
      response.outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
      [{ name: 'logits', datatype: 'FP32', shape: [3, 2] }],
    );
    assert.equal(response.rawOutputContents.length, 1);
    assert.equal(response.rawOutputContents[0]!.byteLength, 3 * 2 * 4);
    const logits = logitsOf(response);
    assert.ok(logits.every(Number.isFinite));
    assert.ok(logits[1]! > logits[0]!, `"${TEXTS[0]}" is positive: ${logits.slice(0, 2).join(', ')}`);
    assert.ok(logits[2]! > logits[3]!, `"${TEXTS[1]}" is negative: ${logits.slice(2, 4).join(', ')}`);
    assert.ok(logits[4]! > logits[5]!, `"${TEXTS[2]}" is negative: ${logits.slice(4, 6).join(', ')}`);
  });

  it('gives the same logits for typed int64_contents as for raw bytes, and serves an explicit version', async () => {
    const raw = await infer(rawRequest());
    const typed = await infer(
      rawRequest({
        rawInputContents: [],
        inputs: [
          { name: 'input_ids', datatype: 'INT64', shape: SHAPE, contents: { int64Contents: IDS } },
          { name: 'attention_mask', datatype: 'INT64', shape: SHAPE, contents: { int64Contents: MASK } },
        ],
      }),
    );
    assert.deepEqual(logitsOf(typed), logitsOf(raw));
    const v1 = await infer(rawRequest({ modelVersion: '1' }));
    assert.equal(v1.modelVersion, '1');
    assert.notDeepEqual(logitsOf(v1), logitsOf(raw), 'another version, other weights');
  });

  it('accepts the matching tokenizer_fingerprint and refuses another with FAILED_PRECONDITION', async () => {
    const fingerprint = tokenizerFingerprint(modelFiles(SENTIMENT_2).tokenizer);
    const ok = await infer(rawRequest({ parameters: { tokenizer_fingerprint: { stringParam: fingerprint } } }));
    assert.equal(ok.modelVersion, '2');
    const other = 'sha256:' + '0'.repeat(64);
    await assertStatus(
      infer(rawRequest({ parameters: { tokenizer_fingerprint: { stringParam: other } } })),
      grpc.status.FAILED_PRECONDITION,
      new RegExp(`^sentiment/2 was trained with tokenizer ${fingerprint}; the request's ids come from ${other}$`),
    );
  });

  it('answers INVALID_ARGUMENT for a wrong input name, datatype, shape, byte size or token id', async () => {
    const [ids, mask] = rawRequest().inputs!;
    await assertStatus(
      infer(rawRequest({ inputs: [ids!, { ...mask!, name: 'mask' }] })),
      grpc.status.INVALID_ARGUMENT,
      /inputs\[1\]\.name "mask" is not an input of sentiment\/2; its inputs are input_ids, attention_mask/,
    );
    await assertStatus(
      infer(rawRequest({ inputs: [{ ...ids!, datatype: 'INT32' }, mask!] })),
      grpc.status.INVALID_ARGUMENT,
      /inputs\[0\] \(input_ids\): datatype expected INT64, got "INT32"/,
    );
    await assertStatus(
      infer(rawRequest({ inputs: [{ ...ids!, shape: [18] }, mask!] })),
      grpc.status.INVALID_ARGUMENT,
      /shape \[18\] has rank 1; the model expects rank 2/,
    );
    await assertStatus(
      infer(rawRequest({ rawInputContents: [int64Bytes(IDS), int64Bytes(MASK).subarray(4)] })),
      grpc.status.INVALID_ARGUMENT,
      /raw_input_contents\[1\] \(attention_mask\) has 140 bytes; shape \[3,6\] of INT64 needs 144/,
    );
    await assertStatus(
      infer(rawRequest({ rawInputContents: [int64Bytes(IDS.map((id, i) => (i === 7 ? 8192 : id))), int64Bytes(MASK)] })),
      grpc.status.INVALID_ARGUMENT,
      /input_ids holds token id 8192 at \[1, 1\]/,
    );
    await assertStatus(
      infer(rawRequest({ modelVersion: '9' })),
      grpc.status.NOT_FOUND,
      /model "sentiment" has no version "9"; available versions: 1, 2/,
    );
  });
});

describe('model service with IMESH_MODEL_EXECUTION_PROVIDER=cuda where CUDA cannot serve', function () {
  this.timeout(60_000);

  it('serves no version on the CPU: health NOT_SERVING, the versions not ready, ONNX Runtime\'s reason logged', async function () {
    const missing = cudaLibraryMissing();
    if (missing === undefined) this.skip(); // a CUDA install of onnxruntime-node: CUDA may well work here
    const env = new EnvReader({
      IMESH_HOST: '127.0.0.1',
      IMESH_MODEL_PORT: '0',
      IMESH_MODEL_EXECUTION_PROVIDER: 'cuda',
      IMESH_MODEL_INTRA_OP_THREADS: '1',
      IMESH_DRAIN_TIMEOUT_MS: '1000',
    });
    const config = readModelServiceConfig(env);
    env.done();
    const lines: string[] = [];
    const service = await startModelServer(config, createLogger('model', 'info', (line) => lines.push(line)));
    const address = `127.0.0.1:${service.port}`;
    const { grpc: proto } = loadInferenceProto();
    const client = new proto.inference.GRPCInferenceService(address, grpc.credentials.createInsecure());
    const health = new HealthChecker(address);
    try {
      for (const name of ['', SERVICE_NAMES.inference]) {
        assert.equal(await health.check(name, Date.now() + 5_000), 'NOT_SERVING', `health of ${JSON.stringify(name)}`);
      }
      assert.deepEqual(await call((o, cb) => client.ServerReady({}, o, cb)), { ready: false });
      assert.deepEqual(await call((o, cb) => client.ModelReady({ name: 'sentiment', version: '2' }, o, cb)), { ready: false });
      await assertStatus(
        call((o, cb) => client.ModelInfer(rawRequest({ modelVersion: '2' }), o, cb)),
        grpc.status.FAILED_PRECONDITION,
        /IMESH_MODEL_EXECUTION_PROVIDER=cuda does not fall back to the CPU/,
      );
      const logged = lines.map((line) => JSON.parse(line) as { level: string; msg: string; failed?: { version: string; error: string }[] });
      const summary = logged.find((l) => l.level === 'error' && /no model version is READY/.test(l.msg));
      assert.ok(summary, lines.join('\n'));
      assert.deepEqual(summary.failed?.map((f) => f.version), ['sentiment/1', 'sentiment/2']);
      for (const failure of summary.failed ?? []) assert.ok(failure.error.includes(missing), failure.error);
      assert.ok(!logged.some((l) => l.msg === 'serving'), 'never SERVING');
    } finally {
      client.close();
      health.close();
      await service.shutdown();
    }
  });
});

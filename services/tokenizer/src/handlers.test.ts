import { Metadata, status } from '@grpc/grpc-js';
import type { tokenizer } from '@inference-mesh/protos';
import { createLogger, isServiceError, type CallContext } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { BatchEncoder, type EncodedBatch } from '@inference-mesh/tokenization';
import { DEFAULT_MODEL_REPOSITORY } from '@inference-mesh/model-repository';
import { createEncodeHandler } from './handlers';
import { TokenizerRegistry } from './tokenizer-registry';

const MAX_BATCH_TEXTS = 3;

function callContext(signal: AbortSignal = new AbortController().signal): CallContext {
  return { signal, deadlineMs: Infinity, metadata: new Metadata() };
}

function request(texts: (string | Buffer)[], modelName = '', modelVersion = ''): tokenizer.EncodeRequest__Output {
  return { modelName, modelVersion, texts: texts.map((t) => (typeof t === 'string' ? Buffer.from(t) : t)) };
}

function int64s(bytes: Uint8Array | string | undefined): number[] {
  assert.ok(bytes instanceof Uint8Array);
  return Array.from(new BigInt64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8), Number);
}

describe('Encode handler', () => {
  let registry: TokenizerRegistry;
  let encode: ReturnType<typeof createEncodeHandler>;
  before(() => {
    registry = TokenizerRegistry.load({
      repositoryRoot: DEFAULT_MODEL_REPOSITORY,
      defaultModel: 'sentiment',
      logger: createLogger('test', 'error', () => {}),
    });
    encode = createEncodeHandler(registry, MAX_BATCH_TEXTS);
  });

  it('pads to the longest row and gives the same ids as BatchEncoder for the same texts', async () => {
    const texts = ['a gorgeous , witty , seductive movie .', 'bad', 'Not bad at all!'];
    const response = await encode(request(texts), callContext());
    const tokenizerJson = join(DEFAULT_MODEL_REPOSITORY, 'sentiment', '2', 'tokenizer.json');
    const reference = BatchEncoder.fromFile(tokenizerJson, { maxLength: 128 });
    const expected = await reference.encode(texts);
    assert.equal(response.rows, 3);
    assert.equal(response.sequenceLength, expected.sequenceLength);
    assert.deepEqual(int64s(response.inputIds), int64s(expected.inputIds));
    assert.deepEqual(int64s(response.attentionMask), int64s(expected.attentionMask));
    const width = expected.sequenceLength;
    const mask = int64s(response.attentionMask);
    assert.deepEqual(mask.slice(0, width), Array(width).fill(1), 'the longest row is not padded');
    assert.deepEqual(mask.slice(width, 2 * width), [1, 1, 1, ...Array(width - 3).fill(0)], '[CLS] bad [SEP], then padding');
    assert.deepEqual(response.truncatedRows, []);
    assert.equal(response.maxLength, 128);
    assert.equal(response.modelVersion, '2');
    assert.equal(response.tokenizerFingerprint, registry.resolve('sentiment', '2').value.fingerprint);
    assert.match(response.tokenizerFingerprint ?? '', /^sha256:[0-9a-f]{64}$/);
  });

  it('answers with the version it resolved', async () => {
    assert.equal((await encode(request(['good'], 'sentiment', '1'), callContext())).modelVersion, '1');
    assert.equal((await encode(request(['good'], 'sentiment', ''), callContext())).modelVersion, '2');
  });

  it('hands the encoder\'s Buffers to the response without copying them', async () => {
    const { encoder } = registry.resolve('sentiment', '1').value;
    const produced: EncodedBatch[] = [];
    const spy = Object.create(encoder) as BatchEncoder;
    spy.encode = async (texts) => {
      const batch = await encoder.encode(texts);
      produced.push(batch);
      return batch;
    };
    const handler = createEncodeHandler(
      { resolve: (model, version) => ({ model, version, value: { encoder: spy, fingerprint: 'sha256:test' } }) },
      MAX_BATCH_TEXTS,
    );
    const response = await handler(request(['good', 'fine']), callContext());
    assert.equal(produced.length, 1);
    assert.equal(response.inputIds, produced[0]!.inputIds);
    assert.equal(response.attentionMask, produced[0]!.attentionMask);
  });

  it('truncates a 1 MB text to the max length and flags its row', async function () {
    this.timeout(30_000);
    const text = 'a gorgeous , witty , seductive movie . '.repeat(Math.ceil(1_000_000 / 39));
    assert.ok(Buffer.byteLength(text) >= 1_000_000);
    const response = await encode(request([text]), callContext());
    assert.equal(response.rows, 1);
    assert.equal(response.sequenceLength, 128);
    assert.deepEqual(response.truncatedRows, [0]);
    const ids = int64s(response.inputIds);
    assert.equal(ids.length, 128);
    assert.equal(ids[0], 2, '[CLS] first');
    assert.equal(ids[127], 3, '[SEP] kept last');
    assert.deepEqual(int64s(response.attentionMask), Array(128).fill(1));
  });

  it('flags only the rows that were cut', async () => {
    const response = await encode(request(['fine', 'good '.repeat(300), 'bad']), callContext());
    assert.equal(response.sequenceLength, 128);
    assert.deepEqual(response.truncatedRows, [1]);
  });

  describe('refuses bad input', () => {
    interface BadCase {
      name: string;
      texts: (string | Buffer)[];
      model?: string;
      version?: string;
      code: status;
      message: string;
    }
    const cases: BadCase[] = [
      {
        name: 'an empty batch',
        texts: [],
        code: status.INVALID_ARGUMENT,
        message: 'texts is empty: send at least one text',
      },
      {
        name: 'an empty text',
        texts: ['good', ''],
        code: status.INVALID_ARGUMENT,
        message: 'texts[1] is empty: every text needs at least one character',
      },
      {
        name: 'invalid UTF-8',
        texts: ['good', 'fine', Buffer.from([0x66, 0xc3, 0x28])],
        code: status.INVALID_ARGUMENT,
        message: 'texts[2] is not valid UTF-8',
      },
      {
        name: 'too many texts',
        texts: ['a', 'b', 'c', 'd'],
        code: status.INVALID_ARGUMENT,
        message: 'texts has 4 items; at most 3 are accepted per call: split the batch',
      },
      {
        name: 'an unknown model',
        texts: ['good'],
        model: 'topic',
        code: status.NOT_FOUND,
        message: 'model "topic" not found; models: "sentiment" (versions 1, 2)',
      },
      {
        name: 'an unknown version',
        texts: ['good'],
        version: '3',
        code: status.NOT_FOUND,
        message: 'model "sentiment" has no version "3"; versions: 1, 2',
      },
    ];
    for (const c of cases) {
      it(`${c.name}: ${status[c.code]}`, async () => {
        await assert.rejects(encode(request(c.texts, c.model, c.version), callContext()), (error: unknown) => {
          assert.ok(isServiceError(error), String(error));
          assert.equal(error.code, c.code);
          assert.equal(error.message, c.message);
          return true;
        });
      });
    }
  });

  it('does no work for a call that was already cancelled', async () => {
    const controller = new AbortController();
    const reason = new Error('the caller cancelled the call');
    reason.name = 'AbortError';
    controller.abort(reason);
    await assert.rejects(encode(request(['good']), callContext(controller.signal)), (error: unknown) => error === reason);
  });
});

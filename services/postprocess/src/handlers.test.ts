import { Metadata, status } from '@grpc/grpc-js';
import type { postprocess } from '@inference-mesh/protos';
import { createLogger, isServiceError, type CallContext } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { DEFAULT_MODEL_REPOSITORY } from '@inference-mesh/model-repository';
import { LabelRegistry } from './label-registry';
import { createPostprocessHandler } from './handlers';

const MAX_BATCH_ROWS = 4;

function callContext(signal: AbortSignal = new AbortController().signal): CallContext {
  return { signal, deadlineMs: Infinity, metadata: new Metadata() };
}

function fp32(values: readonly number[]): Buffer {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((value, i) => bytes.writeFloatLE(value, i * 4));
  return bytes;
}

function request(fields: Partial<postprocess.PostprocessRequest__Output>): postprocess.PostprocessRequest__Output {
  return { modelName: '', modelVersion: '', rows: 1, numLabels: 2, logits: fp32([0, 1]), topK: 0, ...fields };
}

describe('Postprocess handler', () => {
  let handle: ReturnType<typeof createPostprocessHandler>;
  before(() => {
    const registry = LabelRegistry.load({
      repositoryRoot: DEFAULT_MODEL_REPOSITORY,
      defaultModel: 'sentiment',
      logger: createLogger('test', 'error', () => {}),
    });
    handle = createPostprocessHandler(registry, MAX_BATCH_ROWS);
  });

  it('labels each row with the model\'s labels, best first', async () => {
    const response = await handle(request({ rows: 2, logits: fp32([2, -1, 0, 3]), modelVersion: '1' }), callContext());
    const predictions = response.predictions ?? [];
    assert.deepEqual(predictions.map((p) => p.label), ['negative', 'positive']);
    assert.deepEqual(
      predictions.map((p) => p.scores?.map((s) => s.label)),
      [['negative', 'positive'], ['positive', 'negative']],
    );
    const expected = 1 / (1 + Math.exp(-3));
    assert.ok(Math.abs(Number(predictions[0]!.score) - expected) < 1e-9, String(predictions[0]!.score));
    assert.ok(Math.abs(Number(predictions[1]!.score) - expected) < 1e-9, String(predictions[1]!.score));
  });

  it('cuts the scores to top_k', async () => {
    const response = await handle(request({ topK: 1 }), callContext());
    assert.deepEqual(response.predictions?.map((p) => p.scores?.map((s) => s.label)), [['positive']]);
  });

  describe('refuses bad input, naming the field', () => {
    interface BadCase {
      name: string;
      fields: Partial<postprocess.PostprocessRequest__Output>;
      code: status;
      message: string;
    }
    const cases: BadCase[] = [
      {
        name: 'zero rows',
        fields: { rows: 0, logits: Buffer.alloc(0) },
        code: status.INVALID_ARGUMENT,
        message: 'rows is 0: send at least one row of logits',
      },
      {
        name: 'too many rows',
        fields: { rows: 5, logits: fp32(Array(10).fill(0)) },
        code: status.INVALID_ARGUMENT,
        message: 'rows is 5; at most 4 are accepted per call: split the batch',
      },
      {
        name: 'num_labels other than the model\'s',
        fields: { numLabels: 3, logits: fp32([0, 1, 2]) },
        code: status.INVALID_ARGUMENT,
        message: 'num_labels is 3 but model "sentiment" version 2 has 2 labels',
      },
      {
        name: 'logits of the wrong length',
        fields: { rows: 2, logits: fp32([0, 1, 2]) },
        code: status.INVALID_ARGUMENT,
        message: 'logits has 12 bytes; expected 16 (rows 2 x num_labels 2 x 4 bytes of FP32)',
      },
      {
        name: 'a NaN logit',
        fields: { rows: 2, logits: fp32([0, 1, 2, NaN]) },
        code: status.INVALID_ARGUMENT,
        message: 'logits row 1, label 1 is NaN: refusing to label a non-finite score',
      },
      {
        name: 'an unknown model',
        fields: { modelName: 'topic' },
        code: status.NOT_FOUND,
        message: 'model "topic" not found; models: "sentiment" (versions 1, 2)',
      },
      {
        name: 'an unknown version',
        fields: { modelVersion: '3' },
        code: status.NOT_FOUND,
        message: 'model "sentiment" has no version "3"; versions: 1, 2',
      },
    ];
    for (const c of cases) {
      it(`${c.name}: ${status[c.code]}`, async () => {
        await assert.rejects(handle(request(c.fields), callContext()), (error: unknown) => {
          assert.ok(isServiceError(error), String(error));
          assert.equal(error.code, c.code);
          assert.equal(error.message, c.message);
          return true;
        });
      });
    }
  });
});

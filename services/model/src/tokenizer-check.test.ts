import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { modelFiles } from '@inference-mesh/model-repository';
import { Tensor } from 'onnxruntime-node';
import { DEFAULT_MODEL_REPOSITORY } from '@inference-mesh/model-repository';
import { assertServiceError } from './test-support';
import { checkTokenInputs, checkTokenizerFingerprint, readVocabularySize, type ServedTokenizer } from './tokenizer-check';

const SERVED: ServedTokenizer = { label: 'sentiment/2', fingerprint: 'sha256:aaaa', vocabularySize: 100, maxSequenceLength: 8, typeVocabularySize: 2 };

function writeJson(value: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'tokenizer-check-')), 'tokenizer.json');
  writeFileSync(path, JSON.stringify(value));
  return path;
}

const ids = (values: number[], dims = [1, values.length]) => new Tensor('int64', BigInt64Array.from(values, BigInt), dims);

describe('tokenizer-check', () => {
  describe('readVocabularySize', () => {
    it('reads 8192 ids from the committed sentiment tokenizer', () => {
      assert.equal(readVocabularySize(modelFiles(join(DEFAULT_MODEL_REPOSITORY, 'sentiment', '2')).tokenizer), 8192);
    });

    it('counts one past the largest id of the vocabulary and the added tokens, for object and array vocabularies', () => {
      assert.equal(readVocabularySize(writeJson({ model: { vocab: { a: 0, b: 5 } }, added_tokens: [{ id: 2 }] })), 6);
      assert.equal(readVocabularySize(writeJson({ model: { vocab: { a: 0, b: 5 } }, added_tokens: [{ id: 9 }] })), 10);
      assert.equal(readVocabularySize(writeJson({ model: { vocab: [['a', 0], ['b', -1.5], ['c', -2]] } })), 3);
      assert.throws(() => readVocabularySize(writeJson({ model: {} })), /model\.vocab is missing/);
    });
  });

  describe('checkTokenizerFingerprint', () => {
    const fingerprint = (value: string) => ({ tokenizer_fingerprint: { parameterChoice: 'stringParam' as const, stringParam: value } });

    it('accepts requests without the parameter, and a matching fingerprint', () => {
      checkTokenizerFingerprint({}, SERVED);
      checkTokenizerFingerprint(fingerprint('sha256:aaaa'), SERVED);
    });

    it('refuses ids from another tokenizer with FAILED_PRECONDITION naming both fingerprints', () => {
      assertServiceError(
        () => checkTokenizerFingerprint(fingerprint('sha256:bbbb'), SERVED),
        status.FAILED_PRECONDITION,
        /^sentiment\/2 was trained with tokenizer sha256:aaaa; the request's ids come from sha256:bbbb$/,
      );
    });

    it('refuses a fingerprint it cannot check, and a parameter that is not a string', () => {
      assertServiceError(
        () => checkTokenizerFingerprint(fingerprint('sha256:aaaa'), { ...SERVED, fingerprint: undefined }),
        status.FAILED_PRECONDITION,
        /sentiment\/2 has no tokenizer\.json/,
      );
      assertServiceError(
        () => checkTokenizerFingerprint({ tokenizer_fingerprint: { parameterChoice: 'int64Param', int64Param: 3 } }, SERVED),
        status.INVALID_ARGUMENT,
        /parameters\.tokenizer_fingerprint must be a string_param/,
      );
    });
  });

  describe('checkTokenInputs', () => {
    it('accepts ids from 0 to vocabularySize - 1', () => {
      checkTokenInputs({ input_ids: ids([0, 5, 99]) }, SERVED);
    });

    it('refuses an id at or past the vocabulary size, or negative, naming its position', () => {
      assertServiceError(
        () => checkTokenInputs({ input_ids: ids([2, 5, 3, 2, 100, 3], [2, 3]) }, SERVED),
        status.INVALID_ARGUMENT,
        /input_ids holds token id 100 at \[1, 1\], outside the vocabulary of sentiment\/2's tokenizer \(ids 0\.\.99\)/,
      );
      assertServiceError(() => checkTokenInputs({ input_ids: ids([2, -1, 3]) }, SERVED), status.INVALID_ARGUMENT, /token id -1 at \[0, 1\]/);
      assertServiceError(() => checkTokenInputs({ input_ids: ids([2 ** 33]) }, SERVED), status.INVALID_ARGUMENT, /token id 8589934592/);
      assertServiceError(
        () => checkTokenInputs({ input_ids: new Tensor('int32', Int32Array.from([1, 1000]), [1, 2]) }, SERVED),
        status.INVALID_ARGUMENT,
        /token id 1000/,
      );
    });

    it('checks input_ids against the vocabulary and token_type_ids against the segment types, nothing else', () => {
      checkTokenInputs({ input_ids: ids([1, 2]), attention_mask: ids([1000, 1000]), token_type_ids: ids([0, 1]) }, SERVED);
      assertServiceError(
        () => checkTokenInputs({ input_ids: ids([1, 2]), token_type_ids: ids([0, 2]) }, SERVED),
        status.INVALID_ARGUMENT,
        /^token_type_ids holds segment id 2 at \[0, 1\]; sentiment\/2 has 2 segment types/,
      );
      checkTokenInputs({ input_ids: ids([1, 2]), token_type_ids: ids([0, 7]) }, { ...SERVED, typeVocabularySize: undefined });
    });

    it('refuses sequences longer than the model accepts, or empty', () => {
      assertServiceError(
        () => checkTokenInputs({ input_ids: ids(new Array(9).fill(1)) }, SERVED),
        status.INVALID_ARGUMENT,
        /input_ids has sequence length 9; sentiment\/2 accepts at most 8 tokens per row/,
      );
      assertServiceError(
        () => checkTokenInputs({ attention_mask: ids(new Array(9).fill(1)) }, SERVED),
        status.INVALID_ARGUMENT,
        /attention_mask has sequence length 9/,
      );
      assertServiceError(() => checkTokenInputs({ input_ids: ids([], [1, 0]) }, SERVED), status.INVALID_ARGUMENT, /sequence length 0/);
      checkTokenInputs({ input_ids: ids(new Array(8).fill(1)) }, SERVED);
    });
  });
});

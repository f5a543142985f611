import { status } from '@grpc/grpc-js';
import { tokenizerFingerprint } from '@inference-mesh/model-repository';
import { createLogger } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MODEL_REPOSITORY } from '@inference-mesh/model-repository';
import { TokenizerRegistry } from './tokenizer-registry';

const SENTIMENT_1 = join(DEFAULT_MODEL_REPOSITORY, 'sentiment', '1');
const MISSING_CONFIG = "broken/1/config.json: ENOENT: no such file or directory, open 'broken/1/config.json'";

function collectingLogger() {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger('test', 'debug', (line) => records.push(JSON.parse(line) as Record<string, unknown>));
  return { records, logger };
}

/** What assert.throws expects of a NOT_FOUND ServiceError with exactly this message. */
const notFound = (message: string) => ({ name: 'ServiceError', code: status.NOT_FOUND, message });

/** A model version folder copied from sentiment/1, with `edit` applied to its files (config null: none). */
function addVersion(root: string, model: string, version: string, edit: { tokenizer?: string; config?: object | null } = {}) {
  const dir = join(root, model, version);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.onnx'), '');
  if (edit.tokenizer === undefined) copyFileSync(join(SENTIMENT_1, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  else writeFileSync(join(dir, 'tokenizer.json'), edit.tokenizer);
  const config = JSON.parse(readFileSync(join(SENTIMENT_1, 'config.json'), 'utf8')) as object;
  if (edit.config !== null) writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, ...edit.config }));
}

describe('TokenizerRegistry', () => {
  describe('on the committed models/', () => {
    let registry: TokenizerRegistry;
    before(() => {
      const { logger } = collectingLogger();
      registry = TokenizerRegistry.load({ repositoryRoot: DEFAULT_MODEL_REPOSITORY, defaultModel: 'sentiment', logger });
    });

    it("resolves an empty name and version to the default model's highest version", () => {
      const resolved = registry.resolve('', '');
      assert.equal(resolved.model, 'sentiment');
      assert.equal(resolved.version, '2');
      const tokenizerJson = join(DEFAULT_MODEL_REPOSITORY, 'sentiment', '2', 'tokenizer.json');
      assert.equal(resolved.value.fingerprint, tokenizerFingerprint(tokenizerJson));
      assert.equal(resolved.value.encoder.maxLength, 128);
      assert.equal(resolved.value.encoder.padTokenId, 0);
      assert.equal(registry.resolve('sentiment', '').version, '2');
    });

    it('shares one encoder between versions with the same tokenizer.json and max length', () => {
      const one = registry.resolve('sentiment', '1');
      const two = registry.resolve('sentiment', '2');
      assert.equal(one.version, '1');
      assert.equal(one.value.encoder, two.value.encoder);
      assert.equal(one.value.fingerprint, two.value.fingerprint);
      assert.equal(registry.encoderCount, 1);
      assert.deepEqual(
        registry.loaded().map((v) => `${v.model}/${v.version}`),
        ['sentiment/1', 'sentiment/2'],
      );
    });

    it('answers NOT_FOUND listing what exists for an unknown model or version', () => {
      assert.throws(() => registry.resolve('topic', ''), notFound('model "topic" not found; models: "sentiment" (versions 1, 2)'));
      assert.throws(() => registry.resolve('sentiment', '7'), notFound('model "sentiment" has no version "7"; versions: 1, 2'));
      assert.throws(() => registry.resolve('', 'latest'), notFound('model "sentiment" has no version "latest"; versions: 1, 2'));
    });
  });

  describe('on a repository with broken versions', () => {
    const { records, logger } = collectingLogger();
    let root: string;
    let registry: TokenizerRegistry;
    before(() => {
      root = mkdtempSync(join(tmpdir(), 'tokenizer-registry-'));
      addVersion(root, 'm', '1');
      addVersion(root, 'm', '2', { config: { max_position_embeddings: 64 } });
      addVersion(root, 'm', '3', { tokenizer: '{not json' });
      addVersion(root, 'broken', '1', { config: null });
      registry = TokenizerRegistry.load({ repositoryRoot: root, defaultModel: 'm', logger });
    });

    it('loads the good versions, with a separate encoder for another max length', () => {
      assert.deepEqual(
        registry.loaded().map((v) => `${v.model}/${v.version}`),
        ['m/1', 'm/2'],
      );
      assert.equal(registry.resolve('m', '1').value.encoder.maxLength, 128);
      assert.equal(registry.resolve('m', '2').value.encoder.maxLength, 64);
      assert.equal(registry.encoderCount, 2);
    });

    it('logs each failed version instead of crashing', () => {
      const failures = records.filter((r) => r['level'] === 'error').map((r) => [r['model'], r['version'], r['reason']]);
      assert.deepEqual(failures, [
        ['broken', '1', MISSING_CONFIG],
        ['m', '3', 'key must be a string at line 1 column 2'],
      ]);
    });

    it('answers FAILED_PRECONDITION with the reason, relative to the repository, for a version that failed', () => {
      assert.throws(() => registry.resolve('m', '3'), {
        code: status.FAILED_PRECONDITION,
        message: 'model "m" version 3 failed to load: key must be a string at line 1 column 2',
      });
      assert.throws(() => registry.resolve('broken', '1'), {
        code: status.FAILED_PRECONDITION,
        message: `model "broken" version 1 failed to load: ${MISSING_CONFIG}`,
      });
      assert.throws(
        () => registry.resolve('m', '4'),
        notFound('model "m" has no version "4"; versions: 1, 2, 3 (failed to load)'),
      );
      assert.throws(
        () => registry.resolve('x', ''),
        notFound('model "x" not found; models: "broken" (versions 1 (failed to load)), "m" (versions 1, 2, 3 (failed to load))'),
      );
    });

    it('serves an empty version from the highest version that loaded, or says why none did', () => {
      assert.equal(registry.resolve('', '').version, '2');
      assert.throws(() => registry.resolve('broken', ''), {
        code: status.FAILED_PRECONDITION,
        message: `model "broken" has no version that loaded (version 1: ${MISSING_CONFIG})`,
      });
    });

    it('refuses to start when the default model is not in the repository', () => {
      assert.throws(
        () => TokenizerRegistry.load({ repositoryRoot: root, defaultModel: 'sentiment', logger }),
        (error: unknown) => {
          assert.ok(error instanceof Error);
          assert.equal(
            error.message,
            `default model "sentiment" is not in the model repository ${root} ` +
              '(models: "broken" (versions 1 (failed to load)), "m" (versions 1, 2, 3 (failed to load))); ' +
              'set IMESH_DEFAULT_MODEL or IMESH_MODEL_REPOSITORY',
          );
          return true;
        },
      );
      const empty = mkdtempSync(join(tmpdir(), 'tokenizer-registry-empty-'));
      assert.throws(
        () => TokenizerRegistry.load({ repositoryRoot: empty, defaultModel: 'm', logger }),
        /\(the model repository holds no models\)/,
      );
    });
  });
});

import { status } from '@grpc/grpc-js';
import { createLogger } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MODEL_REPOSITORY } from '@inference-mesh/model-repository';
import { LabelRegistry } from './label-registry';

function collectingLogger() {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger('test', 'debug', (line) => records.push(JSON.parse(line) as Record<string, unknown>));
  return { records, logger };
}

/** What assert.throws expects of a NOT_FOUND ServiceError with exactly this message. */
const notFound = (message: string) => ({ name: 'ServiceError', code: status.NOT_FOUND, message });

function addVersion(root: string, model: string, version: string, config: string | object): void {
  const dir = join(root, model, version);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.onnx'), '');
  writeFileSync(join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
}

describe('LabelRegistry', () => {
  describe('on the committed models/', () => {
    let registry: LabelRegistry;
    before(() => {
      const { logger } = collectingLogger();
      registry = LabelRegistry.load({ repositoryRoot: DEFAULT_MODEL_REPOSITORY, defaultModel: 'sentiment', logger });
    });

    it('reads the labels of each version in index order', () => {
      assert.deepEqual(registry.resolve('sentiment', '1').value, ['negative', 'positive']);
      assert.deepEqual(
        registry.loaded().map((v) => [v.model, v.version, v.value]),
        [['sentiment', '1', ['negative', 'positive']], ['sentiment', '2', ['negative', 'positive']]],
      );
    });

    it('resolves an empty name and version to the default model\'s highest version', () => {
      const resolved = registry.resolve('', '');
      assert.deepEqual([resolved.model, resolved.version], ['sentiment', '2']);
    });

    it('answers NOT_FOUND listing what exists, in the tokenizer\'s words', () => {
      assert.throws(() => registry.resolve('topic', '1'), notFound('model "topic" not found; models: "sentiment" (versions 1, 2)'));
      assert.throws(() => registry.resolve('sentiment', '9'), notFound('model "sentiment" has no version "9"; versions: 1, 2'));
    });
  });

  describe('on a repository with a broken version', () => {
    const { records, logger } = collectingLogger();
    let root: string;
    let registry: LabelRegistry;
    before(() => {
      root = mkdtempSync(join(tmpdir(), 'label-registry-'));
      addVersion(root, 'topic', '1', { id2label: { 0: 'sport', 1: 'politics', 2: 'science' } });
      addVersion(root, 'topic', '2', { label2id: { sport: 0 } });
      registry = LabelRegistry.load({ repositoryRoot: root, defaultModel: 'topic', logger });
    });

    it('logs the failed version and keeps serving the others', () => {
      const failed = records.filter((r) => r['level'] === 'error');
      assert.deepEqual(
        failed.map((r) => [r['model'], r['version'], r['reason']]),
        [['topic', '2', 'topic/2/config.json: id2label is missing']],
      );
      assert.deepEqual(registry.resolve('topic', '1').value, ['sport', 'politics', 'science']);
      assert.equal(registry.resolve('', '').version, '1', 'an empty version falls back to the highest version that loaded');
    });

    it('answers FAILED_PRECONDITION with the reason for the failed version, NOT_FOUND for one that does not exist', () => {
      assert.throws(() => registry.resolve('topic', '2'), {
        code: status.FAILED_PRECONDITION,
        message: 'model "topic" version 2 failed to load: topic/2/config.json: id2label is missing',
      });
      assert.throws(() => registry.resolve('topic', '3'), notFound('model "topic" has no version "3"; versions: 1, 2 (failed to load)'));
    });

    it('refuses to start when the default model is not in the repository', () => {
      assert.throws(
        () => LabelRegistry.load({ repositoryRoot: root, defaultModel: 'sentiment', logger }),
        /^Error: default model "sentiment" is not in the model repository .* \(models: "topic" \(versions 1, 2 \(failed to load\)\)\)/,
      );
    });
  });
});

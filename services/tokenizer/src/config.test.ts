import { isConfigError, parseConfig } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MODEL_REPOSITORY } from '@inference-mesh/model-repository';
import { readTokenizerConfig } from './config';

function read(env: Record<string, string>) {
  return parseConfig(env, readTokenizerConfig);
}

describe('readTokenizerConfig', () => {
  it('defaults to the committed models/, the sentiment model, 256 texts and port 50052', () => {
    const config = read({});
    assert.equal(config.repositoryRoot, DEFAULT_MODEL_REPOSITORY);
    assert.ok(existsSync(join(DEFAULT_MODEL_REPOSITORY, 'sentiment', '1', 'tokenizer.json')), DEFAULT_MODEL_REPOSITORY);
    assert.equal(config.defaultModel, 'sentiment');
    assert.equal(config.maxBatchTexts, 256);
    assert.equal(config.server.port, 50052);
  });

  it('reads IMESH_MODEL_REPOSITORY, IMESH_DEFAULT_MODEL, IMESH_MAX_BATCH_TEXTS and IMESH_TOKENIZER_PORT', () => {
    const root = mkdtempSync(join(tmpdir(), 'tokenizer-config-'));
    const config = read({
      IMESH_MODEL_REPOSITORY: root,
      IMESH_DEFAULT_MODEL: 'topic',
      IMESH_MAX_BATCH_TEXTS: '32',
      IMESH_TOKENIZER_PORT: '0',
    });
    assert.deepEqual(
      { root: config.repositoryRoot, model: config.defaultModel, max: config.maxBatchTexts, port: config.server.port },
      { root, model: 'topic', max: 32, port: 0 },
    );
  });

  it('names every bad variable in one error', () => {
    assert.throws(
      () => read({ IMESH_MODEL_REPOSITORY: '/nonexistent/models', IMESH_MAX_BATCH_TEXTS: '0' }),
      (error: unknown) =>
        isConfigError(error) &&
        error.message.includes('IMESH_MODEL_REPOSITORY="/nonexistent/models": not a directory') &&
        error.message.includes('IMESH_MAX_BATCH_TEXTS="0": expected an integer from 1 to 65536'),
    );
  });
});

import { isConfigError, parseConfig } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_MODEL_REPOSITORY } from '@inference-mesh/model-repository';
import { readPostprocessConfig } from './config';

function read(env: Record<string, string>) {
  return parseConfig(env, readPostprocessConfig);
}

describe('readPostprocessConfig', () => {
  it('defaults to the committed models/, the sentiment model, 256 rows and port 50054', () => {
    const config = read({});
    assert.equal(config.repositoryRoot, DEFAULT_MODEL_REPOSITORY);
    assert.ok(existsSync(join(DEFAULT_MODEL_REPOSITORY, 'sentiment', '1', 'config.json')), DEFAULT_MODEL_REPOSITORY);
    assert.equal(config.defaultModel, 'sentiment');
    assert.equal(config.maxBatchTexts, 256);
    assert.equal(config.server.port, 50054);
  });

  it('takes the row limit from IMESH_MAX_BATCH_TEXTS and the port from IMESH_POSTPROCESS_PORT', () => {
    const config = read({ IMESH_MAX_BATCH_TEXTS: '64', IMESH_POSTPROCESS_PORT: '0', IMESH_DEFAULT_MODEL: 'topic' });
    assert.deepEqual(
      { max: config.maxBatchTexts, port: config.server.port, model: config.defaultModel },
      { max: 64, port: 0, model: 'topic' },
    );
  });

  it('names every bad variable in one error', () => {
    assert.throws(
      () => read({ IMESH_MODEL_REPOSITORY: '/nonexistent/models', IMESH_MAX_BATCH_TEXTS: 'many' }),
      (error: unknown) =>
        isConfigError(error) &&
        error.message.includes('IMESH_MODEL_REPOSITORY="/nonexistent/models": not a directory') &&
        error.message.includes('IMESH_MAX_BATCH_TEXTS="many": expected an integer from 1 to 65536'),
    );
  });
});

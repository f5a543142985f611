import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isConfigError, parseConfig } from '@inference-mesh/service-kit';
import { DEFAULT_MODEL_REPOSITORY } from '@inference-mesh/model-repository';
import { readModelServiceConfig } from './config';

function read(env: Record<string, string>) {
  return parseConfig(env, readModelServiceConfig);
}

describe('readModelServiceConfig', () => {
  it('defaults to the committed models/, no batching overrides, ONNX Runtime\'s thread choice and port 50053', () => {
    const config = read({});
    assert.equal(config.repositoryRoot, DEFAULT_MODEL_REPOSITORY);
    assert.ok(existsSync(join(DEFAULT_MODEL_REPOSITORY, 'sentiment', '2', 'model.onnx')), DEFAULT_MODEL_REPOSITORY);
    assert.deepEqual(config.batching, {});
    assert.equal(config.execution.intraOpThreads, 0);
    assert.equal(config.server.port, 50053);
    assert.equal(config.serverName, 'inference-mesh-model');
    assert.equal(config.serverVersion, '0.1.0');
  });

  it('reads IMESH_MODEL_REPOSITORY, IMESH_MODEL_MAX_BATCH_SIZE, IMESH_MODEL_INTRA_OP_THREADS, IMESH_MODEL_SERVER_NAME and IMESH_MODEL_PORT', () => {
    const root = mkdtempSync(join(tmpdir(), 'model-config-'));
    const config = read({
      IMESH_MODEL_REPOSITORY: root,
      IMESH_MODEL_MAX_BATCH_SIZE: '32',
      IMESH_MODEL_INTRA_OP_THREADS: '2',
      IMESH_MODEL_SERVER_NAME: 'canary',
      IMESH_MODEL_PORT: '0',
    });
    assert.deepEqual(
      { root: config.repositoryRoot, max: config.batching.maxBatchSize, threads: config.execution.intraOpThreads, name: config.serverName, port: config.server.port },
      { root, max: 32, threads: 2, name: 'canary', port: 0 },
    );
  });

  it('names every bad variable in one error', () => {
    assert.throws(
      () => read({ IMESH_MODEL_REPOSITORY: '/nonexistent/models', IMESH_MODEL_MAX_BATCH_SIZE: '0', IMESH_MODEL_INTRA_OP_THREADS: '-1' }),
      (error: unknown) =>
        isConfigError(error) &&
        error.message.includes('IMESH_MODEL_REPOSITORY="/nonexistent/models": not a directory') &&
        error.message.includes('IMESH_MODEL_MAX_BATCH_SIZE="0": expected an integer from 1 to 65536') &&
        error.message.includes('IMESH_MODEL_INTRA_OP_THREADS="-1": expected an integer from 0 to 1024'),
    );
  });
});

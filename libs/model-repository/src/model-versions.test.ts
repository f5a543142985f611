import { createLogger, failedPrecondition, notFound } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelVersions } from './model-versions';

const FAILED_PRECONDITION = failedPrecondition('').code;
const NOT_FOUND = notFound('').code;

/** A repository with `m/1` (loads), `m/2` (fails) and `broken/1` (fails). */
function repository(): string {
  const root = mkdtempSync(join(tmpdir(), 'model-versions-'));
  for (const [model, version, content] of [['m', '1', 'ok'], ['m', '2', 'bad'], ['broken', '1', 'bad']] as const) {
    mkdirSync(join(root, model, version), { recursive: true });
    writeFileSync(join(root, model, version, 'model.onnx'), content);
  }
  return root;
}

describe('ModelVersions: the answer for a version that failed to load', () => {
  const root = repository();
  const versions = ModelVersions.load({
    repositoryRoot: root,
    defaultModel: 'm',
    logger: createLogger('test', 'error', () => {}),
    loadVersion: (dir) => {
      if (dir.version === '2' || dir.name === 'broken') throw new Error(`${join(dir.dir, 'model.onnx')} is corrupt`);
      return dir.version;
    },
  });

  it('is FAILED_PRECONDITION with the reason, paths relative to the repository', () => {
    assert.throws(() => versions.resolve('m', '2'), { code: FAILED_PRECONDITION, message: 'model "m" version 2 failed to load: m/2/model.onnx is corrupt' });
  });

  it('is FAILED_PRECONDITION for an empty version when no version of the model loaded', () => {
    assert.throws(() => versions.resolve('broken', ''), {
      code: FAILED_PRECONDITION,
      message: 'model "broken" has no version that loaded (version 1: broken/1/model.onnx is corrupt)',
    });
  });

  it('leaves NOT_FOUND to names that do not exist, and serves what loaded', () => {
    assert.throws(() => versions.resolve('m', '3'), { code: NOT_FOUND, message: 'model "m" has no version "3"; versions: 1, 2 (failed to load)' });
    assert.throws(() => versions.resolve('x', ''), { code: NOT_FOUND });
    assert.deepEqual(versions.resolve('', ''), { model: 'm', version: '1', value: '1' });
  });
});

import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { createLogger, EnvReader, isServiceError } from '@inference-mesh/service-kit';
import { Tensor } from 'onnxruntime-node';
import { readModelServiceConfig } from './config';
import { ModelRegistry } from './model-registry';
import type { ModelLoader } from './model-runner';

/** A repository of empty model files: the loader below never reads them. */
function repository(versions: Readonly<Record<string, readonly string[]>>): string {
  const root = mkdtempSync(join(tmpdir(), 'served-versions-'));
  for (const [name, numbers] of Object.entries(versions)) {
    for (const version of numbers) {
      mkdirSync(join(root, name, version), { recursive: true });
      writeFileSync(join(root, name, version, 'model.onnx'), '');
    }
  }
  return root;
}

function loaderRecording(loaded: string[]): ModelLoader {
  return async (modelPath) => {
    loaded.push(modelPath);
    return {
      runner: {
        run: async (_feeds, outputNames) => ({
          outputs: Object.fromEntries(outputNames.map((name) => [name, new Tensor('float32', new Float32Array(2), [1, 2])])),
          computeMs: 0,
        }),
        release: async () => {},
      },
      inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [-1, -1] }],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 2] }],
    };
  };
}

const logger = createLogger('model', 'error', () => {});

describe('IMESH_MODEL_VERSIONS: one Deployment per model version', () => {
  it('is read as a list of version numbers, empty when unset', () => {
    const read = (value?: string) => {
      const env = new EnvReader(value === undefined ? {} : { IMESH_MODEL_VERSIONS: value });
      const config = readModelServiceConfig(env);
      env.done();
      return config.servedVersions;
    };
    assert.deepEqual(read(), []);
    assert.deepEqual(read(''), []);
    assert.deepEqual(read('1'), ['1']);
    assert.deepEqual(read(' 1, 2 '), ['1', '2']);
    for (const bad of ['v1', '1,1', '1;2', '1,']) {
      const env = new EnvReader({ IMESH_MODEL_VERSIONS: bad });
      readModelServiceConfig(env);
      assert.throws(() => env.done(), /IMESH_MODEL_VERSIONS=".*": expected distinct version numbers separated by commas, e.g. 1 or 1,2/, bad);
    }
  });

  it('loads only the listed versions; the others are unknown to this server', async () => {
    const root = repository({ sentiment: ['1', '2'], topic: ['1', '3'] });
    const loaded: string[] = [];
    const registry = await ModelRegistry.load({ repositoryRoot: root, loadModel: loaderRecording(loaded), logger, servedVersions: ['1'] });
    assert.deepEqual(
      registry.versions.map((v) => `${v.label} ${v.state}`),
      ['sentiment/1 READY', 'topic/1 READY'],
    );
    assert.deepEqual(loaded.sort(), [join(root, 'sentiment', '1', 'model.onnx'), join(root, 'topic', '1', 'model.onnx')]);
    // An unpinned request gets the version this server has, not the repository's latest.
    assert.equal(registry.find('sentiment', '').version, '1');
    assert.throws(
      () => registry.find('sentiment', '2'),
      (error: unknown) => isServiceError(error) && error.code === status.NOT_FOUND && /has no version "2"; available versions: 1/.test(error.message),
    );
    assert.ok(registry.ready, 'the versions it serves are all READY, so the server is ready');
  });

  it('serves every version when unset', async () => {
    const registry = await ModelRegistry.load({ repositoryRoot: repository({ sentiment: ['1', '2'] }), loadModel: loaderRecording([]), logger });
    assert.deepEqual(registry.versions.map((v) => v.label), ['sentiment/1', 'sentiment/2']);
  });

  it('refuses to start when a listed version is in no model', async () => {
    const root = repository({ sentiment: ['1', '2'] });
    await assert.rejects(
      ModelRegistry.load({ repositoryRoot: root, loadModel: loaderRecording([]), logger, servedVersions: ['2', '3'] }),
      new RegExp(`IMESH_MODEL_VERSIONS lists 3, which no model in ${root} has \\(versions there: 1, 2\\)`),
    );
  });
});

import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { DEFAULT_MODEL_REPOSITORY, modelFiles } from '@inference-mesh/model-repository';
import { DEFAULT_EXECUTION, type ExecutionConfig } from './execution-config';
import { createOrtSession, cudaLibraryMissing, sessionOptionsFor } from './session';

const MODEL = modelFiles(join(DEFAULT_MODEL_REPOSITORY, 'sentiment', '2')).model;
const EXECUTION: ExecutionConfig = { ...DEFAULT_EXECUTION, intraOpThreads: 1 };

describe('createOrtSession', function () {
  this.timeout(60_000);

  it('creates a CPU session when the CPU is asked for', async () => {
    const { session, choice } = await createOrtSession(MODEL, { ...EXECUTION, executionProvider: 'cpu' });
    await session.release();
    assert.deepEqual(choice, { provider: 'cpu', requested: 'cpu' });
  });

  it('falls back to the CPU without trying CUDA when onnxruntime-node has no CUDA provider library', async function () {
    const missing = cudaLibraryMissing();
    if (missing === undefined) this.skip(); // a CUDA install of onnxruntime-node
    assert.match(missing, /libonnxruntime_providers_cuda\.so.*ONNXRUNTIME_NODE_INSTALL=cuda12/);
    for (const requested of ['cuda', 'auto'] as const) {
      const { session, choice } = await createOrtSession(MODEL, { ...EXECUTION, executionProvider: requested });
      await session.release();
      assert.deepEqual(choice, { provider: 'cpu', requested, fallbackReason: missing });
    }
  });

  it('falls back to the CPU, with ONNX Runtime\'s error, when creating the session on CUDA fails', async function () {
    if (cudaLibraryMissing() === undefined) this.skip(); // CUDA may well work here
    const { session, choice } = await createOrtSession(MODEL, { ...EXECUTION, executionProvider: 'cuda' }, { probeCudaLibrary: false });
    assert.deepEqual(session.inputNames, ['input_ids', 'attention_mask']);
    await session.release();
    assert.equal(choice.provider, 'cpu');
    assert.equal(choice.requested, 'cuda');
    assert.match(choice.fallbackReason ?? '', /Cuda: Failed to load shared library/);
  });

  it('fails with the CPU attempt\'s error for a file that is no model', async () => {
    await assert.rejects(createOrtSession(__filename, { ...EXECUTION, executionProvider: 'auto' }, { probeCudaLibrary: false }), (error: Error) => !/Cuda/.test(error.message));
  });

  it('maps the configuration onto session options', () => {
    assert.deepEqual(sessionOptionsFor({ ...DEFAULT_EXECUTION, intraOpThreads: 3, interOpThreads: 2, graphOptimizationLevel: 'basic' }, ['cpu']), {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'basic',
      executionMode: 'sequential',
      interOpNumThreads: 2,
      intraOpNumThreads: 3,
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    assert.equal('intraOpNumThreads' in sessionOptionsFor(DEFAULT_EXECUTION, ['cpu']), false, '0: ONNX Runtime chooses');
  });
});

import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_MODEL_REPOSITORY, modelFiles } from '@inference-mesh/model-repository';
import { DEFAULT_EXECUTION, type ExecutionConfig } from './execution-config';
import { createOrtSession, cudaLibraryMissing, CudaUnavailableError, sessionOptionsFor, type ProviderChoice } from './session';

const MODEL = modelFiles(join(DEFAULT_MODEL_REPOSITORY, 'sentiment', '2')).model;
const EXECUTION: ExecutionConfig = { ...DEFAULT_EXECUTION, intraOpThreads: 1 };

type ChildOutcome = { readonly created: true; readonly choice: ProviderChoice; readonly inputNames: string[] } | { readonly created: false; readonly message: string };

/**
 * createOrtSession with CUDA tried for real (no library probe), in a child process: where CUDA cannot load, ONNX
 * Runtime's native logger writes the failure straight to file descriptor 2, which no code in this process can
 * catch. The child's stderr is captured instead, so the tests can assert that line and it stays off the terminal.
 */
async function createInChild(modelPath: string, execution: ExecutionConfig): Promise<{ outcome: ChildOutcome; stderr: string }> {
  const script = `
    const { createOrtSession } = require(${JSON.stringify(join(__dirname, 'session.js'))});
    const [modelPath, execution] = [process.argv[1], JSON.parse(process.argv[2])];
    createOrtSession(modelPath, execution, { probeCudaLibrary: false }).then(
      async ({ session, choice }) => {
        const inputNames = session.inputNames;
        await session.release();
        console.log(JSON.stringify({ created: true, choice, inputNames }));
      },
      (error) => console.log(JSON.stringify({ created: false, message: error.message })),
    );`;
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['-e', script, modelPath, JSON.stringify(execution)], { timeout: 50_000 });
  return { outcome: JSON.parse(stdout) as ChildOutcome, stderr };
}

describe('createOrtSession', function () {
  this.timeout(60_000);

  it('creates a CPU session when the CPU is asked for', async () => {
    const { session, choice } = await createOrtSession(MODEL, { ...EXECUTION, executionProvider: 'cpu' });
    await session.release();
    assert.deepEqual(choice, { provider: 'cpu', requested: 'cpu' });
  });

  it('auto falls back to the CPU without trying CUDA when onnxruntime-node has no CUDA provider library; cuda fails', async function () {
    const missing = cudaLibraryMissing();
    if (missing === undefined) this.skip(); // a CUDA install of onnxruntime-node
    assert.match(missing, /libonnxruntime_providers_cuda\.so.*ONNXRUNTIME_NODE_INSTALL=cuda12/);
    const { session, choice } = await createOrtSession(MODEL, { ...EXECUTION, executionProvider: 'auto' });
    await session.release();
    assert.deepEqual(choice, { provider: 'cpu', requested: 'auto', fallbackReason: missing, cudaFailed: false });
    await assert.rejects(createOrtSession(MODEL, { ...EXECUTION, executionProvider: 'cuda' }), (error: Error) => {
      assert.ok(error instanceof CudaUnavailableError, String(error));
      assert.equal(error.reason, missing);
      assert.match(error.message, /IMESH_MODEL_EXECUTION_PROVIDER=cuda does not fall back to the CPU/);
      return true;
    });
  });

  it('auto falls back to the CPU, with ONNX Runtime\'s error, when creating the session on CUDA fails', async function () {
    if (cudaLibraryMissing() === undefined) this.skip(); // CUDA may well work here
    const { outcome, stderr } = await createInChild(MODEL, { ...EXECUTION, executionProvider: 'auto' });
    assert.ok(outcome.created, `no session: ${JSON.stringify(outcome)}`);
    assert.deepEqual(outcome.inputNames, ['input_ids', 'attention_mask']);
    assert.equal(outcome.choice.provider, 'cpu');
    assert.equal(outcome.choice.requested, 'auto');
    assert.equal(outcome.choice.cudaFailed, true);
    assert.match(outcome.choice.fallbackReason ?? '', /Cuda: Failed to load shared library/);
    assert.match(stderr, /Failed to load library .*libonnxruntime_providers_\w+\.so/, 'ONNX Runtime logs the failed CUDA attempt');
  });

  it('cuda fails, with ONNX Runtime\'s error, when creating the session on CUDA fails: no CPU session', async function () {
    if (cudaLibraryMissing() === undefined) this.skip(); // CUDA may well work here
    const { outcome } = await createInChild(MODEL, { ...EXECUTION, executionProvider: 'cuda' });
    assert.ok(!outcome.created, `a session on ${JSON.stringify(outcome)}`);
    assert.match(outcome.message, /the CUDA execution provider is unavailable, and IMESH_MODEL_EXECUTION_PROVIDER=cuda does not fall back/);
    assert.match(outcome.message, /Cuda: Failed to load shared library/, "ONNX Runtime's reason");
  });

  it('fails with the CPU attempt\'s error for a file that is no model', async () => {
    const { outcome } = await createInChild(__filename, { ...EXECUTION, executionProvider: 'auto' });
    assert.ok(!outcome.created, 'a session for a file that is no model');
    assert.doesNotMatch(outcome.message, /Cuda/);
    assert.notEqual(outcome.message, '');
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

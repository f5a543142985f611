import { strict as assert } from 'node:assert';
import { isConfigError, parseConfig } from '@inference-mesh/service-kit';
import { cudaMemoryLimitNote, DEFAULT_EXECUTION, readExecutionConfig } from './execution-config';

function read(env: Record<string, string>) {
  return parseConfig(env, readExecutionConfig);
}

describe('readExecutionConfig', () => {
  it('defaults to CUDA when available, device 0, no memory limit, ORT\'s thread choice, one inter-op thread, all optimizations, a worker', () => {
    assert.deepEqual(read({}), {
      executionProvider: 'auto',
      cudaDeviceId: 0,
      cudaMemoryLimitBytes: 0,
      intraOpThreads: 0,
      interOpThreads: 1,
      graphOptimizationLevel: 'all',
      worker: true,
      allowSpinning: false,
    });
    assert.deepEqual(read({}), DEFAULT_EXECUTION);
  });

  it('reads every IMESH_MODEL_ execution variable', () => {
    assert.deepEqual(
      read({
        IMESH_MODEL_EXECUTION_PROVIDER: 'cuda',
        IMESH_MODEL_CUDA_DEVICE_ID: '1',
        IMESH_MODEL_CUDA_MEMORY_LIMIT_BYTES: '8589934592',
        IMESH_MODEL_INTRA_OP_THREADS: '4',
        IMESH_MODEL_INTER_OP_THREADS: '2',
        IMESH_MODEL_GRAPH_OPTIMIZATION: 'basic',
        IMESH_MODEL_WORKER: 'off',
        IMESH_MODEL_ALLOW_SPINNING: 'on',
      }),
      {
        executionProvider: 'cuda',
        cudaDeviceId: 1,
        cudaMemoryLimitBytes: 8589934592,
        intraOpThreads: 4,
        interOpThreads: 2,
        graphOptimizationLevel: 'basic',
        worker: false,
        allowSpinning: true,
      },
    );
    assert.equal(read({ IMESH_MODEL_EXECUTION_PROVIDER: 'cpu' }).executionProvider, 'cpu');
    assert.equal(read({ IMESH_MODEL_GRAPH_OPTIMIZATION: 'disabled' }).graphOptimizationLevel, 'disabled');
  });

  it('names every bad variable in one error', () => {
    assert.throws(
      () =>
        read({
          IMESH_MODEL_EXECUTION_PROVIDER: 'gpu',
          IMESH_MODEL_CUDA_DEVICE_ID: '-1',
          IMESH_MODEL_CUDA_MEMORY_LIMIT_BYTES: '2GB',
          IMESH_MODEL_INTRA_OP_THREADS: 'many',
          IMESH_MODEL_INTER_OP_THREADS: '-2',
          IMESH_MODEL_GRAPH_OPTIMIZATION: 'max',
          IMESH_MODEL_WORKER: 'maybe',
        }),
      (error: unknown) => {
        assert.ok(isConfigError(error));
        for (const expected of [
          'IMESH_MODEL_EXECUTION_PROVIDER="gpu": expected one of auto, cuda, cpu',
          'IMESH_MODEL_CUDA_DEVICE_ID="-1": expected an integer from 0 to 1023',
          'IMESH_MODEL_CUDA_MEMORY_LIMIT_BYTES="2GB": expected an integer from 0',
          'IMESH_MODEL_INTRA_OP_THREADS="many": expected an integer from 0 to 1024',
          'IMESH_MODEL_INTER_OP_THREADS="-2": expected an integer from 0 to 1024',
          'IMESH_MODEL_GRAPH_OPTIMIZATION="max": expected one of disabled, basic, extended, all',
          'IMESH_MODEL_WORKER="maybe": expected true or false',
        ]) {
          assert.ok(error.message.includes(expected), `${expected} in:\n${error.message}`);
        }
        return true;
      },
    );
  });

  it('says that a CUDA memory limit is not applied, unless none is set or the CPU is asked for', () => {
    assert.equal(cudaMemoryLimitNote(DEFAULT_EXECUTION), undefined);
    assert.equal(cudaMemoryLimitNote({ ...DEFAULT_EXECUTION, executionProvider: 'cpu', cudaMemoryLimitBytes: 1024 }), undefined);
    assert.match(cudaMemoryLimitNote({ ...DEFAULT_EXECUTION, cudaMemoryLimitBytes: 1024 }) ?? '', /=1024 is not applied: onnxruntime-node passes only deviceId/);
  });
});

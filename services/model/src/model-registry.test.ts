import { strict as assert } from 'node:assert';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { modelFiles, tokenizerFingerprint } from '@inference-mesh/model-repository';
import { createLogger } from '@inference-mesh/service-kit';
import { Tensor } from 'onnxruntime-node';
import { DEFAULT_MODEL_REPOSITORY } from '@inference-mesh/model-repository';
import { InferenceHandlers } from './handlers';
import { ModelMetrics, versionAttributes } from './model-metrics';
import { VersionExecutor } from './batching/version-executor';
import { ModelRegistry, type ReadyVersion } from './model-registry';
import { DEFAULT_EXECUTION } from './ort/execution-config';
import type { ModelLoader, ModelRunner } from './model-runner';
import { ortInThreadLoader } from './ort/main-thread-runner';
import { cudaLibraryMissing } from './ort/session';
import { OrtWorkerClient } from './ort/worker-client';
import { assertRejectsWithServiceError, assertServiceError, inferInput, inferRequest, int64Bytes } from './test-support';

const SENTIMENT_2 = join(DEFAULT_MODEL_REPOSITORY, 'sentiment', '2');

function quietLogger(lines: string[] = []) {
  return createLogger('model', 'info', (line) => lines.push(line));
}

function tempRepository(): string {
  return mkdtempSync(join(tmpdir(), 'model-registry-'));
}

/** Copies a real version folder to `<root>/<name>/<version>/`. */
function copyVersion(from: string, root: string, name: string, version: string): string {
  const dir = join(root, name, version);
  mkdirSync(dir, { recursive: true });
  for (const file of ['model.onnx', 'tokenizer.json', 'config.json']) copyFileSync(join(from, file), join(dir, file));
  return dir;
}

/** A loader whose runner records its runs (and the dims of their first feed); the model file is not read. */
function fakeLoader(
  runs: string[],
  options: { failWarmUp?: boolean; dims?: number[][]; batchDim?: number; onLoad?: () => void } = {},
): ModelLoader {
  return async (modelPath) => {
    options.onLoad?.();
    const runner: ModelRunner = {
      async run(feeds, outputNames, signal) {
        signal.throwIfAborted();
        runs.push(modelPath);
        options.dims?.push([...Object.values(feeds)[0]!.dims]);
        if (options.failWarmUp) throw new Error('kernel exploded');
        return { outputs: Object.fromEntries(outputNames.map((name) => [name, new Tensor('float32', new Float32Array(2), [1, 2])])), computeMs: 0 };
      },
      async release() {},
    };
    return {
      runner,
      inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [options.batchDim ?? -1, -1] }],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 2] }],
    };
  };
}

function toyRepository(versions: readonly string[]): string {
  const root = tempRepository();
  for (const version of versions) {
    mkdirSync(join(root, 'toy', version), { recursive: true });
    writeFileSync(join(root, 'toy', version, 'model.onnx'), '');
  }
  return root;
}

describe('ModelRegistry', function () {
  this.timeout(60_000);

  describe('with the committed sentiment versions', () => {
    let registry: ModelRegistry;
    before(async () => {
      registry = await ModelRegistry.load({
        repositoryRoot: DEFAULT_MODEL_REPOSITORY,
        loadModel: ortInThreadLoader({ ...DEFAULT_EXECUTION, executionProvider: 'cpu', intraOpThreads: 1, worker: false }),
        logger: quietLogger(),
      });
    });
    after(() => registry?.release());

    it('loads versions 1 and 2 as READY, and the server is ready', () => {
      assert.deepEqual(
        registry.versions.map((v) => [v.label, v.state]),
        [
          ['sentiment/1', 'READY'],
          ['sentiment/2', 'READY'],
        ],
      );
      assert.equal(registry.ready, true);
    });

    it('reads the inputs and outputs as KServe datatypes, -1 for dynamic dimensions', () => {
      const v2 = registry.resolveReady('sentiment', '2');
      assert.deepEqual(v2.inputs, [
        { name: 'input_ids', datatype: 'INT64', shape: [-1, -1] },
        { name: 'attention_mask', datatype: 'INT64', shape: [-1, -1] },
      ]);
      assert.deepEqual(v2.outputs, [{ name: 'logits', datatype: 'FP32', shape: [-1, 2] }]);
    });

    it('knows each version\'s tokenizer fingerprint, vocabulary size and maximum sequence length', () => {
      const v1 = registry.resolveReady('sentiment', '1');
      assert.equal(v1.fingerprint, tokenizerFingerprint(modelFiles(v1.dir).tokenizer));
      assert.match(v1.fingerprint ?? '', /^sha256:[0-9a-f]{64}$/);
      assert.equal(v1.vocabularySize, 8192);
      assert.equal(v1.maxSequenceLength, 128);
    });

    it('resolves an empty version to the highest READY one, and explicit versions as named', () => {
      assert.equal(registry.find('sentiment', '').version, '2');
      assert.equal(registry.resolveReady('sentiment', '').version, '2');
      assert.equal(registry.resolveReady('sentiment', '1').version, '1');
      assert.deepEqual(registry.readyVersionsOf('sentiment').map((v) => v.version), ['1', '2']);
    });

    it('answers NOT_FOUND for an unknown model or version, listing what there is', () => {
      assertServiceError(() => registry.find('toxicity', ''), status.NOT_FOUND, /unknown model "toxicity"; available models: sentiment/);
      assertServiceError(
        () => registry.resolveReady('sentiment', '7'),
        status.NOT_FOUND,
        /model "sentiment" has no version "7"; available versions: 1, 2/,
      );
    });

    it('runs a real batch through a version\'s runner', async () => {
      const v2 = registry.resolveReady('sentiment', '2');
      const ids = new Tensor('int64', BigInt64Array.from([2n, 199n, 186n, 130n, 494n, 3n]), [1, 6]);
      const mask = new Tensor('int64', new BigInt64Array(6).fill(1n), [1, 6]);
      const { outputs } = await v2.runner.run({ input_ids: ids, attention_mask: mask }, ['logits'], new AbortController().signal);
      assert.deepEqual(outputs['logits']!.dims, [1, 2]);
    });

    it('does not run for an aborted signal', async () => {
      const v2 = registry.resolveReady('sentiment', '2');
      const controller = new AbortController();
      controller.abort(new Error('gone'));
      await assert.rejects(v2.runner.run({}, ['logits'], controller.signal), /gone/);
    });
  });

  describe('with a broken version', () => {
    it('marks a garbage model.onnx UNAVAILABLE with its error, logs it, and serves the other version', async () => {
      const root = tempRepository();
      copyVersion(SENTIMENT_2, root, 'sentiment', '2');
      mkdirSync(join(root, 'sentiment', '3'));
      writeFileSync(join(root, 'sentiment', '3', 'model.onnx'), 'this is not an ONNX model');
      const lines: string[] = [];
      const registry = await ModelRegistry.load({
        repositoryRoot: root,
        loadModel: ortInThreadLoader({ ...DEFAULT_EXECUTION, executionProvider: 'cpu', intraOpThreads: 1, worker: false }),
        logger: quietLogger(lines),
      });
      try {
        const [v2, v3] = registry.versions;
        assert.equal(v2?.state, 'READY');
        assert.equal(v3?.state, 'UNAVAILABLE');
        assert.ok(v3?.state === 'UNAVAILABLE' && v3.error.length > 0);
        assert.equal(registry.ready, false, 'not every version is ready');
        assert.equal(registry.anyReady, true);
        assert.equal(registry.find('sentiment', '').version, '2', 'latest READY, not latest');
        assert.equal(registry.find('sentiment', '3').state, 'UNAVAILABLE');
        assertServiceError(() => registry.resolveReady('sentiment', '3'), status.FAILED_PRECONDITION, /^model "sentiment" version 3 failed to load: \S/);
        assertServiceError(() => registry.find('sentiment', '4'), status.NOT_FOUND, /available versions: 2, 3 \(UNAVAILABLE: /);
        const logged = lines.map((line) => JSON.parse(line) as { level: string; msg: string; version?: string });
        assert.ok(logged.some((l) => l.level === 'error' && l.version === '3' && /failed to load/.test(l.msg)));
      } finally {
        await registry.release();
      }
    });

    it('marks a version whose warm-up run fails UNAVAILABLE, and says so for an empty version when none is READY', async () => {
      const root = tempRepository();
      mkdirSync(join(root, 'toy', '1'), { recursive: true });
      writeFileSync(join(root, 'toy', '1', 'model.onnx'), '');
      const registry = await ModelRegistry.load({ repositoryRoot: root, loadModel: fakeLoader([], { failWarmUp: true }), logger: quietLogger() });
      const [v1] = registry.versions;
      assert.ok(v1?.state === 'UNAVAILABLE');
      assert.match(v1.error, /warm-up run failed: kernel exploded/);
      assert.equal(registry.find('toy', '').version, '1');
      assert.equal(registry.anyReady, false);
      assertServiceError(
        () => registry.resolveReady('toy', ''),
        status.FAILED_PRECONDITION,
        /^model "toy" has no version that loaded \(version 1: warm-up run failed: kernel exploded\)$/,
      );
    });

    it('is not ready with an empty repository', async () => {
      const registry = await ModelRegistry.load({ repositoryRoot: tempRepository(), loadModel: fakeLoader([]), logger: quietLogger() });
      assert.equal(registry.ready, false);
      assertServiceError(() => registry.find('sentiment', ''), status.NOT_FOUND, /available models: \(none\)/);
    });
  });

  describe('InferenceHandlers', () => {
    it('warms each version up once, and starts no run for a request whose caller has gone', async () => {
      const root = tempRepository();
      for (const version of ['1', '2']) {
        mkdirSync(join(root, 'toy', version), { recursive: true });
        writeFileSync(join(root, 'toy', version, 'model.onnx'), '');
      }
      const runs: string[] = [];
      const registry = await ModelRegistry.load({ repositoryRoot: root, loadModel: fakeLoader(runs), logger: quietLogger() });
      assert.equal(runs.length, 2, 'one warm-up run per version');
      const metrics = new ModelMetrics();
      const executors = new Map<ReadyVersion, VersionExecutor>();
      const service = new InferenceHandlers({
        registry,
        metrics,
        executorOf: (version) => executors.get(version) ?? executors.set(version, new VersionExecutor(version, versionAttributes(version.name, version.version), metrics)).get(version)!,
        serverName: 'test',
        serverVersion: '0.0.0',
      });
      const request = inferRequest({ modelName: 'toy', inputs: [inferInput('input_ids', 'INT64', [1, 2])], rawInputContents: [int64Bytes([5, 6])] });
      const live = { signal: new AbortController().signal, deadlineMs: Infinity, metadata: undefined as never };
      const response = await service.modelInfer(request, live);
      assert.equal(response.modelVersion, '2');
      assert.equal(runs.length, 3);

      const controller = new AbortController();
      const reason = new Error('the caller cancelled the call');
      reason.name = 'AbortError';
      controller.abort(reason);
      await assert.rejects(service.modelInfer(request, { ...live, signal: controller.signal }), { name: 'AbortError' });
      assert.equal(runs.length, 3, 'no run for an aborted request');

      await assertRejectsWithServiceError(
        () => service.modelInfer({ ...request, modelVersion: '9' }, live),
        status.NOT_FOUND,
        /model "toy" has no version "9"; available versions: 1, 2/,
      );
      const ready: ReadyVersion = registry.resolveReady('toy', '1');
      assert.equal(ready.fingerprint, undefined, 'no tokenizer.json, no fingerprint');
    });
  });
  describe('loading', () => {
    it('warms a version up once per batch size, ascending, sequence dimensions at 1, before it is READY', async () => {
      const runs: string[] = [];
      const dims: number[][] = [];
      const registry = await ModelRegistry.load({
        repositoryRoot: toyRepository(['1']),
        loadModel: fakeLoader(runs, { dims }),
        logger: quietLogger(),
        warmupBatchSizes: [8, 1, 32, 8],
      });
      assert.equal(registry.ready, true);
      assert.deepEqual(dims, [[1, 1], [8, 1], [32, 1]]);
    });

    it('warms a model with a fixed batch dimension up once, at that size', async () => {
      const dims: number[][] = [];
      await ModelRegistry.load({
        repositoryRoot: toyRepository(['1']),
        loadModel: fakeLoader([], { dims, batchDim: 4 }),
        logger: quietLogger(),
        warmupBatchSizes: [1, 16],
      });
      assert.deepEqual(dims, [[4, 1]]);
    });

    it('records the resident memory each version added while it loaded and warmed up, and logs it', async () => {
      let rss = 1_000_000;
      const lines: string[] = [];
      const registry = await ModelRegistry.load({
        repositoryRoot: toyRepository(['1', '2']),
        loadModel: fakeLoader([], { onLoad: () => (rss += 5_000) }),
        logger: quietLogger(lines),
        residentMemory: () => rss,
      });
      assert.deepEqual(registry.versions.map((v) => v.state === 'READY' && v.memoryBytes), [5_000, 5_000]);
      const ready = lines.map((line) => JSON.parse(line) as { msg: string; memoryBytes?: number }).filter((l) => l.msg === 'model version ready');
      assert.deepEqual(ready.map((l) => l.memoryBytes), [5_000, 5_000]);
    });

    it('loads the real versions into the ONNX Runtime worker, warmed up per batch size, each with the memory it took', async () => {
      const ortWorker = await OrtWorkerClient.start({ execution: { ...DEFAULT_EXECUTION, intraOpThreads: 1 }, logger: quietLogger() });
      const lines: string[] = [];
      const registry = await ModelRegistry.load({
        repositoryRoot: DEFAULT_MODEL_REPOSITORY,
        loadModel: ortWorker.loadModel,
        logger: quietLogger(lines),
        warmupBatchSizes: [1, 4],
      });
      try {
        assert.equal(registry.ready, true);
        assert.equal(ortWorker.stats().runs, 4, 'two warm-up runs per version');
        const v2 = registry.resolveReady('sentiment', '2');
        // Growth of the process's RSS: 0 when the allocator reuses what earlier tests in this process freed (about
        // one run in five); the arithmetic is checked exactly above, with a fake residentMemory.
        assert.ok(Number.isSafeInteger(v2.memoryBytes) && v2.memoryBytes >= 0, `memoryBytes ${v2.memoryBytes}`);
        assert.equal(v2.executionProvider?.provider, 'cpu');
        const logged = lines.map((line) => JSON.parse(line) as { level: string; msg: string; version?: string; provider?: string; requested?: string });
        assert.ok(logged.some((l) => l.level === 'info' && l.msg === 'execution provider' && l.version === '2' && l.provider === 'cpu' && l.requested === 'auto'));
        const ids = new Tensor('int64', BigInt64Array.from([2n, 100n, 200n, 3n]), [1, 4]);
        const mask = new Tensor('int64', new BigInt64Array(4).fill(1n), [1, 4]);
        const { outputs } = await v2.runner.run({ input_ids: ids, attention_mask: mask }, ['logits'], new AbortController().signal);
        assert.deepEqual(outputs['logits']!.dims, [1, 2]);
      } finally {
        await registry.release();
        await ortWorker.close();
      }
    });

    it('with cuda, a version that cannot be created on CUDA fails to load, with the reason, and nothing is ready', async function () {
      const missing = cudaLibraryMissing();
      if (missing === undefined) this.skip(); // a CUDA install of onnxruntime-node: CUDA may well work here
      const root = tempRepository();
      copyVersion(SENTIMENT_2, root, 'sentiment', '2');
      const lines: string[] = [];
      const ortWorker = await OrtWorkerClient.start({ execution: { ...DEFAULT_EXECUTION, executionProvider: 'cuda', intraOpThreads: 1 }, logger: quietLogger() });
      try {
        const registry = await ModelRegistry.load({ repositoryRoot: root, loadModel: ortWorker.loadModel, logger: quietLogger(lines) });
        assert.equal(registry.ready, false);
        assert.equal(registry.anyReady, false, 'no CPU session stands in for CUDA');
        const v2 = registry.find('sentiment', '2');
        assert.equal(v2.state, 'UNAVAILABLE');
        assert.match(v2.state === 'UNAVAILABLE' ? v2.error : '', /CUDA execution provider is unavailable, and IMESH_MODEL_EXECUTION_PROVIDER=cuda does not fall back to the CPU/);
        assert.ok(v2.state === 'UNAVAILABLE' && v2.error.includes(missing), 'the reason CUDA failed');
        assertServiceError(() => registry.resolveReady('sentiment', '2'), status.FAILED_PRECONDITION, /IMESH_MODEL_EXECUTION_PROVIDER=cuda/);
        const logged = lines.map((line) => JSON.parse(line) as { level: string; msg: string; version?: string; error?: { message?: string } });
        const failure = logged.find((l) => l.level === 'error' && /failed to load/.test(l.msg) && l.version === '2');
        assert.ok(failure, lines.join('\n'));
        assert.ok((failure.error?.message ?? '').includes(missing), JSON.stringify(failure));
        assert.ok(!logged.some((l) => l.msg === 'execution provider' || /on the CPU/.test(l.msg)), 'nothing serves on the CPU');
        assert.ok(ortWorker.alive, 'the worker itself keeps running');
      } finally {
        await ortWorker.close();
      }
    });

    it('with auto, falls back to the CPU and serves, naming the reason', async function () {
      const missing = cudaLibraryMissing();
      if (missing === undefined) this.skip(); // a CUDA install of onnxruntime-node
      const root = tempRepository();
      copyVersion(SENTIMENT_2, root, 'sentiment', '2');
      const lines: string[] = [];
      const registry = await ModelRegistry.load({
        repositoryRoot: root,
        loadModel: ortInThreadLoader({ ...DEFAULT_EXECUTION, executionProvider: 'auto', intraOpThreads: 1, worker: false }),
        logger: quietLogger(lines),
      });
      try {
        assert.equal(registry.ready, true);
        const v2 = registry.resolveReady('sentiment', '2');
        assert.deepEqual(v2.executionProvider, { provider: 'cpu', requested: 'auto', fallbackReason: missing, cudaFailed: false });
        const logged = lines
          .map((line) => JSON.parse(line) as { level: string; msg: string; provider?: string; requested?: string; reason?: string })
          .find((l) => /^execution provider/.test(l.msg));
        assert.ok(logged, lines.join('\n'));
        // CPU-only onnxruntime-node: nothing failed, so info; a CUDA attempt that fails is a warning (session.test.ts).
        assert.deepEqual([logged.level, logged.provider, logged.requested, logged.reason], ['info', 'cpu', 'auto', missing]);
        const ids = new Tensor('int64', BigInt64Array.from([2n, 100n, 200n, 3n]), [1, 4]);
        const mask = new Tensor('int64', new BigInt64Array(4).fill(1n), [1, 4]);
        const { outputs } = await v2.runner.run({ input_ids: ids, attention_mask: mask }, ['logits'], new AbortController().signal);
        assert.deepEqual(outputs['logits']!.dims, [1, 2]);
      } finally {
        await registry.release();
      }
    });

    it('warns, naming ONNX Runtime\'s error, when auto tried CUDA, CUDA failed and the CPU serves', async () => {
      const root = tempRepository();
      copyVersion(SENTIMENT_2, root, 'sentiment', '2');
      const lines: string[] = [];
      const reason = 'CUDA failure 100: no CUDA-capable device is detected';
      const cpuLoader = ortInThreadLoader({ ...DEFAULT_EXECUTION, executionProvider: 'cpu', intraOpThreads: 1, worker: false });
      // The choice the ONNX Runtime loaders report after a failed CUDA attempt (see session.test.ts for the real one).
      const loadModel: ModelLoader = async (path) => ({
        ...(await cpuLoader(path)),
        executionProvider: { provider: 'cpu', requested: 'auto', fallbackReason: reason, cudaFailed: true },
      });
      const registry = await ModelRegistry.load({ repositoryRoot: root, loadModel, logger: quietLogger(lines) });
      try {
        assert.equal(registry.ready, true);
        const warning = lines
          .map((line) => JSON.parse(line) as { level: string; msg: string; provider?: string; requested?: string; reason?: string })
          .find((l) => l.level === 'warn' && /^execution provider/.test(l.msg));
        assert.ok(warning, lines.join('\n'));
        assert.deepEqual([warning.provider, warning.requested, warning.reason], ['cpu', 'auto', reason]);
      } finally {
        await registry.release();
      }
    });
  });
});

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { DEFAULT_MODEL_REPOSITORY, modelFiles } from '@inference-mesh/model-repository';
import { createLogger, isServiceError } from '@inference-mesh/service-kit';
import { Tensor } from 'onnxruntime-node';
import { DEFAULT_EXECUTION, type ExecutionConfig } from './execution-config';
import type { LoadedModel } from '../model-runner';
import { ortInThreadLoader } from './main-thread-runner';
import { startOrtLoader } from './loader';
import { cudaLibraryMissing } from './session';
import { OrtWorkerClient } from './worker-client';

const SENTIMENT_2 = join(DEFAULT_MODEL_REPOSITORY, 'sentiment', '2');
const MODEL = modelFiles(SENTIMENT_2).model;
/** One operator thread: the tests share two cores, and in-thread and worker runs then compute bit for bit alike. */
const EXECUTION: ExecutionConfig = { ...DEFAULT_EXECUTION, intraOpThreads: 1 };
const vocab = (JSON.parse(readFileSync(modelFiles(SENTIMENT_2).tokenizer, 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;

function logLines(lines: string[] = []) {
  return createLogger('model', 'info', (line) => lines.push(line));
}

/** Fresh [CLS] words [SEP] feeds padded to `length`, one row per text: the runner takes their buffers. */
function feedsOf(texts: readonly string[], length = 8): Record<string, Tensor> {
  const ids = new BigInt64Array(texts.length * length).fill(BigInt(vocab['[PAD]']!));
  const mask = new BigInt64Array(texts.length * length);
  texts.forEach((text, row) => {
    const tokens = [vocab['[CLS]']!, ...text.split(' ').map((word) => vocab[word] ?? vocab['[UNK]']!), vocab['[SEP]']!];
    tokens.forEach((id, i) => {
      ids[row * length + i] = BigInt(id);
      mask[row * length + i] = 1n;
    });
  });
  return {
    input_ids: new Tensor('int64', ids, [texts.length, length]),
    attention_mask: new Tensor('int64', mask, [texts.length, length]),
  };
}

/** Rows × sequence of arbitrary token ids, all attended. */
function bigFeeds(rows: number, sequence: number): Record<string, Tensor> {
  const ids = BigInt64Array.from({ length: rows * sequence }, (_, i) => BigInt(5 + ((i * 37) % 8000)));
  return {
    input_ids: new Tensor('int64', ids, [rows, sequence]),
    attention_mask: new Tensor('int64', new BigInt64Array(rows * sequence).fill(1n), [rows, sequence]),
  };
}

const TEXTS = ['this movie is great', 'this movie is terrible', 'bad', 'i loved every minute of it', 'boring and far too long', 'fine'];
const live = () => new AbortController().signal;

async function logits(model: LoadedModel, feeds: Record<string, Tensor>): Promise<number[]> {
  const { outputs } = await model.runner.run(feeds, ['logits'], live());
  return Array.from(outputs['logits']!.data as Float32Array);
}

function assertClose(actual: readonly number[], expected: readonly number[], message?: string): void {
  assert.equal(actual.length, expected.length, message);
  actual.forEach((value, i) => assert.ok(Math.abs(value - expected[i]!) <= 1e-5, `${message ?? ''} [${i}]: ${value} vs ${expected[i]}`));
}

/** Resolves with how `promise` settled, so a test can assert on a rejection it started earlier. */
function settled<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

describe('OrtWorkerClient', function () {
  this.timeout(60_000);

  describe('with the real sentiment/2', () => {
    let client: OrtWorkerClient;
    let worker: LoadedModel;
    let inThread: LoadedModel;
    before(async () => {
      client = await OrtWorkerClient.start({ execution: EXECUTION, logger: logLines() });
      worker = await client.loadModel(MODEL);
      inThread = await ortInThreadLoader({ ...EXECUTION, worker: false })(MODEL);
    });
    after(async () => {
      await worker?.runner.release();
      await inThread?.runner.release();
      await client?.close();
    });

    it('describes the model as the in-thread loader does and says which provider serves it', () => {
      assert.deepEqual(worker.inputs, inThread.inputs);
      assert.deepEqual(worker.outputs, inThread.outputs);
      assert.equal(worker.executionProvider?.provider, 'cpu');
      assert.equal(worker.executionProvider?.requested, 'auto');
    });

    it('gives the same logits as ONNX Runtime on the main thread', async () => {
      const expected = await logits(inThread, feedsOf(TEXTS));
      const actual = await logits(worker, feedsOf(TEXTS));
      assert.equal(actual.length, TEXTS.length * 2);
      assertClose(actual, expected);
      assert.ok(actual[1]! > actual[0]!, 'the first text is positive');
    });

    it('settles many concurrent runs, each with the outputs of its own inputs', async () => {
      const batches = Array.from({ length: 24 }, (_, i) => TEXTS.slice(i % TEXTS.length, (i % TEXTS.length) + 1 + (i % 3)));
      const expected: number[][] = [];
      for (const texts of batches) expected.push(await logits(inThread, feedsOf(texts)));
      const before = client.stats().runs;
      const outputs = await Promise.all(batches.map((texts) => worker.runner.run(feedsOf(texts), ['logits'], live())));
      outputs.forEach(({ outputs: out }, i) => {
        assert.deepEqual(out['logits']!.dims, [batches[i]!.length, 2], `dims of run ${i}`);
        assertClose(Array.from(out['logits']!.data as Float32Array), expected[i]!, `run ${i} (${batches[i]!.join(' | ')})`);
      });
      assert.equal(client.stats().runs - before, batches.length);
      assert.equal(client.stats().pending, 0);
    });

    it('transfers whole feed buffers to the worker and copies views into larger buffers, leaving those intact', async () => {
      const whole = feedsOf(TEXTS.slice(0, 2));
      const expected = await logits(inThread, feedsOf(TEXTS.slice(0, 2)));
      assert.equal(whole['input_ids']!.data.length, 16);
      assertClose(await logits(worker, whole), expected);
      assert.equal((whole['input_ids']!.data as BigInt64Array).buffer.byteLength, 0, 'input_ids was transferred (detached here)');
      assert.equal((whole['attention_mask']!.data as BigInt64Array).buffer.byteLength, 0, 'attention_mask was transferred');

      // As decoded from one gRPC message: both inputs view slices of a single larger buffer.
      const message = new BigInt64Array(40);
      const source = feedsOf(TEXTS.slice(0, 2));
      message.set(source['input_ids']!.data as BigInt64Array, 4);
      message.set(source['attention_mask']!.data as BigInt64Array, 20);
      const views = {
        input_ids: new Tensor('int64', message.subarray(4, 20), [2, 8]),
        attention_mask: new Tensor('int64', message.subarray(20, 36), [2, 8]),
      };
      assertClose(await logits(worker, views), expected);
      assert.equal(message.buffer.byteLength, 40 * 8, 'the message buffer is still here');
      assert.equal(views.input_ids.data.length, 16);
    });

    it('keeps the main thread\'s event loop turning while a 64-row batch computes, unlike an in-thread run', async () => {
      const ticksDuring = async (model: LoadedModel) => {
        let ticks = 0;
        const timer = setInterval(() => ticks++, 1);
        const started = performance.now();
        await model.runner.run(bigFeeds(64, 64), ['logits'], live());
        const ms = performance.now() - started;
        clearInterval(timer);
        return { ticks, ms };
      };
      const onWorker = await ticksDuring(worker);
      const onMain = await ticksDuring(inThread);
      assert.ok(onMain.ticks <= 3, `the in-thread run blocks the loop: ${JSON.stringify(onMain)}`);
      assert.ok(onWorker.ticks >= Math.min(10, onWorker.ms / 4), `the loop turned during the worker run: ${JSON.stringify(onWorker)}`);
    });

    it('lets runs submitted before a release finish, then fails runs of the released version clearly', async () => {
      const model = await client.loadModel(MODEL);
      const running = model.runner.run(feedsOf(TEXTS), ['logits'], live());
      const releasing = model.runner.release();
      await releasing;
      assert.deepEqual((await running).outputs['logits']!.dims, [TEXTS.length, 2], 'the run queued before the release completed');
      await assert.rejects(model.runner.run(feedsOf(TEXTS), ['logits'], live()), /the model session was released \(.*sentiment\/2\/model\.onnx\)/);
      await model.runner.release(); // idempotent
      assert.equal(client.alive, true);
    });

    it('does not post a run whose signal has already aborted', async () => {
      const controller = new AbortController();
      controller.abort(new Error('caller gone'));
      const before = client.stats().runs;
      await assert.rejects(worker.runner.run(feedsOf(TEXTS), ['logits'], controller.signal), /caller gone/);
      assert.equal(client.stats().runs, before);
    });

    it('rejects a run that ONNX Runtime refuses with its error, and keeps serving', async () => {
      const feeds = feedsOf(TEXTS);
      delete feeds['attention_mask'];
      await assert.rejects(worker.runner.run(feeds, ['logits'], live()), /attention_mask/);
      assert.equal((await logits(worker, feedsOf(['fine']))).length, 2);
    });
  });

  it('refuses to load with cuda on a machine without CUDA, saying why, and serves with auto on the CPU', async function () {
    const missing = cudaLibraryMissing();
    if (missing === undefined) this.skip(); // a CUDA install of onnxruntime-node: CUDA may well work here
    const onCuda = await OrtWorkerClient.start({ execution: { ...EXECUTION, executionProvider: 'cuda' }, logger: logLines() });
    try {
      await assert.rejects(onCuda.loadModel(MODEL), (error: Error) => {
        assert.match(error.message, /IMESH_MODEL_EXECUTION_PROVIDER=cuda does not fall back to the CPU/);
        assert.ok(error.message.includes(missing), error.message);
        return true;
      });
      assert.equal(onCuda.alive, true);
    } finally {
      await onCuda.close();
    }
    const auto = await OrtWorkerClient.start({ execution: { ...EXECUTION, executionProvider: 'auto' }, logger: logLines() });
    try {
      const model = await auto.loadModel(MODEL);
      assert.deepEqual(model.executionProvider, { provider: 'cpu', requested: 'auto', fallbackReason: missing, cudaFailed: false });
      assert.equal((await logits(model, feedsOf(['fine']))).length, 2);
    } finally {
      await auto.close();
    }
  });

  it('refuses a file that is not a model, and keeps serving', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ort-worker-'));
    writeFileSync(join(dir, 'model.onnx'), 'this is not an ONNX model');
    const client = await OrtWorkerClient.start({ execution: EXECUTION, logger: logLines() });
    try {
      await assert.rejects(client.loadModel(join(dir, 'model.onnx')), (error: Error) => !/CUDA/.test(error.message) && error.message.length > 0);
      assert.equal(client.alive, true);
      assert.equal((await logits(await client.loadModel(MODEL), feedsOf(['fine']))).length, 2);
    } finally {
      await client.close();
    }
  });

  it('bounds close(): runs still computing after waitMs are cut off with the thread, not waited for', async () => {
    // In a child process: terminating the thread under a running ONNX Runtime call aborts the process (the price
    // of a bounded shutdown), which this process must survive. The child posts 24 runs of 128 rows (a few hundred
    // ms each on one operator thread: seconds in all) and closes with waitMs 300; unbounded, the close would wait
    // until the worker had computed them all.
    const script = `
      const { OrtWorkerClient } = require(${JSON.stringify(join(__dirname, 'worker-client.js'))});
      const { Tensor } = require('onnxruntime-node');
      const [model, execution] = [process.argv[1], JSON.parse(process.argv[2])];
      const logger = { debug() {}, info() {}, warn() {}, error() {} };
      const feeds = () => {
        const ids = BigInt64Array.from({ length: 128 * 128 }, (_, i) => BigInt(5 + ((i * 37) % 8000)));
        return { input_ids: new Tensor('int64', ids, [128, 128]), attention_mask: new Tensor('int64', new BigInt64Array(128 * 128).fill(1n), [128, 128]) };
      };
      (async () => {
        const client = await OrtWorkerClient.start({ execution, logger });
        const loaded = await client.loadModel(model);
        for (let i = 0; i < 24; i++) loaded.runner.run(feeds(), ['logits'], new AbortController().signal).catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, 50));
        console.log('closing ' + Date.now());
        await client.close(300);
        process.exit(0);
      })();`;
    const child = spawn(process.execPath, ['-e', script, MODEL, JSON.stringify(EXECUTION)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.resume();
    const ended = await new Promise<number>((resolve) => child.on('exit', () => resolve(Date.now())));
    const closing = Number(/closing (\d+)/.exec(stdout)?.[1]);
    assert.ok(closing > 0, `the child never closed: ${stdout}`);
    assert.ok(ended - closing < 3_000, `close() took ${ended - closing} ms with waitMs 300: it waited for the runs`);
  });

  it('rejects pending runs with UNAVAILABLE when closed, refuses later ones, and does not call onWorkerExit', async () => {
    const client = await OrtWorkerClient.start({ execution: EXECUTION, logger: logLines() });
    const model = await client.loadModel(MODEL);
    let exits = 0;
    client.onWorkerExit(() => exits++);
    const pending = [1, 2, 3].map(() => settled(model.runner.run(bigFeeds(32, 64), ['logits'], live())));
    await client.close();
    for (const result of await Promise.all(pending)) {
      assert.ok(!result.ok && isServiceError(result.error) && result.error.code === status.UNAVAILABLE, String(!result.ok && result.error));
      assert.match((result.error as Error).message, /shutting down/);
    }
    await assert.rejects(model.runner.run(feedsOf(['fine']), ['logits'], live()), /shutting down/);
    await model.runner.release(); // nothing left to free: no error
    await client.close(); // idempotent
    assert.equal(exits, 0);
    assert.equal(client.alive, false);
  });

  describe('when the worker thread dies', () => {
    /** A stand-in worker: loads anything; a run of 7 throws an uncaught error, of 9 exits, others never answer. */
    const script = join(mkdtempSync(join(tmpdir(), 'ort-worker-')), 'dying-worker.js');
    writeFileSync(
      script,
      `const { parentPort } = require('node:worker_threads');
const spec = (name) => ({ name, isTensor: true, type: 'float32', shape: ['batch'] });
parentPort.on('message', (m) => {
  if (m.kind === 'load') {
    parentPort.postMessage({ kind: 'loaded', id: m.id, sessionId: 1, inputMetadata: [spec('x')], outputMetadata: [spec('y')], choice: { provider: 'cpu', requested: 'cpu' } });
  } else if (m.kind === 'run' && m.feeds.x.data[0] === 7) {
    setTimeout(() => { throw new Error('kernel blew up'); }, 20);
  } else if (m.kind === 'run' && m.feeds.x.data[0] === 9) {
    setTimeout(() => process.exit(3), 20);
  }
});
parentPort.postMessage({ kind: 'ready' });
`,
    );
    const x = (value: number) => ({ x: new Tensor('float32', Float32Array.of(value), [1]) });

    for (const [trigger, cause] of [
      [7, /the ONNX Runtime worker thread failed: kernel blew up/],
      [9, /the ONNX Runtime worker thread exited with code 3/],
    ] as const) {
      it(`rejects every pending run with UNAVAILABLE, logs, tells onWorkerExit once and fails later runs at once (${trigger === 7 ? 'uncaught error' : 'exit'})`, async () => {
        const lines: string[] = [];
        const client = await OrtWorkerClient.start({ execution: EXECUTION, logger: logLines(lines), workerPath: script });
        const exits: Error[] = [];
        client.onWorkerExit((error) => exits.push(error));
        const model = await client.loadModel('/any/model.onnx');
        assert.deepEqual(model.inputs, [{ name: 'x', datatype: 'FP32', shape: [-1] }]);
        const waiting = settled(model.runner.run(x(1), ['y'], live()));
        const dying = settled(model.runner.run(x(trigger), ['y'], live()));
        for (const result of [await waiting, await dying]) {
          assert.ok(!result.ok && isServiceError(result.error) && result.error.code === status.UNAVAILABLE);
          assert.match((result.error as Error).message, cause);
          assert.match((result.error as Error).message, /must be restarted/);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal(exits.length, 1, 'told once, though the worker both failed and exited');
        assert.match(exits[0]!.message, cause);
        await assert.rejects(model.runner.run(x(1), ['y'], live()), cause);
        await assert.rejects(client.loadModel('/any/model.onnx'), cause);
        assert.equal(client.alive, false);
        const late: Error[] = [];
        client.onWorkerExit((error) => late.push(error));
        await new Promise((resolve) => process.nextTick(resolve));
        assert.equal(late.length, 1, 'a listener hooked after the death hears of it too');
        const logged = lines.map((line) => JSON.parse(line) as { level: string; msg: string; pendingRequests?: number });
        assert.ok(logged.some((l) => l.level === 'error' && /worker thread stopped/.test(l.msg) && l.pendingRequests === 2), lines.join('\n'));
        await model.runner.release();
        await client.close();
      });
    }
  });

  describe('startOrtLoader', () => {
    it('starts the worker by default, and runs on the main thread with IMESH_MODEL_WORKER off', async () => {
      const lines: string[] = [];
      const inWorker = await startOrtLoader({ execution: { ...EXECUTION, cudaMemoryLimitBytes: 1 << 30 }, logger: logLines(lines) });
      try {
        assert.equal(inWorker.mode, 'worker');
        assert.ok(inWorker instanceof OrtWorkerClient);
      } finally {
        await inWorker.close();
      }
      assert.ok(lines.some((line) => /IMESH_MODEL_CUDA_MEMORY_LIMIT_BYTES=1073741824 is not applied/.test(line)), 'the unsupported limit is reported');
      const onMain = await startOrtLoader({ execution: { ...EXECUTION, worker: false }, logger: logLines() });
      assert.equal(onMain.mode, 'main-thread');
      const model = await onMain.loadModel(MODEL);
      assert.equal((await logits(model, feedsOf(['fine']))).length, 2);
      await model.runner.release();
      await onMain.close();
    });
  });
});

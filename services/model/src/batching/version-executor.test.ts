import { status } from '@grpc/grpc-js';
import { isServiceError } from '@inference-mesh/service-kit';
import type { Histogram } from '@opentelemetry/sdk-metrics';
import { strict as assert } from 'node:assert';
import { Tensor } from 'onnxruntime-node';
import { versionAttributes } from '../model-metrics';
import type { RunResult } from '../model-runner';
import { collectedModelMetrics } from '../test-support';
import { DEFAULT_BATCHING, type BatchingConfig } from './batching-config';
import type { Clock } from './dynamic-batcher';
import { VersionExecutor, type ExecutableVersion, type InferCall } from './version-executor';

const V1 = versionAttributes('toy', '1');

/** A clock that moves only when told; timers never fire (every test cuts batches at once). */
function manualClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  return { now: () => now, setTimer: () => ({ cancel() {} }), advance: (ms) => (now += ms) };
}

/** A version whose runs wait for `release()`, then report `computeMs` as ONNX Runtime's own time. */
function heldVersion(batching: Partial<BatchingConfig>) {
  const releases: (() => void)[] = [];
  let started = 0;
  const version: ExecutableVersion = {
    inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [-1, -1] }],
    outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 2] }],
    batching: { ...DEFAULT_BATCHING, maxQueueDelayUs: 0, ...batching },
    padTokenId: 0,
    runner: {
      run: (feeds) => {
        started++;
        const rows = feeds['input_ids']!.dims[0]!;
        return new Promise<RunResult>((resolve) => {
          releases.push(() => resolve({ outputs: { logits: new Tensor('float32', new Float32Array(rows * 2), [rows, 2]) }, computeMs: 5 }));
        });
      },
      release: async () => {},
    },
  };
  return { version, releases, started: () => started };
}

function call(signal: AbortSignal = new AbortController().signal, deadlineMs = Infinity): InferCall {
  return { feeds: { input_ids: new Tensor('int64', new BigInt64Array(3), [1, 3]) }, outputNames: ['logits'], rows: 1, signal, deadlineMs };
}

/** Lets the batcher's promise chains run: enough turns for a run to be handed over or its result split. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe('VersionExecutor metrics', () => {
  it("records ONNX Runtime's own run time as compute time, and the rest as the wait for the inference thread", async () => {
    const { metrics, collect, shutdown } = collectedModelMetrics();
    const clock = manualClock();
    const held = heldVersion({ maxConcurrentBatches: 1 });
    const executor = new VersionExecutor(held.version, V1, metrics, clock);
    const result = executor.infer(call());
    await settle();
    assert.equal(held.started(), 1);
    clock.advance(30); // the batch waited 25 ms behind another, then ONNX Runtime took 5 ms
    held.releases[0]!();
    await result;
    const points = await collect();
    const compute = points.get('imesh.model.compute.duration')![0]!.value as Histogram;
    const wait = points.get('imesh.model.compute.wait.duration')![0]!.value as Histogram;
    assert.deepEqual([compute.count, compute.sum], [1, 0.005]);
    assert.deepEqual([wait.count, wait.sum], [1, 0.025]);
    await shutdown();
  });

  it("gives each request its own queue wait and its batch's compute time, in milliseconds", async () => {
    const { metrics, shutdown } = collectedModelMetrics();
    const clock = manualClock();
    const held = heldVersion({ maxConcurrentBatches: 1 });
    const executor = new VersionExecutor(held.version, V1, metrics, clock);
    const first = executor.infer(call());
    await settle();
    clock.advance(2);
    const second = executor.infer(call()); // waits behind the running batch
    await settle();
    clock.advance(8);
    held.releases[0]!();
    await settle();
    held.releases[1]!();
    const [a, b] = await Promise.all([first, second]);
    assert.deepEqual([a.queueMs, a.computeMs], [0, 5]);
    assert.deepEqual([b.queueMs, b.computeMs], [8, 5]);
    await shutdown();
  });

  it('counts every refusal of its batchers by reason: queue full, expired, cancelled, queue timeout', async () => {
    const { metrics, collect, shutdown } = collectedModelMetrics();
    const clock = manualClock();
    const held = heldVersion({ maxConcurrentBatches: 1, maxQueueSize: 1, defaultQueueTimeoutUs: 10_000 });
    const executor = new VersionExecutor(held.version, V1, metrics, clock);
    const refusedWith = async (pending: Promise<unknown>, code: number) =>
      assert.rejects(pending, (error: unknown) => isServiceError(error) && error.code === code);

    const running = executor.infer(call()); // takes the only batch slot
    await settle();
    const queued = executor.infer(call()); // fills the queue
    await refusedWith(executor.infer(call()), status.RESOURCE_EXHAUSTED); // queue_full
    await refusedWith(executor.infer(call(AbortSignal.abort())), status.CANCELLED); // cancelled
    await refusedWith(executor.infer(call(undefined, Date.now() - 1)), status.DEADLINE_EXCEEDED); // expired
    clock.advance(11); // past the 10 ms queue timeout: the queued request is dropped when the batcher next looks
    held.releases[0]!();
    await running;
    await refusedWith(queued, status.RESOURCE_EXHAUSTED); // queue_timeout

    const refused = (await collect()).get('imesh.model.requests.refused')!;
    const byReason = Object.fromEntries(refused.map((point) => [point.attributes['reason'], point.value]));
    assert.deepEqual(byReason, { queue_full: 1, cancelled: 1, expired: 1, queue_timeout: 1 });
    for (const point of refused) assert.deepEqual([point.attributes['model.name'], point.attributes['model.version']], ['toy', '1']);
    await executor.close();
    await shutdown();
  });
});

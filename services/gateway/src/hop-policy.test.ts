import { Metadata, status, type ServiceError as GrpcCallError } from '@grpc/grpc-js';
import { createLogger, isServiceError } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import type { HopPolicyConfig } from './config';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { GatewayMetrics } from './gateway-metrics';
import { DownstreamError, HopPolicy, type AttemptOptions } from './hop-policy';

class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const config: HopPolicyConfig = {
  retryMaxAttempts: 2,
  retryInitialBackoffMs: 1,
  retryMaxBackoffMs: 2,
  breakerConsecutiveFailures: 3,
  breakerHalfOpenAfterMs: 100,
  attemptTimeoutMs: 1_000,
  bulkheadLimit: 2,
  bulkheadQueue: 0,
};
const logger = createLogger('test', 'error', () => {});

function grpcError(code: status, details = 'boom'): GrpcCallError {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: new Metadata() });
}

function inSeconds(s: number): number {
  return Date.now() + s * 1000;
}

async function rejection(promise: Promise<unknown>): Promise<{ code: number; message: string }> {
  const error = await promise.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
  assert.ok(isServiceError(error), `expected a ServiceError, got ${String(error)}`);
  return error;
}

describe('HopPolicy', () => {
  const signal = new AbortController().signal;

  it('retries UNAVAILABLE up to the attempt cap, then fails UNAVAILABLE naming the hop', async () => {
    const policy = new HopPolicy('tokenizer', { ...config, breakerConsecutiveFailures: 100 }, logger);
    let calls = 0;
    const error = await rejection(
      policy.execute(async () => {
        calls++;
        throw grpcError(status.UNAVAILABLE, 'connection refused');
      }, inSeconds(5), signal),
    );
    assert.equal(calls, 3, 'one call and two retries');
    assert.equal(error.code, status.UNAVAILABLE);
    assert.match(error.message, /^tokenizer unavailable: connection refused/);
  });

  it('succeeds when a retry does', async () => {
    const policy = new HopPolicy('model', config, logger);
    let calls = 0;
    const result = await policy.execute(async () => {
      if (++calls === 1) throw grpcError(status.UNAVAILABLE);
      return 'ok';
    }, inSeconds(5), signal);
    assert.equal(result, 'ok');
    assert.equal(calls, 2);
  });

  for (const code of [status.INVALID_ARGUMENT, status.RESOURCE_EXHAUSTED, status.NOT_FOUND, status.DEADLINE_EXCEEDED, status.INTERNAL]) {
    it(`never retries ${status[code]}`, async () => {
      const policy = new HopPolicy('tokenizer', config, logger);
      let calls = 0;
      await rejection(
        policy.execute(async () => {
          calls++;
          throw grpcError(code);
        }, inSeconds(5), signal),
      );
      assert.equal(calls, 1);
    });
  }

  it('passes the tokenizer\'s INVALID_ARGUMENT through, but reports the model\'s as INTERNAL', async () => {
    const fail = async () => {
      throw grpcError(status.INVALID_ARGUMENT, 'texts[1] is not valid UTF-8');
    };
    const fromTokenizer = await rejection(new HopPolicy('tokenizer', config, logger).execute(fail, inSeconds(5), signal));
    assert.deepEqual([fromTokenizer.code, fromTokenizer.message], [status.INVALID_ARGUMENT, 'texts[1] is not valid UTF-8']);
    const fromModel = await rejection(new HopPolicy('model', config, logger).execute(fail, inSeconds(5), signal));
    assert.equal(fromModel.code, status.INTERNAL);
    assert.match(fromModel.message, /model refused the gateway's request/);
  });

  it('gives each attempt the earlier of the caller deadline and the attempt cap', async () => {
    const policy = new HopPolicy('model', { ...config, attemptTimeoutMs: 60_000 }, logger);
    const callerDeadline = inSeconds(2);
    let seen: AttemptOptions | undefined;
    await policy.execute(async (attempt) => {
      seen = attempt;
    }, callerDeadline, signal);
    assert.equal(seen!.deadlineMs, callerDeadline);
    const capped = new HopPolicy('model', { ...config, attemptTimeoutMs: 50 }, logger);
    const before = Date.now();
    await capped.execute(async (attempt) => {
      seen = attempt;
    }, callerDeadline, signal);
    assert.ok(seen!.deadlineMs >= before + 50 && seen!.deadlineMs <= Date.now() + 50);
  });

  it('fails DEADLINE_EXCEEDED without calling when the caller\'s deadline has passed', async () => {
    const policy = new HopPolicy('postprocess', config, logger);
    let calls = 0;
    const error = await rejection(policy.execute(async () => calls++, Date.now() - 1, signal));
    assert.equal(error.code, status.DEADLINE_EXCEEDED);
    assert.equal(calls, 0);
  });

  it('does not retry once the caller has cancelled', async () => {
    const policy = new HopPolicy('model', config, logger);
    const controller = new AbortController();
    let calls = 0;
    const error = await rejection(
      policy.execute(async () => {
        calls++;
        controller.abort();
        throw grpcError(status.UNAVAILABLE);
      }, inSeconds(5), controller.signal),
    );
    assert.equal(calls, 1);
    assert.equal(error.code, status.CANCELLED);
  });

  it('says DEADLINE_EXCEEDED, not CANCELLED, when the signal aborted because the caller\'s deadline passed', async () => {
    const policy = new HopPolicy('model', config, logger);
    const controller = new AbortController();
    const error = await rejection(
      policy.execute(async () => {
        // openCallContext's abort at the deadline, which can come before the attempt's own timer.
        controller.abort(Object.assign(new Error("the call's deadline passed"), { name: 'TimeoutError' }));
        throw grpcError(status.UNAVAILABLE);
      }, inSeconds(5), controller.signal),
    );
    assert.equal(error.code, status.DEADLINE_EXCEEDED);
  });

  it('opens the breaker after consecutive failures, fails fast, half-opens after the delay and closes on success', async () => {
    const policy = new HopPolicy('model', { ...config, retryMaxAttempts: 0 }, logger);
    let calls = 0;
    const failing = async () => {
      calls++;
      throw grpcError(status.UNAVAILABLE);
    };
    for (let i = 0; i < 3; i++) await rejection(policy.execute(failing, inSeconds(5), signal));
    assert.equal(calls, 3);
    const open = await rejection(policy.execute(failing, inSeconds(5), signal));
    assert.equal(calls, 3, 'an open breaker does not call the downstream');
    assert.equal(open.code, status.UNAVAILABLE);
    assert.match(open.message, /model is failing: its circuit breaker is open/);
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal(await policy.execute(async () => 'probe ok', inSeconds(5), signal), 'probe ok');
    assert.equal(await policy.execute(async () => 'closed', inSeconds(5), signal), 'closed');
  });

  it('does not count the caller\'s own errors toward the breaker', async () => {
    const policy = new HopPolicy('tokenizer', config, logger);
    for (let i = 0; i < 5; i++) {
      await rejection(policy.execute(async () => Promise.reject(grpcError(status.INVALID_ARGUMENT)), inSeconds(5), signal));
    }
    assert.equal(await policy.execute(async () => 'still closed', inSeconds(5), signal), 'still closed');
  });

  it('counts an attempt that hit its own cap (not the caller\'s deadline) as a downstream failure', async () => {
    const policy = new HopPolicy('model', { ...config, attemptTimeoutMs: 10, breakerConsecutiveFailures: 1 }, logger);
    const slow = async () => Promise.reject(grpcError(status.DEADLINE_EXCEEDED));
    const error = await rejection(policy.execute(slow, inSeconds(5), signal));
    assert.equal(error.code, status.DEADLINE_EXCEEDED);
    assert.match(error.message, /model did not answer within 10 ms/);
    const open = await rejection(policy.execute(async () => 'x', inSeconds(5), signal));
    assert.match(open.message, /circuit breaker is open/);
  });

  it('sheds calls over the bulkhead with RESOURCE_EXHAUSTED', async () => {
    const policy = new HopPolicy('model', config, logger);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held = [1, 2].map(() => policy.execute(() => gate, inSeconds(5), signal));
    const shed = await rejection(policy.execute(async () => 'x', inSeconds(5), signal));
    assert.equal(shed.code, status.RESOURCE_EXHAUSTED);
    assert.match(shed.message, /at capacity for model calls/);
    release();
    await Promise.all(held);
  });

  describe('retry limits', () => {
    const failing = (counter: { calls: number }) => async () => {
      counter.calls++;
      throw grpcError(status.UNAVAILABLE, 'connection refused');
    };

    it('spends the retry budget, then stops retrying: calls plus retries stay within the ratio', async () => {
      const policy = new HopPolicy('model', { ...config, breakerConsecutiveFailures: 1000, retryBudget: { ratio: 0.2, burst: 2 } }, logger);
      const counter = { calls: 0 };
      for (let i = 0; i < 20; i++) await rejection(policy.execute(failing(counter), inSeconds(5), signal));
      // 20 calls, the burst of 2, and 0.2 per call: at most 2 + 4 retries, not the 40 the attempt cap allows.
      assert.ok(counter.calls <= 20 + 2 + 4, `attempts ${counter.calls}`);
      assert.ok(counter.calls >= 20 + 4, `attempts ${counter.calls}: the budget refills as calls come in`);
    });

    it('does not retry when the backoff would run into the caller\'s deadline', async () => {
      const policy = new HopPolicy('model', { ...config, retryInitialBackoffMs: 200, retryMaxBackoffMs: 400 }, logger);
      const counter = { calls: 0 };
      const started = Date.now();
      const error = await rejection(policy.execute(failing(counter), Date.now() + 100, signal));
      assert.equal(counter.calls, 1);
      assert.equal(error.code, status.UNAVAILABLE, 'the real failure, not DEADLINE_EXCEEDED later');
      assert.ok(Date.now() - started < 100, 'failed at once');
    });

    it('stops a backoff when the caller cancels, without another attempt', async () => {
      const policy = new HopPolicy('model', { ...config, retryInitialBackoffMs: 5_000, retryMaxBackoffMs: 5_000 }, logger);
      const controller = new AbortController();
      const counter = { calls: 0 };
      const pending = policy.execute(failing(counter), inSeconds(30), controller.signal);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const started = Date.now();
      controller.abort();
      const error = await rejection(pending);
      assert.equal(error.code, status.CANCELLED);
      assert.equal(counter.calls, 1);
      assert.ok(Date.now() - started < 1_000, 'the 5 s backoff was cut short');
    });

    it('counts a call toward the breaker once, after its retries: a retry that succeeds (on another replica) is a success', async () => {
      const policy = new HopPolicy('model', { ...config, retryMaxAttempts: 2, breakerConsecutiveFailures: 2 }, logger);
      for (let i = 0; i < 5; i++) {
        let attempts = 0;
        await policy.execute(async () => {
          if (++attempts === 1) throw grpcError(status.UNAVAILABLE, 'Connection dropped');
          return 'ok';
        }, inSeconds(5), signal);
      }
      assert.equal(policy.circuitState, 'closed', '5 failed attempts, but every call succeeded');
      const counter = { calls: 0 };
      await rejection(policy.execute(failing(counter), inSeconds(5), signal));
      assert.equal(policy.circuitState, 'closed', 'one failed call (3 attempts) is one failure');
      await rejection(policy.execute(failing(counter), inSeconds(5), signal));
      assert.equal(policy.circuitState, 'open');
      assert.equal(counter.calls, 6);
    });

    it('retries nothing with retryMaxAttempts 0 (a mesh retries instead)', async () => {
      const policy = new HopPolicy('model', { ...config, retryMaxAttempts: 0 }, logger);
      const counter = { calls: 0 };
      await rejection(policy.execute(failing(counter), inSeconds(5), signal));
      assert.equal(counter.calls, 1);
    });
  });

  it('does not count cancelled calls toward the breaker', async () => {
    const policy = new HopPolicy('model', { ...config, breakerConsecutiveFailures: 1 }, logger);
    for (let i = 0; i < 3; i++) {
      const controller = new AbortController();
      const error = await rejection(
        policy.execute(async () => {
          controller.abort();
          throw grpcError(status.CANCELLED, 'Cancelled on client');
        }, inSeconds(5), controller.signal),
      );
      assert.equal(error.code, status.CANCELLED);
    }
    assert.equal(policy.circuitState, 'closed');
    assert.equal(await policy.execute(async () => 'ok', inSeconds(5), signal), 'ok');
  });

  it('names the downstream on every error it throws, for the fallback to act on', async () => {
    const policy = new HopPolicy('model', { ...config, retryMaxAttempts: 0 }, logger);
    const error = await policy.execute(async () => Promise.reject(grpcError(status.UNAVAILABLE)), inSeconds(5), signal).catch((e: unknown) => e);
    assert.ok(error instanceof DownstreamError);
    assert.equal(error.downstream, 'model');
  });

  it('records retries and shed calls in the gateway metrics', async () => {
    const reader = new CollectingReader();
    const metrics = new GatewayMetrics(new MeterProvider({ readers: [reader] }).getMeter('test'));
    const policy = new HopPolicy('tokenizer', { ...config, bulkheadLimit: 1, bulkheadQueue: 0 }, logger, { metrics });
    let calls = 0;
    await policy.execute(async () => {
      if (++calls === 1) throw grpcError(status.UNAVAILABLE);
      return 'ok';
    }, inSeconds(5), signal);
    let release!: () => void;
    const held = policy.execute(() => new Promise<void>((resolve) => (release = resolve)), inSeconds(5), signal);
    await rejection(policy.execute(async () => 'x', inSeconds(5), signal));
    release();
    await held;
    const { resourceMetrics } = await reader.collect();
    const values = new Map(resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.map((m) => [m.descriptor.name, m.dataPoints.map((p) => [p.attributes['downstream'], p.value])])));
    assert.deepEqual(values.get('imesh.gateway.retries'), [['tokenizer', 1]]);
    assert.deepEqual(values.get('imesh.gateway.shed'), [['tokenizer', 1]]);
    assert.deepEqual(values.get('imesh.gateway.breaker.state'), [['tokenizer', 0]]);
  });
});

import { status } from '@grpc/grpc-js';
import type { pipeline } from '@inference-mesh/protos';
import { createLogger, isServiceError, ServiceError } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { ModelFallback } from './fallback';
import { DownstreamError } from './hop-policy';
import type { CallBudget, ClassifyInput } from './pipeline';

const result = (modelVersion: string): pipeline.ClassifyResult => ({ label: 'positive', score: 0.9, scores: [], modelName: 'sentiment', modelVersion, truncated: false, degraded: false });
const input = (extra: Partial<ClassifyInput> = {}): ClassifyInput => ({ texts: [Buffer.from('x')], modelName: '', modelVersion: '', topK: 0, ...extra });
const budget = (): CallBudget => ({ deadlineMs: Date.now() + 5_000, signal: new AbortController().signal });

describe('ModelFallback', () => {
  const logs: string[] = [];
  const logger = createLogger('test', 'warn', (line) => logs.push(line));
  const asked: ClassifyInput[] = [];
  let fallback: ModelFallback;
  const failWith = (error: unknown) => async (): Promise<pipeline.ClassifyResult[]> => {
    throw error;
  };

  beforeEach(() => {
    asked.length = 0;
    logs.length = 0;
    fallback = new ModelFallback({ target: 'x:1', model: 'sentiment', version: '1' }, 'sentiment', async (i) => {
      asked.push(i);
      return [result(i.modelVersion)];
    }, logger);
  });

  it('passes the primary\'s answer through untouched', async () => {
    const results = await fallback.around(input(), budget(), async () => [result('2')]);
    assert.deepEqual(results, [result('2')]);
    assert.equal(asked.length, 0);
  });

  for (const [what, error] of [
    ['its breaker is open', new DownstreamError('model', status.UNAVAILABLE, 'model is failing: its circuit breaker is open')],
    ['every attempt was UNAVAILABLE', new DownstreamError('model', status.UNAVAILABLE, 'model unavailable: connection refused')],
  ] as const) {
    it(`answers from the fallback version, marked degraded, when the primary model is unavailable (${what})`, async () => {
      const results = await fallback.around(input({ modelVersion: '2' }), budget(), failWith(error));
      assert.deepEqual(results, [{ ...result('1'), degraded: true }]);
      assert.deepEqual(asked.map((i) => [i.modelName, i.modelVersion]), [['sentiment', '1']]);
      assert.equal(logs.length, 1, 'a warning says the fallback is serving');
      assert.match(logs[0]!, /answering from the fallback/);
    });
  }

  it('does not fall back for other hops, other codes, other models, or a caller who has gone', async () => {
    const cancelled = new AbortController();
    cancelled.abort();
    const cases: [unknown, ClassifyInput, CallBudget][] = [
      [new DownstreamError('tokenizer', status.UNAVAILABLE, 'tokenizer unavailable'), input(), budget()],
      [new DownstreamError('model', status.RESOURCE_EXHAUSTED, 'model queue is full'), input(), budget()],
      [new DownstreamError('model', status.INTERNAL, 'model failed'), input(), budget()],
      [new DownstreamError('model', status.DEADLINE_EXCEEDED, 'slow'), input(), budget()],
      [new ServiceError(status.UNAVAILABLE, 'not from a downstream'), input(), budget()],
      [new DownstreamError('model', status.UNAVAILABLE, 'down'), input({ modelName: 'other' }), budget()],
      [new DownstreamError('model', status.UNAVAILABLE, 'down'), input(), { deadlineMs: Date.now() + 5_000, signal: cancelled.signal }],
      [new DownstreamError('model', status.UNAVAILABLE, 'down'), input(), { deadlineMs: Date.now() - 1, signal: new AbortController().signal }],
    ];
    for (const [error, i, b] of cases) {
      await assert.rejects(fallback.around(i, b, failWith(error)), (e: unknown) => e === error);
    }
    assert.equal(asked.length, 0);
  });

  it('says both failures when the fallback fails too', async () => {
    const failing = new ModelFallback({ target: 'x:1', model: 'sentiment', version: '1' }, 'sentiment', failWith(new DownstreamError('model-fallback', status.UNAVAILABLE, 'model-fallback unavailable: refused')), logger);
    await assert.rejects(failing.around(input(), budget(), failWith(new DownstreamError('model', status.UNAVAILABLE, 'model unavailable: refused'))), (e: unknown) =>
      isServiceError(e) && e.code === status.UNAVAILABLE && /^model unavailable: refused; the fallback sentiment\/1 failed too: model-fallback unavailable/.test(e.message),
    );
  });
});

import assert from 'node:assert/strict';
import { formatHealth, formatResult, TimingTotals } from './cli-output';
import type { ClassifyResult, RequestTiming } from '@inference-mesh/client';

const timing: RequestTiming = {
  totalMs: 4.00049,
  admissionMs: 0.0123,
  coalesceMs: 0,
  tokenizer: { clientMs: 1, serverMs: 0.5 },
  model: { clientMs: 2, serverMs: 1.5, queueMs: 0.25, computeMs: 1 },
  postprocess: { clientMs: 0.5, serverMs: 0.125 },
};

const result: ClassifyResult = {
  label: 'positive',
  score: 0.973099946975708,
  scores: [
    { label: 'positive', score: 0.973099946975708 },
    { label: 'negative', score: 0.02690005302429199 },
  ],
  model: 'sentiment',
  modelVersion: '1',
  truncated: false,
  degraded: false,
};

describe('formatResult', () => {
  it('prints the documented line, score rounded to 4 decimals', () => {
    assert.equal(
      formatResult('good day', result, { withScores: false }),
      '{"text": "good day", "label": "positive", "score": 0.9731, "model": "sentiment", "model_version": "1"}',
    );
  });

  it('adds truncated and degraded only when true, and scores when asked', () => {
    const line = formatResult('x', { ...result, truncated: true, degraded: true }, { withScores: true });
    assert.equal(
      line,
      '{"text": "x", "label": "positive", "score": 0.9731, "model": "sentiment", "model_version": "1", ' +
        '"truncated": true, "degraded": true, "scores": [{"label": "positive", "score": 0.9731}, {"label": "negative", "score": 0.0269}]}',
    );
    assert.doesNotMatch(formatResult('x', { ...result, degraded: true }, { withScores: false }), /truncated/);
  });

  it('adds the timing breakdown in ms (3 decimals) with --timing', () => {
    const line = JSON.parse(formatResult('x', result, { withScores: false, timing })) as { timing: unknown };
    assert.deepEqual(line.timing, {
      total_ms: 4,
      admission_ms: 0.012,
      coalesce_ms: 0,
      tokenizer: { client_ms: 1, server_ms: 0.5 },
      model: { client_ms: 2, server_ms: 1.5, queue_ms: 0.25, compute_ms: 1 },
      postprocess: { client_ms: 0.5, server_ms: 0.125 },
    });
  });

  it('escapes the text as JSON, one line whatever it holds', () => {
    const line = formatResult('say "hi"\\\n\ttab é', result, { withScores: false });
    assert.equal(line.includes('\n'), false);
    assert.equal(JSON.parse(line).text, 'say "hi"\\\n\ttab é');
  });
});

describe('TimingTotals', () => {
  it('prints the mean breakdown, the edge being what the caller saw beyond the gateway', () => {
    const totals = new TimingTotals();
    assert.equal(totals.format(), undefined, 'nothing without answers');
    totals.add(timing, 5);
    totals.add({ ...timing, totalMs: 6, tokenizer: { clientMs: 3, serverMs: 1.5 } }, 9);
    assert.equal(
      totals.format(),
      'mean ms of 2 answers: caller 7.00 = edge 2.00 + gateway 5.00; gateway: admission 0.01, coalesce 0.00, ' +
        'tokenizer 2.00 (server 1.00), model 2.00 (server 1.50: queue 0.25, compute 1.00), postprocess 0.50 (server 0.13)',
    );
  });
});

describe('formatHealth', () => {
  it('labels the overall status, aligns the column, and is all-serving only when every one is', () => {
    const { text, allServing } = formatHealth({ '': 'SERVING', 'a.B': 'NOT_SERVING', 'long.service.Name': 'SERVICE_UNKNOWN' });
    assert.equal(
      text,
      'gateway (overall)  SERVING\n' + 'a.B                NOT_SERVING\n' + 'long.service.Name  SERVICE_UNKNOWN\n',
    );
    assert.equal(allServing, false);
    assert.equal(formatHealth({ '': 'SERVING', 'a.B': 'SERVING' }).allServing, true);
    assert.equal(formatHealth({}).allServing, false);
  });
});

import assert from 'node:assert/strict';
import { formatHealth, formatResult } from './cli-output';
import type { ClassifyResult } from '@inference-mesh/client';

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

  it('escapes the text as JSON, one line whatever it holds', () => {
    const line = formatResult('say "hi"\\\n\ttab é', result, { withScores: false });
    assert.equal(line.includes('\n'), false);
    assert.equal(JSON.parse(line).text, 'say "hi"\\\n\ttab é');
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

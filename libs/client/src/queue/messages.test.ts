import { strict as assert } from 'node:assert';
import { encodeRequestMessage, encodeResultMessage, parseRequestMessage, parseResultMessage } from './messages';

const parse = (value: unknown) => parseRequestMessage(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));

describe('parseRequestMessage', () => {
  it('reads id, texts and the optional model, version and topK', () => {
    assert.deepEqual(parse({ id: 'd1', texts: ['good', 'bad'], model: 'sentiment', version: '1', topK: 1 }), {
      ok: true,
      request: { id: 'd1', texts: ['good', 'bad'], model: 'sentiment', version: '1', topK: 1 },
    });
    assert.deepEqual(parse({ id: 'd2', texts: ['x'] }), { ok: true, request: { id: 'd2', texts: ['x'] } });
  });

  it('refuses what can never succeed, saying why', () => {
    const reasons = [
      parse('{not json'),
      parseRequestMessage(Buffer.from([0x7b, 0xff, 0x7d])),
      parse([1]),
      parse({ texts: ['x'] }),
      parse({ id: 'a' }),
      parse({ id: 'a', texts: [] }),
      parse({ id: 'a', texts: ['x', 3] }),
      parse({ id: 'a', texts: ['x'], topK: -1 }),
      parse({ id: 'a', texts: ['x'], model: 7 }),
    ].map((result) => (result.ok ? 'accepted' : result.reason));
    assert.deepEqual(reasons, [
      'not JSON',
      'not JSON',
      'not a JSON object',
      'no id: "id" must be a non-empty string',
      'no texts: "texts" must be a non-empty array of strings',
      'no texts: "texts" must be a non-empty array of strings',
      'texts[1] is not a string',
      '"topK" must be an integer >= 0',
      '"model" must be a string',
    ]);
  });

  it('leaves empty texts to the gateway, which decides them', () => {
    assert.equal(parse({ id: 'a', texts: [''] }).ok, true);
  });
});

describe('parseResultMessage', () => {
  it('reads a result and says why not otherwise', () => {
    const result = { label: 'positive', score: 0.9, scores: [], model: 'sentiment', modelVersion: '2', truncated: false, degraded: false };
    assert.deepEqual(parseResultMessage(encodeResultMessage({ id: 'd1', results: [result] })), { id: 'd1', results: [result] });
    const notAResult = 'not a result: expected {"id": string, "results": [...]} or {"id": string, "error": {"code": string, "message": string}}';
    assert.deepEqual(
      [Buffer.from('x'), Buffer.from('[]'), Buffer.from('{"id": "a"}'), Buffer.from('{"id": "a", "error": {"code": 5}}')].map((body) => parseResultMessage(body)),
      ['not JSON', 'not a JSON object', notAResult, notAResult],
    );
  });

  it("reads a dead-lettered request's error answer", () => {
    const answer = { id: 'd2', error: { code: 'NOT_FOUND', message: 'model "x" not found' } };
    assert.deepEqual(parseResultMessage(encodeResultMessage(answer)), answer);
  });

  it('round-trips a request through encodeRequestMessage', () => {
    const request = { id: 'r1', texts: ['a', 'b'], model: 'sentiment', topK: 0 };
    assert.deepEqual(parseRequestMessage(encodeRequestMessage(request)), { ok: true, request });
  });
});

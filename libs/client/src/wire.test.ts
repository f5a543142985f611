import { strict as assert } from 'node:assert';
import { parseTimingTrailer } from './wire';

describe('parseTimingTrailer', () => {
  it('reads every part of the Server-Timing form, a missing one as 0', () => {
    const timing = parseTimingTrailer('total;dur=3.5, admission;dur=0.25,tokenizer;dur=1,tokenizer.server;dur=0.5,model.queue;dur=0.125');
    assert.deepEqual(timing, {
      totalMs: 3.5,
      admissionMs: 0.25,
      coalesceMs: 0,
      tokenizer: { clientMs: 1, serverMs: 0.5 },
      model: { clientMs: 0, serverMs: 0, queueMs: 0.125, computeMs: 0 },
      postprocess: { clientMs: 0, serverMs: 0 },
    });
  });

  it('gives nothing for an absent or malformed trailer', () => {
    assert.equal(parseTimingTrailer(undefined), undefined);
    assert.equal(parseTimingTrailer(''), undefined);
    assert.equal(parseTimingTrailer('admission;dur=1'), undefined, 'no total');
    assert.equal(parseTimingTrailer('total;dur=abc'), undefined);
    assert.equal(parseTimingTrailer(Buffer.from('total;dur=1')), undefined, 'a binary value');
  });
});

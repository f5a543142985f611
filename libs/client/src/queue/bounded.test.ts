import { strict as assert } from 'node:assert';
import { boundedSubmissions } from './bounded';

/** A submit whose calls the test settles by hand. */
function manualSubmit() {
  const calls: { request: number; resolve(value: string): void; reject(error: Error): void }[] = [];
  const submit = (request: number) => new Promise<string>((resolve, reject) => calls.push({ request, resolve, reject }));
  return { calls, submit };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('boundedSubmissions', () => {
  it('keeps at most maxInFlight unsettled, yields in arrival order with the input index, errors included', async () => {
    const { calls, submit } = manualSubmit();
    const outcomes = boundedSubmissions([10, 11, 12, 13], submit, 2);
    const first = outcomes.next();
    await tick();
    assert.deepEqual(calls.map((c) => c.request), [10, 11], 'two in flight, the input not pulled further');
    calls[1]!.resolve('b');
    assert.deepEqual((await first).value, { index: 1, request: 11, result: 'b' });
    const next = outcomes.next();
    await tick();
    assert.deepEqual(calls.map((c) => c.request), [10, 11, 12], 'room for one more');
    calls[0]!.reject(new Error('timed out'));
    const second = (await next).value;
    assert.deepEqual([second?.index, second?.error?.message], [0, 'timed out']);
    const collected = (async () => {
      const outcomesLeft = [];
      for await (const outcome of outcomes) outcomesLeft.push(outcome);
      return outcomesLeft;
    })();
    await tick();
    assert.equal(calls.length, 4, 'the last request pulled once the consumer asked again');
    calls[3]!.resolve('d');
    calls[2]!.resolve('c');
    const rest = await collected;
    assert.deepEqual(rest.map((o) => [o.index, o.result]).sort(), [[2, 'c'], [3, 'd']]);
  });

  it('yields outcomes while its input waits for the consumer (no deadlock when the input is held back)', async () => {
    let consumed = 0;
    let release: (() => void) | undefined;
    async function* input() {
      for (let n = 0; n < 6; n++) {
        // Hold back until the consumer has seen all but one of what was pulled: a window of 2.
        while (n - consumed >= 2) await new Promise<void>((resolve) => (release = resolve));
        yield n;
      }
    }
    const seen: number[] = [];
    for await (const outcome of boundedSubmissions(input(), async (n) => n * 2, 100)) {
      seen.push(outcome.result!);
      consumed++;
      release?.();
    }
    assert.deepEqual(seen.sort((a, b) => a - b), [0, 2, 4, 6, 8, 10]);
  });

  it('ends with the error of a failing input, and refuses a bad maxInFlight', async () => {
    async function* failing() {
      yield 1;
      throw new Error('unreadable input');
    }
    await assert.rejects(async () => {
      for await (const _ of boundedSubmissions(failing(), async (n) => n, 4)) void _;
    }, /unreadable input/);
    await assert.rejects(() => boundedSubmissions([1], async (n) => n, 0).next(), /maxInFlight must be an integer >= 1/);
  });
});

import { status } from '@grpc/grpc-js';
import { isServiceError } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { rankLogits, type RankedRow } from './rank';

/** FP32 little-endian logits starting `offset` bytes into their ArrayBuffer. */
function fp32(values: readonly number[], offset = 0): Buffer {
  const bytes = Buffer.alloc(offset + values.length * 4);
  values.forEach((value, i) => bytes.writeFloatLE(value, offset + i * 4));
  return bytes.subarray(offset);
}

function assertClose(actual: number, expected: number, what: string, tolerance = 1e-7): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not ${expected}`);
}

function assertScores(row: RankedRow | undefined, expected: [string, number][]): void {
  assert.ok(row);
  assert.deepEqual(row.scores.map((s) => s.label), expected.map(([label]) => label));
  row.scores.forEach((s, i) => assertClose(s.score, expected[i]![1], s.label));
  assert.equal(row.label, expected[0]![0]);
  assertClose(row.score, expected[0]![1], 'best score');
}

function assertNonFinite(run: () => unknown, message: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(isServiceError(error), String(error));
    assert.equal(error.code, status.INVALID_ARGUMENT);
    assert.equal(error.message, message);
    return true;
  });
}

const ABC = ['a', 'b', 'c'];
// Softmax of [1, 2, 3] by hand: exp(x - 3) = [e^-2, e^-1, 1] = [0.1353352832, 0.3678794412, 1], sum 1.5032147244.
const P_A = 0.1353352832 / 1.5032147244; // 0.0900305732
const P_B = 0.3678794412 / 1.5032147244; // 0.2447284711
const P_C = 1 / 1.5032147244; // 0.6652409558

describe('rankLogits', () => {
  it('gives softmax probabilities sorted by score, best first', () => {
    const [row] = rankLogits(fp32([1, 2, 3]), 1, ABC, 0);
    assertScores(row, [['c', P_C], ['b', P_B], ['a', P_A]]);
    assertClose(row!.scores.reduce((sum, s) => sum + s.score, 0), 1, 'sum');
  });

  it('ranks each row on its own', () => {
    const ranked = rankLogits(fp32([1, 2, 3, 3, 1, 2, 0, 0, 0]), 3, ABC, 0);
    assert.equal(ranked.length, 3);
    assertScores(ranked[0], [['c', P_C], ['b', P_B], ['a', P_A]]);
    assertScores(ranked[1], [['a', P_C], ['c', P_B], ['b', P_A]]);
    assertScores(ranked[2], [['a', 1 / 3], ['b', 1 / 3], ['c', 1 / 3]]);
  });

  it('cuts to top-k; 0 or more than the labels keeps them all', () => {
    const logits = fp32([1, 2, 3]);
    assertScores(rankLogits(logits, 1, ABC, 1)[0], [['c', P_C]]);
    assertScores(rankLogits(logits, 1, ABC, 2)[0], [['c', P_C], ['b', P_B]]);
    assert.equal(rankLogits(logits, 1, ABC, 3)[0]!.scores.length, 3);
    assert.equal(rankLogits(logits, 1, ABC, 0)[0]!.scores.length, 3);
    assert.equal(rankLogits(logits, 1, ABC, 99)[0]!.scores.length, 3);
    const [tied] = rankLogits(fp32([5, 7, 7]), 1, ABC, 1);
    assert.equal(tied!.label, 'b', 'a tie goes to the lower label index, with top-k 1 as with a full sort');
    assert.equal(rankLogits(fp32([5, 7, 7]), 1, ABC, 0)[0]!.label, 'b');
  });

  it('picks a small top-k exactly as the full sort orders it, ties to the lower label index', () => {
    const labels = Array.from({ length: 50 }, (_, i) => `l${i}`);
    // Few distinct values, so most scores tie; a fixed pattern keeps the test deterministic.
    const values = Array.from({ length: 4 * 50 }, (_, i) => ((i * 7919) % 13) - 6);
    const full = rankLogits(fp32(values), 4, labels, 0);
    for (const k of [1, 2, 5, 8, 9, 20]) {
      const cut = rankLogits(fp32(values), 4, labels, k);
      cut.forEach((row, r) => assert.deepEqual(row.scores, full[r]!.scores.slice(0, k), `top-${k}, row ${r}`));
    }
    for (const row of full) {
      for (let j = 1; j < row.scores.length; j++) {
        const [before, after] = [row.scores[j - 1]!, row.scores[j]!];
        const inOrder = before.score > after.score || (before.score === after.score && labels.indexOf(before.label) < labels.indexOf(after.label));
        assert.ok(inOrder, `${before.label} ${before.score} before ${after.label} ${after.score}`);
      }
    }
  });

  it('stays finite and exact for large logits', () => {
    // Softmax of [1000, 1001] = [1 / (1 + e), e / (1 + e)]; exp(1000) alone is Infinity.
    const expected: [string, number][] = [['positive', Math.E / (1 + Math.E)], ['negative', 1 / (1 + Math.E)]];
    assertScores(rankLogits(fp32([1000, 1001]), 1, ['negative', 'positive'], 0)[0], expected);
    assertScores(rankLogits(fp32([-1001, -1000]), 1, ['negative', 'positive'], 0)[0], expected);
    assertScores(rankLogits(fp32([3e38, -3e38]), 1, ['negative', 'positive'], 0)[0], [['negative', 1], ['positive', 0]]);
  });

  it('reads logits at an offset that is not 4-aligned', () => {
    const values = [0.5, -1.25, 2, 8, 1, -3];
    const aligned = fp32(values);
    const unaligned = fp32(values, 3);
    assert.equal(unaligned.byteOffset % 4, 3);
    assert.deepEqual(rankLogits(unaligned, 2, ABC, 0), rankLogits(aligned, 2, ABC, 0));
    assertScores(rankLogits(unaligned, 2, ABC, 1)[1], [['a', Math.exp(0) / (1 + Math.exp(-7) + Math.exp(-11))]]);
  });

  it('refuses the whole batch when any logit is NaN or infinite', () => {
    assertNonFinite(
      () => rankLogits(fp32([1, 2, 3, NaN, 0, 0]), 2, ABC, 0),
      'logits row 1, label 0 is NaN: refusing to label a non-finite score',
    );
    assertNonFinite(
      () => rankLogits(fp32([0, Infinity, 0]), 1, ABC, 1),
      'logits row 0, label 1 is Infinity: refusing to label a non-finite score',
    );
    assertNonFinite(
      () => rankLogits(fp32([0, 0, 0, 0, 0, -Infinity], 1), 2, ABC, 0),
      'logits row 1, label 2 is -Infinity: refusing to label a non-finite score',
    );
  });
});

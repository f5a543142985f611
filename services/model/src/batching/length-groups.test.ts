import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { DEFAULT_MODEL_REPOSITORY } from '@inference-mesh/model-repository';
import { paddingPlan } from './batch-assembly';
import { lengthGroups, runInLengthGroups } from './length-groups';
import type { RunResult } from '../model-runner';

const plan = paddingPlan(
  [
    { name: 'input_ids', datatype: 'INT64', shape: [-1, -1] },
    { name: 'attention_mask', datatype: 'INT64', shape: [-1, -1] },
  ],
  0,
);

/** A right-padded [rows, width] batch: row r holds lengths[r] tokens (ids from `id`), the rest padding. */
function batch(lengths: readonly number[], width: number, id = (row: number, i: number) => 5 + ((row * 31 + i * 7) % 900)): Record<string, Tensor> {
  const ids = new BigInt64Array(lengths.length * width);
  const mask = new BigInt64Array(lengths.length * width);
  lengths.forEach((length, row) => {
    for (let i = 0; i < length; i++) {
      ids[row * width + i] = BigInt(id(row, i));
      mask[row * width + i] = 1n;
    }
  });
  return { input_ids: new Tensor('int64', ids, [lengths.length, width]), attention_mask: new Tensor('int64', mask, [lengths.length, width]) };
}

describe('length groups', () => {
  it('groups rows of similar length, each group as long as its longest row, and leaves an even batch whole', () => {
    const groups = lengthGroups(batch([40, 3, 38, 4, 5, 39, 2, 40], 40).attention_mask!, 8);
    assert.deepEqual(groups, [
      { rows: [6, 1, 3, 4], length: 5 },
      { rows: [2, 5, 0, 7], length: 40 },
    ]);
    assert.equal(lengthGroups(batch([10, 10, 9, 10], 10).attention_mask!, 8), undefined, 'one run is cheapest');
    assert.equal(lengthGroups(batch([7], 40).attention_mask!, 8), undefined, 'a single row is never split');
  });

  it('leaves a left-padded batch whole', () => {
    const mask = new Tensor('int64', BigInt64Array.from([0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1].map(BigInt)), [2, 8]);
    assert.equal(lengthGroups(mask, 1), undefined);
  });

  it('runs each group cut to its length and puts every output row back where it was', async () => {
    const feeds = batch([40, 2, 39, 3], 40);
    const runs: number[][] = [];
    // A stand-in model: per row, the sum of its unmasked ids and the width it was run at.
    const run = async (groupFeeds: Record<string, Tensor>): Promise<RunResult> => {
      const [rows, width] = groupFeeds.input_ids!.dims as [number, number];
      runs.push([rows, width]);
      const ids = groupFeeds.input_ids!.data as BigInt64Array;
      const mask = groupFeeds.attention_mask!.data as BigInt64Array;
      const out = new Float32Array(rows * 2);
      for (let r = 0; r < rows; r++) {
        let sum = 0;
        for (let i = 0; i < width; i++) sum += Number(ids[r * width + i]! * mask[r * width + i]!);
        out[r * 2] = sum;
        out[r * 2 + 1] = width;
      }
      return { outputs: { logits: new Tensor('float32', out, [rows, 2]) }, computeMs: 1.5 };
    };
    const whole = await run({ ...feeds });
    runs.length = 0;
    const grouped = await runInLengthGroups(feeds, plan, false, run);
    assert.deepEqual(runs, [[2, 3], [2, 40]]);
    assert.equal(grouped.computeMs, 3);
    const sums = (result: RunResult) => Array.from(result.outputs.logits!.data as Float32Array).filter((_, i) => i % 2 === 0);
    assert.deepEqual(sums(grouped), sums(whole));
    assert.deepEqual(Array.from(grouped.outputs.logits!.data as Float32Array).filter((_, i) => i % 2 === 1), [40, 3, 40, 3]);
    runs.length = 0;
    await runInLengthGroups(feeds, plan, true, run);
    assert.deepEqual(runs, [[4, 40]], 'an output with the sequence dimension keeps the batch whole');
  });

  it('gives the sentiment model the logits of the whole padded batch', async () => {
    const session = await InferenceSession.create(join(DEFAULT_MODEL_REPOSITORY, 'sentiment', '2', 'model.onnx'));
    try {
      const lengths = [30, 4, 6, 29, 5, 31, 3, 7, 28, 32];
      const feeds = batch(lengths, 32);
      const run = async (f: Record<string, Tensor>): Promise<RunResult> => ({ outputs: await session.run(f), computeMs: 0 });
      const whole = Array.from((await run({ ...feeds })).outputs.logits!.data as Float32Array);
      const grouped = Array.from((await runInLengthGroups(feeds, plan, false, run)).outputs.logits!.data as Float32Array);
      assert.equal(grouped.length, whole.length);
      grouped.forEach((value, i) => assert.ok(Math.abs(value - whole[i]!) < 1e-4, `logit ${i}: ${value} vs ${whole[i]}`));
    } finally {
      await session.release();
    }
  });
});

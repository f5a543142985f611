import { strict as assert } from 'node:assert';
import { Tensor } from 'onnxruntime-node';
import { batchKey, mergeInputs, paddingPlan, sequenceLengthOf, splitOutputs, type BatchMember } from './batch-assembly';

const int64 = (rows: number[][]) => new Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [rows.length, rows[0]!.length]);
const values = (tensor: Tensor) => Array.from(tensor.data as BigInt64Array, Number);

const plan = paddingPlan(
  [
    { name: 'input_ids', datatype: 'INT64', shape: [-1, -1] },
    { name: 'attention_mask', datatype: 'INT64', shape: [-1, -1] },
    { name: 'scale', datatype: 'FP32', shape: [-1, 3] },
  ],
  7,
);

function member(ids: number[][], scale?: number[][]): BatchMember {
  const feeds: Record<string, Tensor> = { input_ids: int64(ids), attention_mask: int64(ids.map((r) => r.map(() => 1))) };
  if (scale) feeds.scale = new Tensor('float32', Float32Array.from(scale.flat()), [scale.length, 3]);
  return { feeds, rows: ids.length, sequenceLength: ids[0]!.length };
}

describe('batch assembly', () => {
  it('treats [batch, sequence] inputs as padded sequences, with the pad id for input_ids and 0 elsewhere', () => {
    assert.deepEqual([...plan.padValues], [
      ['input_ids', 7],
      ['attention_mask', 0],
    ]);
  });

  it('pads every member to the longest and keeps each member\'s rows together, in member order', () => {
    const a = member([[1, 2]]);
    const b = member([
      [3, 4, 5, 6],
      [8, 9, 10, 11],
    ]);
    const c = member([[12, 13, 14]]);
    const { feeds, sequenceLength } = mergeInputs([a, b, c], plan);
    assert.equal(sequenceLength, 4);
    assert.deepEqual(feeds.input_ids!.dims, [4, 4]);
    assert.deepEqual(values(feeds.input_ids!), [1, 2, 7, 7, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 7]);
    assert.deepEqual(values(feeds.attention_mask!), [1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
  });

  it('concatenates non-sequence inputs and allocates fresh buffers (never the request\'s own)', () => {
    const a = member([[1]], [[0.5, 1, 2]]);
    const b = member([[2]], [[3, 4, 5]]);
    const { feeds } = mergeInputs([a, b], plan);
    assert.deepEqual(Array.from(feeds.scale!.data as Float32Array), [0.5, 1, 2, 3, 4, 5]);
    for (const name of Object.keys(feeds)) {
      assert.notEqual((feeds[name]!.data as BigInt64Array).buffer, (a.feeds[name]!.data as BigInt64Array).buffer);
    }
    const alone = mergeInputs([a], plan).feeds.input_ids!;
    assert.notEqual((alone.data as BigInt64Array).buffer, (a.feeds.input_ids!.data as BigInt64Array).buffer);
  });

  it('splits outputs back by member rows, as views, and cuts sequence outputs to each member\'s length', () => {
    const members = [member([[1, 2]]), member([[3, 4, 5], [6, 7, 8]])];
    const logits = new Tensor('float32', Float32Array.from([0, 1, 2, 3, 4, 5]), [3, 2]);
    const perToken = new Tensor('float32', Float32Array.from([1, 2, 0, 3, 4, 5, 6, 7, 8]), [3, 3, 1]);
    const split = splitOutputs({ logits, perToken }, members, 3, new Set(['perToken']));
    assert.deepEqual(split.map((s) => Array.from(s.logits!.data as Float32Array)), [[0, 1], [2, 3, 4, 5]]);
    assert.equal((split[1]!.logits!.data as Float32Array).buffer, logits.data.buffer as ArrayBuffer, 'a view, not a copy');
    assert.deepEqual(split[0]!.perToken!.dims, [1, 2, 1]);
    assert.deepEqual(Array.from(split[0]!.perToken!.data as Float32Array), [1, 2]);
    assert.deepEqual(split[1]!.perToken!.dims, [2, 3, 1]);
  });

  it('keys batches by outputs and non-sequence shapes, so only compatible requests merge', () => {
    const short = member([[1, 2]], [[1, 2, 3]]);
    const long = member([[1, 2, 3, 4]], [[1, 2, 3]]);
    assert.equal(batchKey(short, ['logits'], plan), batchKey(long, ['logits'], plan), 'sequence length does not split batches');
    assert.notEqual(batchKey(short, ['logits'], plan), batchKey(short, ['hidden'], plan));
  });

  it('measures a request\'s sequence length and refuses sequence inputs that disagree', () => {
    assert.equal(sequenceLengthOf(member([[1, 2, 3]]).feeds, plan), 3);
    const bad = { input_ids: int64([[1, 2, 3]]), attention_mask: int64([[1, 1]]) };
    assert.match(String(sequenceLengthOf(bad, plan)), /attention_mask has sequence length 2 but input_ids has 3/);
  });
});

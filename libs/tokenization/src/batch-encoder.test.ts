import { strict as assert } from 'node:assert';
import { resolve } from 'node:path';
import { BatchEncoder } from './batch-encoder';

const TOKENIZER_JSON = resolve(__dirname, '..', '..', '..', 'models', 'sentiment', '1', 'tokenizer.json');

function int64s(bytes: Buffer): number[] {
  return Array.from(new BigInt64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8), Number);
}

describe('BatchEncoder', () => {
  const encoder = BatchEncoder.fromFile(TOKENIZER_JSON, { maxLength: 12 });

  it('pads every row to the longest row of the batch, with a matching attention mask', async () => {
    const batch = await encoder.encode(['a gorgeous , witty , seductive movie .', 'bad']);
    assert.equal(batch.rows, 2);
    const width = batch.sequenceLength;
    assert.ok(width > 3, 'the long row sets the width');
    assert.equal(batch.inputIds.byteLength, 2 * width * 8);
    const ids = int64s(batch.inputIds);
    const mask = int64s(batch.attentionMask);
    assert.deepEqual(mask.slice(0, width), Array(width).fill(1), 'the longest row has no padding');
    assert.deepEqual(mask.slice(width), [1, 1, 1, ...Array(width - 3).fill(0)]);
    assert.equal(ids[0], 2, 'rows start with [CLS]');
    assert.equal(ids[width + 2], 3, 'the short row ends with [SEP] before the padding');
    assert.deepEqual(ids.slice(width + 3), Array(width - 3).fill(encoder.padTokenId));
    assert.deepEqual(batch.truncatedRows, []);
  });

  it('lower-cases and splits punctuation the BERT way', async () => {
    const [a, b] = await Promise.all([encoder.encode(['A Gorgeous, WITTY movie.']), encoder.encode(['a gorgeous , witty movie .'])]);
    assert.deepEqual(int64s(a!.inputIds), int64s(b!.inputIds));
  });

  it('truncates to maxLength, keeps [SEP] last, and reports the truncated rows', async () => {
    const long = 'good '.repeat(100);
    const batch = await encoder.encode(['fine', long]);
    assert.equal(batch.sequenceLength, 12);
    assert.deepEqual(batch.truncatedRows, [1]);
    const ids = int64s(batch.inputIds);
    assert.equal(ids[23], 3);
  });

  it('encodes an empty batch as zero rows', async () => {
    const batch = await encoder.encode([]);
    assert.equal(batch.rows, 0);
    assert.equal(batch.inputIds.byteLength, 0);
  });

  it('refuses a maxLength that cannot hold [CLS] and [SEP]', () => {
    assert.throws(() => BatchEncoder.fromFile(TOKENIZER_JSON, { maxLength: 1 }), /maxLength must be an integer >= 2/);
  });
});

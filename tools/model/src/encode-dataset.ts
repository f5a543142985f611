import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatchEncoder } from '@inference-mesh/tokenization';
import { type LabelledText, LONG_TEXT_MIN_WORDS, wordCount } from './sst2';

export interface EncodedSplitHeader {
  readonly rows: number;
  readonly sequenceLength: number;
  readonly truncatedRows: number;
  readonly files: { readonly inputIds: string; readonly attentionMask: string; readonly labels: string; readonly long: string };
}

/**
 * Tokenises a split through the serving path (BatchEncoder, one batch) and writes what it produced for
 * the trainer: INT64 `[rows, sequenceLength]` ids and mask exactly as the tokenizer service sends them,
 * plus one byte per row for the label and for "is a full sentence".
 */
export async function encodeSplit(
  encoder: BatchEncoder,
  rows: readonly LabelledText[],
  outDir: string,
  name: string,
): Promise<EncodedSplitHeader> {
  const batch = await encoder.encode(rows.map((r) => r.text));
  const files = {
    inputIds: `${name}.input_ids.i64`,
    attentionMask: `${name}.attention_mask.i64`,
    labels: `${name}.labels.u8`,
    long: `${name}.long.u8`,
  };
  writeFileSync(join(outDir, files.inputIds), batch.inputIds);
  writeFileSync(join(outDir, files.attentionMask), batch.attentionMask);
  writeFileSync(join(outDir, files.labels), Uint8Array.from(rows, (r) => r.label));
  writeFileSync(join(outDir, files.long), Uint8Array.from(rows, (r) => (wordCount(r.text) >= LONG_TEXT_MIN_WORDS ? 1 : 0)));
  const header: EncodedSplitHeader = {
    rows: batch.rows,
    sequenceLength: batch.sequenceLength,
    truncatedRows: batch.truncatedRows.length,
    files,
  };
  writeFileSync(join(outDir, `${name}.json`), JSON.stringify(header, null, 2) + '\n');
  return header;
}

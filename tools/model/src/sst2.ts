import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface LabelledText {
  readonly text: string;
  readonly label: 0 | 1;
}

/** Full sentences, as opposed to the short phrases that make up most of SST-2. */
export const LONG_TEXT_MIN_WORDS = 10;

export const REPO_ROOT = resolve(__dirname, '..', '..', '..');

/** `../shared/datasets/sst2` beside the checkout, or `IMESH_SST2_DIR`. */
export function sst2Dir(): string {
  return process.env.IMESH_SST2_DIR ?? resolve(REPO_ROOT, '..', 'shared', 'datasets', 'sst2');
}

export function readSst2(split: 'train' | 'dev', dir = sst2Dir()): LabelledText[] {
  const path = join(dir, `${split}.tsv`);
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines[0] !== 'sentence\tlabel') throw new Error(`${path}: expected the header "sentence<TAB>label"`);
  const rows: LabelledText[] = [];
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n]!;
    if (line === '') continue;
    const tab = line.lastIndexOf('\t');
    const label = line.slice(tab + 1);
    if (tab < 0 || (label !== '0' && label !== '1')) throw new Error(`${path}:${n + 1}: expected "text<TAB>0|1"`);
    rows.push({ text: line.slice(0, tab).trim(), label: label === '1' ? 1 : 0 });
  }
  return rows;
}

export function wordCount(text: string): number {
  return text.split(' ').filter((w) => w !== '').length;
}

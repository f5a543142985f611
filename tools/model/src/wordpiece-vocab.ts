/**
 * Learns a WordPiece vocabulary the way Hugging Face's WordPieceTrainer does: byte-pair merges over word
 * counts, where a piece that does not start a word carries the continuation prefix (`##`). Ties are broken
 * by the pair's text so the same counts always give the same vocabulary.
 */
export interface WordPieceVocabOptions {
  readonly vocabSize: number;
  /** A pair seen fewer times than this is never merged. */
  readonly minFrequency: number;
  /** Placed first, in this order, so their ids are 0, 1, ... */
  readonly specialTokens: readonly string[];
  readonly continuingSubwordPrefix?: string;
}

interface Word {
  symbols: string[];
  readonly count: number;
}

const PAIR_SEPARATOR = '\u0000';

export function learnWordPieceVocab(wordCounts: ReadonlyMap<string, number>, options: WordPieceVocabOptions): string[] {
  const prefix = options.continuingSubwordPrefix ?? '##';
  const vocab: string[] = [...options.specialTokens];
  const inVocab = new Set(vocab);
  const add = (token: string): void => {
    if (!inVocab.has(token)) {
      inVocab.add(token);
      vocab.push(token);
    }
  };

  const words: Word[] = [...wordCounts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([text, count]) => ({ symbols: [...text].map((ch, i) => (i === 0 ? ch : prefix + ch)), count }));
  const alphabet = new Set<string>();
  for (const word of words) for (const symbol of word.symbols) alphabet.add(symbol);
  for (const symbol of [...alphabet].sort()) add(symbol);

  const pairCounts = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const heap = new PairHeap();
  const touched = new Set<string>();
  const adjust = (key: string, delta: number, wordIndex: number): void => {
    pairCounts.set(key, (pairCounts.get(key) ?? 0) + delta);
    if (delta > 0) {
      let owners = pairWords.get(key);
      if (!owners) pairWords.set(key, (owners = new Set()));
      owners.add(wordIndex);
    }
    touched.add(key);
  };
  const countPairs = (index: number, sign: 1 | -1): void => {
    const { symbols, count } = words[index]!;
    for (let i = 0; i + 1 < symbols.length; i++) adjust(symbols[i] + PAIR_SEPARATOR + symbols[i + 1], sign * count, index);
  };
  const publishTouched = (): void => {
    for (const key of touched) heap.push(key, pairCounts.get(key)!);
    touched.clear();
  };

  words.forEach((_, index) => countPairs(index, 1));
  publishTouched();

  while (vocab.length < options.vocabSize) {
    const best = heap.popCurrent(pairCounts);
    if (!best || best.count < options.minFrequency) break;
    const [left, right] = best.key.split(PAIR_SEPARATOR) as [string, string];
    const merged = left + (right.startsWith(prefix) ? right.slice(prefix.length) : right);
    add(merged);
    for (const index of pairWords.get(best.key) ?? []) {
      const word = words[index]!;
      countPairs(index, -1);
      const next: string[] = [];
      for (let i = 0; i < word.symbols.length; i++) {
        if (i + 1 < word.symbols.length && word.symbols[i] === left && word.symbols[i + 1] === right) {
          next.push(merged);
          i++;
        } else {
          next.push(word.symbols[i]!);
        }
      }
      word.symbols = next;
      countPairs(index, 1);
    }
    pairWords.delete(best.key);
    publishTouched();
  }
  return vocab;
}

/** A max-heap of (count, pair) with lazy deletion: stale entries are skipped when popped. */
class PairHeap {
  private readonly counts: number[] = [];
  private readonly keys: string[] = [];

  push(key: string, count: number): void {
    if (count <= 0) return;
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  popCurrent(current: ReadonlyMap<string, number>): { key: string; count: number } | undefined {
    while (this.counts.length > 0) {
      const key = this.keys[0]!;
      const count = this.counts[0]!;
      this.removeTop();
      if (current.get(key) === count) return { key, count };
    }
    return undefined;
  }

  /** Higher count first; equal counts in the pair text's order. */
  private before(a: number, b: number): boolean {
    const ca = this.counts[a]!;
    const cb = this.counts[b]!;
    return ca !== cb ? ca > cb : this.keys[a]! < this.keys[b]!;
  }

  private removeTop(): void {
    const lastCount = this.counts.pop()!;
    const lastKey = this.keys.pop()!;
    if (this.counts.length === 0) return;
    this.counts[0] = lastCount;
    this.keys[0] = lastKey;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < this.counts.length && this.before(l, top)) top = l;
      if (r < this.counts.length && this.before(r, top)) top = r;
      if (top === i) return;
      this.swap(i, top);
      i = top;
    }
  }

  private swap(a: number, b: number): void {
    [this.counts[a], this.counts[b]] = [this.counts[b]!, this.counts[a]!];
    [this.keys[a], this.keys[b]] = [this.keys[b]!, this.keys[a]!];
  }
}

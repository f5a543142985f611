import {
  Tokenizer,
  WordPiece,
  bertNormalizer,
  bertPreTokenizer,
  bertProcessing,
  wordPieceDecoder,
} from 'tokenizers';
import { learnWordPieceVocab } from './wordpiece-vocab';

export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

export interface TokenizerSpec {
  readonly vocabSize: number;
  readonly minFrequency: number;
}

/**
 * Writes a BERT-style uncased WordPiece `tokenizer.json` learned from `texts`. Words are split by the
 * tokenizers package's own BERT normalizer and pre-tokenizer, so the vocabulary sees exactly the words
 * that serving will see.
 */
export function buildTokenizer(texts: readonly string[], spec: TokenizerSpec, outPath: string): { vocabSize: number } {
  const normalizer = bertNormalizer({ lowercase: true, stripAccents: true, cleanText: true, handleChineseChars: true });
  const preTokenizer = bertPreTokenizer();
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const [word] of preTokenizer.preTokenizeString(normalizer.normalizeString(text))) {
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  const vocab = learnWordPieceVocab(counts, {
    vocabSize: spec.vocabSize,
    minFrequency: spec.minFrequency,
    specialTokens: SPECIAL_TOKENS,
  });
  const ids: Record<string, number> = {};
  vocab.forEach((token, id) => (ids[token] = id));

  const tokenizer = new Tokenizer(
    WordPiece.init(ids, { unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 }),
  );
  tokenizer.setNormalizer(normalizer);
  tokenizer.setPreTokenizer(preTokenizer);
  tokenizer.setPostProcessor(bertProcessing(['[SEP]', ids['[SEP]']!], ['[CLS]', ids['[CLS]']!]));
  tokenizer.setDecoder(wordPieceDecoder('##', true));
  tokenizer.addSpecialTokens([...SPECIAL_TOKENS]);
  tokenizer.save(outPath, true);
  return { vocabSize: vocab.length };
}

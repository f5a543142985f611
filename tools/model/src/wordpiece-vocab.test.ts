import { strict as assert } from 'node:assert';
import { learnWordPieceVocab } from './wordpiece-vocab';

describe('learnWordPieceVocab', () => {
  const specials = ['[PAD]', '[UNK]'];

  it('puts the special tokens first, then the alphabet with ## for non-initial characters', () => {
    const vocab = learnWordPieceVocab(new Map([['ab', 1]]), { vocabSize: 4, minFrequency: 2, specialTokens: specials });
    assert.deepEqual(vocab, ['[PAD]', '[UNK]', '##b', 'a']);
  });

  it('merges the most frequent pair first and joins continuations without the prefix', () => {
    const counts = new Map([
      ['low', 5],
      ['lower', 2],
      ['newest', 6],
      ['widest', 3],
    ]);
    const vocab = learnWordPieceVocab(counts, { vocabSize: 100, minFrequency: 3, specialTokens: specials });
    const alphabetEnd = vocab.indexOf('w') + 1;
    // ##e + ##s occurs 9 times (newest 6, widest 3) and ##s + ##t 9 times: the tie goes to the pair text.
    assert.equal(vocab[alphabetEnd], '##es');
    assert.ok(vocab.includes('low'), 'low (7 occurrences) is a whole token');
    assert.ok(vocab.includes('newest'));
    assert.ok(!vocab.includes('##er') && !vocab.includes('lower'), '##e + ##r occurs only twice, under minFrequency');
  });

  it('stops at minFrequency and at vocabSize', () => {
    const counts = new Map([['abc', 1]]);
    assert.equal(learnWordPieceVocab(counts, { vocabSize: 100, minFrequency: 2, specialTokens: [] }).length, 3);
    const big = new Map([['abcdef', 10]]);
    assert.equal(learnWordPieceVocab(big, { vocabSize: 8, minFrequency: 1, specialTokens: [] }).length, 8);
  });

  it('gives the same vocabulary whatever the order of the counts', () => {
    const entries: [string, number][] = [['the', 9], ['then', 4], ['than', 4], ['this', 3], ['thin', 3]];
    const options = { vocabSize: 40, minFrequency: 1, specialTokens: specials };
    assert.deepEqual(
      learnWordPieceVocab(new Map(entries), options),
      learnWordPieceVocab(new Map([...entries].reverse()), options),
    );
  });
});

import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { Tokenizer } from 'tokenizers';

/**
 * A batch of texts as model inputs: row-major `[rows, sequenceLength]` INT64 little-endian tensors,
 * padded to the longest row of the batch.
 */
export interface EncodedBatch {
  readonly rows: number;
  readonly sequenceLength: number;
  readonly inputIds: Buffer;
  readonly attentionMask: Buffer;
  /** Indices of the rows whose text was cut to `maxLength` tokens. */
  readonly truncatedRows: readonly number[];
}

export interface BatchEncoderOptions {
  /** Longest row, special tokens included; longer texts are truncated. */
  readonly maxLength: number;
  /** Overrides the pad id found in tokenizer.json (Hugging Face config.json's `pad_token_id`). */
  readonly padTokenId?: number;
}

const INT64_BYTES = 8;

// tokenizers encodes a batch on a rayon thread pool unless told otherwise. Serving batches are short (a few to a
// few dozen texts), and the pool's hand-offs then cost more CPU than the parallel work saves (measured: 99 against
// 42 us of CPU per text for batches of 8), CPU the other processes on the cores need. Set before the first encode;
// a value the user gave wins.
process.env['TOKENIZERS_PARALLELISM'] ??= 'false';
const PAD_TOKEN_CANDIDATES = ['[PAD]', '<pad>', '<|pad|>'];

if (endianness() !== 'LE') {
  // Tensors are written through 32-bit views; the wire format is little-endian by specification.
  throw new Error('batch-encoder requires a little-endian host');
}

/**
 * Encodes batches of texts with a Hugging Face `tokenizer.json`: truncation to the model's maximum length,
 * padding to the longest row. The tokenizer service and the training tools both go through this class, so
 * the ids a model was trained on are the ids it is served.
 */
export class BatchEncoder {
  readonly maxLength: number;
  readonly padTokenId: number;
  readonly vocabSize: number;
  private readonly tokenizer: Tokenizer;

  private constructor(tokenizer: Tokenizer, maxLength: number, padTokenId: number) {
    this.tokenizer = tokenizer;
    this.maxLength = maxLength;
    this.padTokenId = padTokenId;
    this.vocabSize = tokenizer.getVocabSize(true);
  }

  static fromFile(tokenizerJsonPath: string, options: BatchEncoderOptions): BatchEncoder {
    if (!Number.isInteger(options.maxLength) || options.maxLength < 2) {
      throw new RangeError(`maxLength must be an integer >= 2, got ${options.maxLength}`);
    }
    const json = readFileSync(tokenizerJsonPath, 'utf8');
    const tokenizer = Tokenizer.fromString(json);
    const padTokenId = options.padTokenId ?? findPadTokenId(json, tokenizer);
    if (padTokenId === undefined) {
      throw new Error(
        `${tokenizerJsonPath}: no padding token ([PAD] or <pad>) and no pad_token_id given; set pad_token_id in config.json`,
      );
    }
    const padToken = tokenizer.idToToken(padTokenId);
    if (padToken === null) {
      throw new Error(`${tokenizerJsonPath}: pad token id ${padTokenId} is not in the vocabulary`);
    }
    // Whatever the file says, serving pads to the batch's longest row and truncates to the model's limit.
    tokenizer.setTruncation(options.maxLength);
    tokenizer.setPadding({ padId: padTokenId, padToken });
    return new BatchEncoder(tokenizer, options.maxLength, padTokenId);
  }

  async encode(texts: readonly string[]): Promise<EncodedBatch> {
    if (texts.length === 0) {
      return { rows: 0, sequenceLength: 0, inputIds: Buffer.alloc(0), attentionMask: Buffer.alloc(0), truncatedRows: [] };
    }
    const encodings = await this.tokenizer.encodeBatch(texts as string[]);
    const rows = encodings.length;
    const sequenceLength = encodings[0]!.getLength();
    const idsBytes = new ArrayBuffer(rows * sequenceLength * INT64_BYTES);
    const maskBytes = new ArrayBuffer(rows * sequenceLength * INT64_BYTES);
    // An INT64 little-endian value below 2^31 is its low 32-bit word followed by a zero word.
    const ids32 = new Int32Array(idsBytes);
    const mask32 = new Int32Array(maskBytes);
    const truncatedRows: number[] = [];
    for (let row = 0; row < rows; row++) {
      const encoding = encodings[row]!;
      const ids = encoding.getIds();
      const mask = encoding.getAttentionMask();
      let at = row * sequenceLength * 2;
      for (let i = 0; i < sequenceLength; i++, at += 2) {
        ids32[at] = ids[i]!;
        mask32[at] = mask[i]!;
      }
      if (encoding.getOverflowing().length > 0) truncatedRows.push(row);
    }
    return {
      rows,
      sequenceLength,
      inputIds: Buffer.from(idsBytes),
      attentionMask: Buffer.from(maskBytes),
      truncatedRows,
    };
  }
}

function findPadTokenId(tokenizerJson: string, tokenizer: Tokenizer): number | undefined {
  const padding = (JSON.parse(tokenizerJson) as { padding?: { pad_id?: unknown } | null }).padding;
  if (padding && typeof padding.pad_id === 'number') return padding.pad_id;
  for (const token of PAD_TOKEN_CANDIDATES) {
    const id = tokenizer.tokenToId(token);
    if (id !== null) return id;
  }
  return undefined;
}

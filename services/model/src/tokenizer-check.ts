import { readFileSync } from 'node:fs';
import type { inference } from '@inference-mesh/protos';
import { failedPrecondition, invalidArgument } from '@inference-mesh/service-kit';
import type { Tensor } from 'onnxruntime-node';

/** The request parameter (string_param) naming the tokenizer that produced the request's ids. */
export const TOKENIZER_FINGERPRINT_PARAMETER = 'tokenizer_fingerprint';

/** The input whose values are token ids, checked against the vocabulary size. */
export const TOKEN_ID_INPUT = 'input_ids';

/** The input whose values are segment ids, checked against config.json's type_vocab_size. */
export const TOKEN_TYPE_INPUT = 'token_type_ids';

/** Inputs laid out [batch, sequence] by Hugging Face convention, whose sequence length the model bounds. */
export const SEQUENCE_INPUTS: readonly string[] = ['input_ids', 'attention_mask', 'token_type_ids', 'position_ids'];

/** What a served version knows about the tokenizer it was trained with. */
export interface ServedTokenizer {
  /** `<model>/<version>`, as messages name it. */
  readonly label: string;
  /** `sha256:<hex>` of its tokenizer.json; undefined when the version has none. */
  readonly fingerprint: string | undefined;
  /** Ids run from 0 to vocabularySize - 1; undefined when the version has no tokenizer.json. */
  readonly vocabularySize: number | undefined;
  /** Longest sequence its position table holds (config.json); undefined when the version has no config.json. */
  readonly maxSequenceLength: number | undefined;
  /** Segment ids run from 0 to typeVocabularySize - 1 (config.json type_vocab_size); undefined: unchecked. */
  readonly typeVocabularySize: number | undefined;
}

interface TokenizerJson {
  model?: { vocab?: unknown };
  added_tokens?: unknown;
}

/**
 * The number of ids a Hugging Face tokenizer.json can produce: one past the largest id of its model vocabulary
 * (an object token -> id for WordPiece/BPE/WordLevel, an array of [token, score] for Unigram) and of its added
 * tokens. Read without the tokenizers package, once per version.
 */
export function readVocabularySize(tokenizerJsonPath: string): number {
  let json: TokenizerJson;
  try {
    json = JSON.parse(readFileSync(tokenizerJsonPath, 'utf8')) as TokenizerJson;
  } catch (error) {
    throw new Error(`${tokenizerJsonPath}: ${(error as Error).message}`);
  }
  const vocab = json.model?.vocab;
  let size: number;
  if (Array.isArray(vocab)) size = vocab.length;
  else if (vocab && typeof vocab === 'object') size = Math.max(-1, ...idsOf(Object.values(vocab))) + 1;
  else throw new Error(`${tokenizerJsonPath}: model.vocab is missing`);
  if (Array.isArray(json.added_tokens)) {
    const added = idsOf(json.added_tokens.map((token: unknown) => (token as { id?: unknown } | null)?.id));
    size = Math.max(size, Math.max(-1, ...added) + 1);
  }
  if (size === 0) throw new Error(`${tokenizerJsonPath}: the vocabulary is empty`);
  return size;
}

function idsOf(values: readonly unknown[]): number[] {
  return values.filter((v): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0);
}

/**
 * Refuses ids made by another tokenizer than the one the version was trained with: they would be scored
 * without an error, and wrongly. Requests without the parameter (plain KServe and Triton clients) pass.
 */
export function checkTokenizerFingerprint(
  parameters: Readonly<Record<string, inference.InferParameter__Output>>,
  served: ServedTokenizer,
): void {
  const parameter = parameters[TOKENIZER_FINGERPRINT_PARAMETER];
  if (!parameter) return;
  if (parameter.parameterChoice !== 'stringParam') {
    throw invalidArgument(`parameters.${TOKENIZER_FINGERPRINT_PARAMETER} must be a string_param`);
  }
  const requested = parameter.stringParam ?? '';
  if (served.fingerprint === undefined) {
    throw failedPrecondition(
      `${served.label} has no tokenizer.json, so the request's ${TOKENIZER_FINGERPRINT_PARAMETER} ${requested} cannot be checked`,
    );
  }
  if (requested !== served.fingerprint) {
    throw failedPrecondition(
      `${served.label} was trained with tokenizer ${served.fingerprint}; the request's ids come from ${requested}`,
    );
  }
}

/**
 * Cheap guards on token inputs, run before the model: the sequence dimension of `[batch, sequence]` inputs must
 * fit the model's position table, and every `input_ids` value must lie in [0, vocabularySize). Either violation
 * would otherwise fail deep inside the model as an internal error, or worse: ONNX Runtime's Gather reads a
 * negative id from the end of the embedding table without complaint.
 */
export function checkTokenInputs(feeds: Readonly<Record<string, Tensor>>, served: ServedTokenizer): void {
  if (served.maxSequenceLength !== undefined) {
    for (const name of SEQUENCE_INPUTS) {
      const tensor = feeds[name];
      if (!tensor || tensor.dims.length !== 2) continue;
      const length = tensor.dims[1]!;
      if (length === 0) throw invalidArgument(`${name} has sequence length 0; send at least one token per row`);
      if (length > served.maxSequenceLength) {
        throw invalidArgument(
          `${name} has sequence length ${length}; ${served.label} accepts at most ${served.maxSequenceLength} tokens per row`,
        );
      }
    }
  }
  checkIdRange(feeds[TOKEN_ID_INPUT], served.vocabularySize, (value, at, size) =>
    `${TOKEN_ID_INPUT} holds token id ${value} at ${at}, outside the vocabulary of ${served.label}'s tokenizer (ids 0..${size - 1})`,
  );
  checkIdRange(feeds[TOKEN_TYPE_INPUT], served.typeVocabularySize, (value, at, size) =>
    `${TOKEN_TYPE_INPUT} holds segment id ${value} at ${at}; ${served.label} has ${size} segment types (config.json type_vocab_size)`,
  );
}

function checkIdRange(
  tensor: Tensor | undefined,
  size: number | undefined,
  message: (value: string, at: string, size: number) => string,
): void {
  if (!tensor || size === undefined) return;
  const at = firstOutOfRange(tensor.data, size);
  if (at === undefined) return;
  const value = (tensor.data as ArrayLike<number | bigint>)[at];
  throw invalidArgument(message(String(value), formatIndex(at, tensor.dims), size));
}

function firstOutOfRange(data: Tensor['data'], size: number): number | undefined {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    // Little-endian 32-bit halves: an id is in range iff its high word is 0 and its low word is below `size`
    // (the high word also carries the sign). Much cheaper than comparing BigInts.
    const words = new Uint32Array(data.buffer, data.byteOffset, data.length * 2);
    for (let i = 0; i < data.length; i++) {
      if (words[2 * i + 1] !== 0 || words[2 * i]! >= size) return i;
    }
    return undefined;
  }
  if (
    data instanceof Int32Array ||
    data instanceof Uint32Array ||
    data instanceof Int16Array ||
    data instanceof Uint16Array ||
    data instanceof Int8Array ||
    data instanceof Uint8Array
  ) {
    for (let i = 0; i < data.length; i++) {
      const id = data[i]!;
      if (id < 0 || id >= size) return i;
    }
  }
  // Floating-point ids are not token ids this guard knows how to read.
  return undefined;
}

function formatIndex(flat: number, dims: readonly number[]): string {
  const index = new Array<number>(dims.length);
  let rest = flat;
  for (let d = dims.length - 1; d >= 0; d--) {
    const dim = dims[d]!;
    index[d] = dim > 0 ? rest % dim : 0;
    rest = dim > 0 ? Math.floor(rest / dim) : 0;
  }
  return `[${index.join(', ')}]`;
}

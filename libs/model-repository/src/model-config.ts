import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What serving needs from a Hugging Face `config.json`. */
export interface ModelConfig {
  /** Label of each output index, in index order. */
  readonly labels: readonly string[];
  /** Longest token sequence the model accepts, special tokens included. */
  readonly maxSequenceLength: number;
  readonly padTokenId: number | undefined;
  /** Segment ids a `token_type_ids` input may hold run from 0 to this - 1 (BERT: 2, RoBERTa: 1). */
  readonly typeVocabSize: number | undefined;
}

/** Hugging Face position tables of RoBERTa-family models keep two rows for the padding offset. */
const POSITION_OFFSET_BY_MODEL_TYPE: Readonly<Record<string, number>> = {
  roberta: 2,
  'xlm-roberta': 2,
  camembert: 2,
  longformer: 2,
};
const DEFAULT_MAX_SEQUENCE_LENGTH = 512;

interface RawConfig {
  id2label?: Record<string, unknown>;
  max_position_embeddings?: unknown;
  max_seq_length?: unknown;
  model_type?: unknown;
  pad_token_id?: unknown;
  type_vocab_size?: unknown;
}

export function readModelConfig(versionDir: string): ModelConfig {
  const path = join(versionDir, 'config.json');
  let raw: RawConfig;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as RawConfig;
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
  return {
    labels: parseLabels(path, raw.id2label),
    maxSequenceLength: parseMaxSequenceLength(path, raw),
    padTokenId: optionalNonNegativeInteger(path, 'pad_token_id', raw.pad_token_id),
    typeVocabSize: optionalNonNegativeInteger(path, 'type_vocab_size', raw.type_vocab_size),
  };
}

function parseLabels(path: string, id2label: Record<string, unknown> | undefined): string[] {
  if (!id2label || typeof id2label !== 'object') throw new Error(`${path}: id2label is missing`);
  const entries = Object.entries(id2label);
  const labels = new Array<string>(entries.length);
  for (const [index, label] of entries) {
    const i = Number(index);
    if (!Number.isInteger(i) || i < 0 || i >= entries.length || typeof label !== 'string' || labels[i] !== undefined) {
      throw new Error(`${path}: id2label must map 0..${entries.length - 1} to distinct label strings`);
    }
    labels[i] = label;
  }
  if (labels.length < 2) throw new Error(`${path}: id2label needs at least two labels`);
  return labels;
}

function parseMaxSequenceLength(path: string, raw: RawConfig): number {
  const explicit = optionalNonNegativeInteger(path, 'max_seq_length', raw.max_seq_length);
  if (explicit !== undefined) return explicit;
  const positions = optionalNonNegativeInteger(path, 'max_position_embeddings', raw.max_position_embeddings);
  if (positions === undefined) return DEFAULT_MAX_SEQUENCE_LENGTH;
  const offset = typeof raw.model_type === 'string' ? (POSITION_OFFSET_BY_MODEL_TYPE[raw.model_type] ?? 0) : 0;
  return positions - offset;
}

function optionalNonNegativeInteger(path: string, field: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new Error(`${path}: ${field} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

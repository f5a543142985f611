import { REPO_ROOT } from '@inference-mesh/launcher';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The wrong canary's version of `sentiment` in the repository buildCanaryRepository makes. */
export const WRONG_CANARY_VERSION = '3';

/**
 * Version 2's config.json with id2label and label2id swapped: committed here, not under models/, since it is a
 * model nobody should serve. With version 2's model.onnx and tokenizer.json it is a version that is healthy
 * (same tokenizer, same speed, no errors) and wrong: every label is the other one, every score the same.
 */
export const SWAPPED_LABELS_CONFIG = join(REPO_ROOT, 'tests', 'fixtures', 'sentiment-swapped-labels', 'config.json');

export interface CanaryRepository {
  /** The repository to point IMESH_MODEL_REPOSITORY at (tokenizer, model and postprocess all read it). */
  readonly root: string;
  /** Removes the repository (after the services reading it have stopped). Idempotent. */
  cleanup(): void;
}

/**
 * A temporary model repository with `sentiment` versions 1 and 2 from models/sentiment, and version 3
 * (WRONG_CANARY_VERSION): version 2's model and tokenizer with the swapped labels. The repository scanner takes
 * real directories only, so the name and version folders are made here; the files in them are links to the
 * committed ones (no copy of the models).
 */
export function buildCanaryRepository(): CanaryRepository {
  const root = mkdtempSync(join(tmpdir(), 'imesh-canary-models-'));
  const sentiment = join(REPO_ROOT, 'models', 'sentiment');
  const link = (version: string, files: Readonly<Record<string, string>>) => {
    const dir = join(root, 'sentiment', version);
    mkdirSync(dir, { recursive: true });
    for (const [name, target] of Object.entries(files)) symlinkSync(target, join(dir, name));
  };
  const committed = (version: string) =>
    Object.fromEntries(
      readdirSync(join(sentiment, version))
        .filter((name) => statSync(join(sentiment, version, name)).isFile())
        .map((name) => [name, join(sentiment, version, name)]),
    );
  link('1', committed('1'));
  link('2', committed('2'));
  link(WRONG_CANARY_VERSION, {
    'model.onnx': join(sentiment, '2', 'model.onnx'),
    'tokenizer.json': join(sentiment, '2', 'tokenizer.json'),
    'config.json': SWAPPED_LABELS_CONFIG,
  });
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

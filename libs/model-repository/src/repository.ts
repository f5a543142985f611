import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface ModelVersionDir {
  readonly name: string;
  /** Decimal digits, as Triton and KServe name versions. */
  readonly version: string;
  readonly dir: string;
}

export function modelFiles(dir: string): { model: string; tokenizer: string; config: string } {
  return { model: join(dir, 'model.onnx'), tokenizer: join(dir, 'tokenizer.json'), config: join(dir, 'config.json') };
}

/** Every `<root>/<name>/<version>/` holding a model.onnx, versions in numeric order. */
export function scanModelRepository(root: string): ModelVersionDir[] {
  const found: ModelVersionDir[] = [];
  for (const name of listDirs(root).sort()) {
    const versions = listDirs(join(root, name))
      .filter((v) => /^[0-9]+$/.test(v))
      .sort((a, b) => Number(a) - Number(b));
    for (const version of versions) {
      const dir = join(root, name, version);
      if (existsSync(modelFiles(dir).model)) found.push({ name, version, dir });
    }
  }
  return found;
}

/** Sub-folders, symbolic links to folders included (a repository often links models kept elsewhere). */
function listDirs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() || (entry.isSymbolicLink() && isDirectory(join(dir, entry.name))))
    .map((entry) => entry.name);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Identifies a tokenizer.json by content. The tokenizer service stamps its output with it and the model
 * service compares it with its own version's, so ids from another vocabulary are refused, never mis-scored.
 */
export function tokenizerFingerprint(tokenizerJsonPath: string): string {
  return 'sha256:' + createHash('sha256').update(readFileSync(tokenizerJsonPath)).digest('hex');
}

import { DEFAULT_MODEL_REPOSITORY } from '@inference-mesh/model-repository';
import { join, resolve } from 'node:path';
import type { BenchOptions } from './args';
import { ensureSyntheticModel } from './synthetic-model';

/** What every suite gets from main: where to write, the command to print, the checkout, and a progress line sink. */
export interface SuiteContext {
  readonly outDir: string;
  readonly command: string;
  readonly repoRoot: string;
  readonly log: (line: string) => void;
}

/**
 * The repository and version folder the suite serves: --model-repository (relative to the checkout), else
 * IMESH_MODEL_REPOSITORY, else models/; the synthetic model is exported first if missing.
 */
export async function benchModelDirs(options: BenchOptions, context: SuiteContext): Promise<{ repository: string; versionDir: string }> {
  const repository = options.model.repository !== undefined
    ? resolve(context.repoRoot, options.model.repository)
    : resolve(process.env['IMESH_MODEL_REPOSITORY'] ?? DEFAULT_MODEL_REPOSITORY);
  const versionDir = join(repository, options.model.name, options.model.version);
  if (options.syntheticBert) await ensureSyntheticModel(context.repoRoot, versionDir, context.log);
  return { repository, versionDir };
}

/** IMESH_* variables of the bench's own environment: the services inherit them, so reports record them. */
export function imeshEnvironment(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((entry): entry is [string, string] => entry[0].startsWith('IMESH_') && entry[1] !== undefined),
  );
}

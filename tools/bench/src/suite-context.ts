import { DEFAULT_MODEL_REPOSITORY } from '@inference-mesh/model-repository';
import { join, resolve } from 'node:path';
import type { BenchOptions } from './args';
import { machineInfo, type MachineInfo } from './report';
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

/** What every suite starts from: when and where it runs, the model folders, the timings, the inherited settings. */
export interface SuiteStart {
  readonly date: string;
  readonly machine: MachineInfo;
  readonly repository: string;
  readonly versionDir: string;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly inheritedEnv: Record<string, string>;
  /** Filled as the suite runs; a non-empty list fails the run. */
  readonly problems: string[];
}

/**
 * Resolves the model folders and prints the suite's opening lines (model, machine, inherited settings, and for a
 * suite of timed cases its warm-up and measured window; `timedCases: false` for one that runs work to its end).
 */
export async function startSuite(suite: string, options: BenchOptions, context: SuiteContext, { timedCases = true } = {}): Promise<SuiteStart> {
  const { log } = context;
  const machine = machineInfo();
  const { repository, versionDir } = await benchModelDirs(options, context);
  const inheritedEnv = imeshEnvironment();
  log(`${suite} suite: ${options.model.name}/${options.model.version} from ${versionDir}`);
  log(`machine: ${machine.cpuCount} x ${machine.cpuModel}, node ${machine.node}, load average ${machine.loadAverageAtStart.join(' ')}`);
  if (Object.keys(inheritedEnv).length > 0) {
    log(`note: the services inherit from this environment ${Object.entries(inheritedEnv).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }
  const quick = options.quick ? 'QUICK (smoke test, numbers not worth keeping)' : '';
  if (timedCases) log(`${quick ? `${quick}: ` : ''}warm-up ${options.warmupS} s, measured ${options.durationS} s per case`);
  else if (quick) log(quick);
  return {
    date: new Date().toISOString(),
    machine,
    repository,
    versionDir,
    warmupMs: options.warmupS * 1000,
    durationMs: options.durationS * 1000,
    inheritedEnv,
    problems: [],
  };
}

/** IMESH_* variables of the bench's own environment: the services inherit them, so reports record them. */
export function imeshEnvironment(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((entry): entry is [string, string] => entry[0].startsWith('IMESH_') && entry[1] !== undefined),
  );
}

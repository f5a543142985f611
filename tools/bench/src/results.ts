/** What both suites' JSON reports share: the run's header, its common settings, and how a summary line reads. */
import { relative } from 'node:path';
import type { BenchOptions, SuiteName } from './args';
import type { MachineInfo } from './report';
import type { SuiteContext } from './suite-context';

export type Verdict = 'PASS' | 'MISS' | 'REPORT' | 'N/A';

/** Settings every suite records: the measuring options given, and the model and inputs they ran on. */
export interface CommonSettings extends Pick<BenchOptions, 'warmupS' | 'durationS' | 'concurrency' | 'ortBatchSizes'> {
  readonly model: string;
  readonly version: string;
  /** Relative to the checkout where it lies inside it. */
  readonly versionDir: string;
  readonly texts: number;
  /** IMESH_* variables of the bench's own environment, which the services inherit (a case's own env wins). */
  readonly inheritedEnv: Readonly<Record<string, string>>;
}

/** The header of a suite's report; `settings` adds what only that suite records. */
export interface BenchResult<Suite extends SuiteName, Settings extends CommonSettings> {
  readonly suite: Suite;
  readonly quick: boolean;
  readonly command: string;
  readonly date: string;
  readonly machine: MachineInfo;
  readonly settings: Settings;
  /** Failed requests over all cases. */
  readonly errors: number;
  /** Anything else that went wrong (crashes, start failures), and errors worth a line of their own. */
  readonly problems: readonly string[];
}

export function commonSettings(
  options: BenchOptions,
  context: SuiteContext,
  run: { readonly versionDir: string; readonly texts: number; readonly inheritedEnv: Readonly<Record<string, string>> },
): CommonSettings {
  return {
    warmupS: options.warmupS,
    durationS: options.durationS,
    concurrency: options.concurrency,
    ortBatchSizes: options.ortBatchSizes,
    model: options.model.name,
    version: options.model.version,
    versionDir: relative(context.repoRoot, run.versionDir) || run.versionDir,
    texts: run.texts,
    inheritedEnv: run.inheritedEnv,
  };
}

/** One line of a suite's summary: a comparison, its value, the target it is read against, and the verdict. */
export interface SummaryLine {
  readonly id: string;
  readonly label: string;
  readonly value: string;
  readonly target: string;
  readonly verdict: Verdict;
}

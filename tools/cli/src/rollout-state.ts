/**
 * A rollout's state, kept beside the split it changes (the `rollout` key of the split's ConfigMap, or the `rollout`
 * file beside the `weights` file): a controller that restarts reads it and goes on from the recorded step. The
 * rules are pure functions of the state and an analysis, so they are tested without Prometheus or a cluster.
 */

export type RolloutPhase = 'progressing' | 'paused' | 'promoted' | 'rolled-back' | 'aborted';
export type AnalysisVerdict = 'pass' | 'fail' | 'inconclusive';

/** One analysis of one step, as `imesh canary status` prints the history. */
export interface AnalysisRecord {
  /** ISO time the analysis ran. */
  readonly time: string;
  /** The canary's share during the step analysed. */
  readonly share: number;
  readonly verdict: AnalysisVerdict;
  readonly reasons: readonly string[];
  /** Each signal's value; null where there was no data. */
  readonly metrics: Readonly<Record<string, number | null>>;
}

export interface RolloutPolicy {
  /** The canary's share at each step, ascending, ending at 100 (the promotion, once the steps before pass), e.g. 5, 10, 25, 50, 100. */
  readonly schedule: readonly number[];
  /** Shares at which the rollout stops until `imesh canary resume`. */
  readonly pauseAt: readonly number[];
  /** Failed analyses (in all) that roll back. */
  readonly failureThreshold: number;
  /** Inconclusive analyses in a row (no traffic) that roll back: a rollout that cannot be judged never promotes. */
  readonly maxInconclusive: number;
}

export interface RolloutState extends RolloutPolicy {
  readonly model: string;
  readonly stable: string;
  readonly canary: string;
  /** Index into `schedule` of the step in force (or last in force). */
  readonly step: number;
  readonly phase: RolloutPhase;
  readonly failures: number;
  readonly inconclusiveInARow: number;
  /** ISO time the current step's hold began: the next analysis is due one interval later. */
  readonly stepStartedAt: string;
  readonly history: readonly AnalysisRecord[];
  /** Why it ended (rolled back, aborted, promoted). */
  readonly reason?: string;
}

/** History kept in the state: the ConfigMap holds at most 1 MiB. */
const HISTORY_LIMIT = 200;

export function startRollout(versions: { model: string; stable: string; canary: string }, policy: RolloutPolicy, now: Date): RolloutState {
  return {
    ...versions,
    ...policy,
    step: 0,
    phase: policy.pauseAt.includes(policy.schedule[0]!) ? 'paused' : 'progressing',
    failures: 0,
    inconclusiveInARow: 0,
    stepStartedAt: now.toISOString(),
    history: [],
  };
}

/** The canary's share the gateway should apply in this state. */
export function canaryShare(state: RolloutState): number {
  if (state.phase === 'promoted') return 100;
  if (state.phase === 'rolled-back' || state.phase === 'aborted') return 0;
  return state.schedule[state.step]!;
}

export function isFinished(state: RolloutState): boolean {
  return state.phase === 'promoted' || state.phase === 'rolled-back' || state.phase === 'aborted';
}

/** The state after one analysis of the current step. */
export function afterAnalysis(state: RolloutState, record: AnalysisRecord, now: Date): RolloutState {
  if (state.phase !== 'progressing') throw new Error(`an analysis of a ${state.phase} rollout`);
  const history = [...state.history, record].slice(-HISTORY_LIMIT);
  const at = now.toISOString();
  if (record.verdict === 'fail') {
    const failures = state.failures + 1;
    if (failures >= state.failureThreshold) {
      return { ...state, history, failures, inconclusiveInARow: 0, phase: 'rolled-back', reason: `${failures} failed analyses (threshold ${state.failureThreshold}): ${record.reasons.join('; ')}` };
    }
    return { ...state, history, failures, inconclusiveInARow: 0, stepStartedAt: at };
  }
  if (record.verdict === 'inconclusive') {
    const inconclusiveInARow = state.inconclusiveInARow + 1;
    if (inconclusiveInARow >= state.maxInconclusive) {
      return { ...state, history, inconclusiveInARow, phase: 'rolled-back', reason: `${inconclusiveInARow} inconclusive analyses in a row: ${record.reasons.join('; ')}` };
    }
    return { ...state, history, inconclusiveInARow, stepStartedAt: at };
  }
  const step = state.step + 1;
  // The last step, 100, is the promotion itself: with no traffic left on the stable version there would be nothing
  // to compare the canary with.
  if (state.schedule[step] === 100) {
    return { ...state, history, inconclusiveInARow: 0, step, phase: 'promoted', reason: `every step passed; version ${state.canary} takes all traffic` };
  }
  const paused = state.pauseAt.includes(state.schedule[step]!);
  return { ...state, history, inconclusiveInARow: 0, step, stepStartedAt: at, phase: paused ? 'paused' : 'progressing' };
}

export function resumed(state: RolloutState, now: Date): RolloutState {
  if (state.phase !== 'paused') throw new Error(`the rollout of version ${state.canary} is ${state.phase}, not paused`);
  return { ...state, phase: 'progressing', stepStartedAt: now.toISOString() };
}

export function aborted(state: RolloutState, reason: string): RolloutState {
  if (isFinished(state)) throw new Error(`the rollout of version ${state.canary} has already ended: ${state.phase}`);
  return { ...state, phase: 'aborted', reason };
}

/** Reads a stored state; throws, naming what is wrong, on anything else. */
export function parseRolloutState(text: string, source: string): RolloutState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not JSON: ${(error as Error).message}`);
  }
  const state = value as Partial<RolloutState> | null;
  const problems: string[] = [];
  if (state === null || typeof state !== 'object') throw new Error(`${source} is not a rollout state object`);
  for (const key of ['model', 'stable', 'canary', 'phase', 'stepStartedAt'] as const) if (typeof state[key] !== 'string') problems.push(`${key} is not a string`);
  for (const key of ['step', 'failures', 'inconclusiveInARow', 'failureThreshold', 'maxInconclusive'] as const) if (!Number.isInteger(state[key])) problems.push(`${key} is not an integer`);
  if (!Array.isArray(state.schedule) || state.schedule.length === 0) problems.push('schedule is not a list of shares');
  if (!Array.isArray(state.history)) problems.push('history is not a list');
  if (!['progressing', 'paused', 'promoted', 'rolled-back', 'aborted'].includes(String(state.phase))) problems.push(`phase ${JSON.stringify(state.phase)} is unknown`);
  if (problems.length > 0) throw new Error(`${source}: ${problems.join(', ')}`);
  return { ...(state as RolloutState), pauseAt: Array.isArray(state.pauseAt) ? state.pauseAt : [] };
}

/** The checks a schedule must pass: shares from 1 to 100, rising, the last 100. */
export function scheduleProblem(schedule: readonly number[]): string | undefined {
  if (schedule.length === 0) return 'the schedule is empty';
  if (schedule.some((share) => !Number.isInteger(share) || share < 1 || share > 100)) return 'every share must be an integer from 1 to 100';
  if (schedule.some((share, i) => i > 0 && share <= schedule[i - 1]!)) return 'shares must rise step by step';
  if (schedule[schedule.length - 1] !== 100) return 'the last step must be 100 (the promotion)';
  if (schedule.length < 2) return 'give at least one step below 100 to analyse before the promotion';
  return undefined;
}

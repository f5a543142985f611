import { setTimeout as sleep } from 'node:timers/promises';
import { weightsSetting } from './canary-weights';
import type { RolloutStore } from './rollout-store';
import { aborted, afterAnalysis, canaryShare, isFinished, resumed, startRollout, type AnalysisRecord, type RolloutPolicy, type RolloutState } from './rollout-state';

export interface RolloutOptions extends RolloutPolicy {
  readonly model: string;
  readonly stable: string;
  readonly canary: string;
  /** How long each step holds before its analysis, ms. */
  readonly intervalMs: number;
  /** How often the store is read during a hold, for `canary abort` and `canary resume` from elsewhere, ms. */
  readonly pollMs: number;
  /** Start afresh over a recorded rollout of the same versions that has ended (promoted, rolled back, aborted). */
  readonly restart?: boolean;
}

export interface RolloutDeps {
  readonly store: RolloutStore;
  /** Analyses the step now in force; `share` is the canary's share during it. */
  readonly analyse: (share: number, now: Date) => Promise<AnalysisRecord>;
  readonly out: (line: string) => void;
  readonly now?: () => Date;
  readonly signal?: AbortSignal;
  /** Told every state the rollout takes (its metrics). */
  readonly onState?: (state: RolloutState) => void;
}

/**
 * Runs a rollout to its end: steps the canary's share through the schedule, holds each step for the interval,
 * analyses it and advances, holds again (inconclusive), rolls back or, after the last analysed step, promotes.
 * Every change is written to the store before it takes effect, so a controller started again goes on from the
 * recorded step; a rollout of another canary, or one that has ended, is started afresh. Resolves with the final state.
 */
export async function runRollout(options: RolloutOptions, deps: RolloutDeps): Promise<RolloutState> {
  const now = deps.now ?? (() => new Date());
  const stored = await deps.store.read();
  let state: RolloutState;
  const same = stored.rollout && stored.rollout.canary === options.canary && stored.rollout.stable === options.stable && stored.rollout.model === options.model;
  if (same && isFinished(stored.rollout!) && !options.restart) {
    // A controller restarted after the end (a pod rescheduled) must not roll the canary out a second time.
    deps.out(`the rollout of version ${options.canary} has ended: ${stored.rollout!.phase} (${stored.rollout!.reason ?? ''}); --restart starts it again`);
    deps.onState?.(stored.rollout!);
    return stored.rollout!;
  }
  if (same && !isFinished(stored.rollout!)) {
    state = stored.rollout!;
    deps.out(`continuing the rollout of version ${state.canary} at step ${state.step + 1} of ${state.schedule.length} (${canaryShare(state)}%), ${state.phase}, ${state.history.length} analyses so far`);
  } else {
    state = startRollout(options, options, now());
    deps.out(`rolling out version ${options.canary} over version ${options.stable}: ${options.schedule.join(', ')}% every ${options.intervalMs / 1000} s`);
  }
  await save(state);

  while (!isFinished(state)) {
    deps.signal?.throwIfAborted();
    if (state.phase === 'paused') {
      deps.out(`paused at ${canaryShare(state)}%: imesh canary resume goes on, imesh canary abort rolls back`);
      state = await waitWhile(state, (s) => s.phase === 'paused');
      continue;
    }
    const due = (s: RolloutState) => Date.parse(s.stepStartedAt) + options.intervalMs;
    state = await waitWhile(state, (s) => s.phase === 'progressing' && now().getTime() < due(s));
    // Paused or aborted from elsewhere during the hold.
    if (state.phase !== 'progressing') continue;
    const share = canaryShare(state);
    const record = await deps.analyse(share, now());
    // `canary abort` may have landed while Prometheus answered: the stored state wins.
    const latest = (await deps.store.read()).rollout;
    if (latest && latest.phase !== state.phase) {
      state = latest;
      continue;
    }
    state = afterAnalysis(state, record, now());
    deps.out(`analysis at ${share}%: ${record.verdict}${record.reasons.length > 0 ? `\n  ${record.reasons.join('\n  ')}` : ''}`);
    await save(state);
  }
  deps.out(`${state.phase}: ${state.reason ?? ''} (version ${state.canary} at ${canaryShare(state)}%)`);
  return state;

  async function save(next: RolloutState): Promise<void> {
    await deps.store.write(weightsSetting({ stable: next.stable, canary: next.canary, canaryPercent: canaryShare(next) }), next);
    deps.onState?.(next);
  }

  /** Re-reads the store every pollMs while `holding` is true of the stored state; a change from elsewhere (abort, resume) is taken. */
  async function waitWhile(current: RolloutState, holding: (s: RolloutState) => boolean): Promise<RolloutState> {
    let latest = current;
    while (holding(latest)) {
      await sleep(options.pollMs, undefined, { signal: deps.signal });
      const stored = (await deps.store.read()).rollout;
      if (stored && stored.canary === latest.canary) latest = stored;
    }
    deps.onState?.(latest);
    return latest;
  }
}

/** `imesh canary resume`: a paused rollout goes on. */
export async function resumeRollout(store: RolloutStore, now = new Date()): Promise<RolloutState> {
  const state = await storedRollout(store);
  const next = resumed(state, now);
  await store.write(weightsSetting({ stable: next.stable, canary: next.canary, canaryPercent: canaryShare(next) }), next);
  return next;
}

/** `imesh canary abort`: the canary's share goes to 0 now; a running controller sees it and stops. */
export async function abortRollout(store: RolloutStore, reason = 'aborted by imesh canary abort'): Promise<RolloutState> {
  const state = await storedRollout(store);
  const next = aborted(state, reason);
  await store.write(weightsSetting({ stable: next.stable, canary: next.canary, canaryPercent: 0 }), next);
  return next;
}

async function storedRollout(store: RolloutStore): Promise<RolloutState> {
  const { rollout } = await store.read();
  if (!rollout) throw new Error(`no rollout is recorded in ${store.description}`);
  return rollout;
}

/** The history as `imesh canary status` prints it: one line per analysis. */
export function formatHistory(state: RolloutState): string {
  const lines = [`rollout of version ${state.canary} over ${state.stable}: ${state.phase} at ${canaryShare(state)}%${state.reason ? ` (${state.reason})` : ''}`];
  for (const record of state.history) {
    const metrics = Object.entries(record.metrics)
      .map(([name, value]) => `${name}=${value === null ? 'n/a' : Number(value.toPrecision(4))}`)
      .join(' ');
    lines.push(`  ${record.time}  ${String(record.share).padStart(3)}%  ${record.verdict.padEnd(12)} ${metrics}`);
  }
  return `${lines.join('\n')}\n`;
}

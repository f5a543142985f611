import { CANARY_USAGE, parseCanaryCommand, type CanaryRunCommand, type CanarySetCommand, type SplitLocation } from './canary-args';
import { analyseStep } from './rollout-analysis';
import { abortRollout, formatHistory, resumeRollout, runRollout } from './rollout';
import { serveRolloutMetrics } from './rollout-metrics';
import type { RolloutState } from './rollout-state';
import { ConfigMapApiStore, ConfigMapStore, DirectoryStore, inClusterApi, type RolloutStore } from './rollout-store';
import { canaryStatus, formatVerdict, type CanaryDecision } from './canary-status';
import { kubectlOnPath, runKubectl, setSplitInCluster, setSplitInFile, type KubectlRunner } from './canary-weights';
import { UsageError } from '@inference-mesh/tool-kit';

export interface CanaryIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Absent: kubectl from PATH, when there is one. */
  readonly kubectl?: KubectlRunner;
  /** Stops a running `canary run` (the CLI wires SIGINT and SIGTERM to it); the rollout's state stays recorded. */
  readonly signal?: AbortSignal;
}

/** Exit statuses of `imesh canary status` (and `run`: promote 0, rolled back or aborted 3), so a pipeline can act on the verdict. */
export const CANARY_EXIT: Readonly<Record<CanaryDecision, number>> = { promote: 0, rollback: 3, wait: 4 };

/** `imesh canary ...` with the arguments after `canary`; resolves with the exit status. */
export async function runCanary(argv: readonly string[], io: CanaryIo): Promise<number> {
  let command;
  try {
    command = parseCanaryCommand(argv, io.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`imesh canary: ${error.message}\n\n${CANARY_USAGE}`);
    return 2;
  }
  try {
    switch (command.kind) {
      case 'canary-help':
        io.out(CANARY_USAGE);
        return 0;
      case 'canary-set':
        for (const line of await setWeights(command, io)) io.out(`${line}\n`);
        return 0;
      case 'canary-status': {
        const history = await recordedRollout({ splitDir: command.splitDir, namespace: command.namespace, configMap: command.configMap }, io);
        if (history) io.out(formatHistory(history));
        const verdict = await canaryStatus(command);
        io.out(formatVerdict(verdict));
        return CANARY_EXIT[verdict.decision];
      }
      case 'canary-run': {
        let latest: RolloutState | undefined;
        const metrics = command.metricsPort === undefined ? undefined : await serveRolloutMetrics(command.metricsPort, () => latest);
        try {
          const state = await runCanaryRollout(command, io, (next) => (latest = next));
          if (command.keepRunning) await new Promise((resolve) => io.signal?.addEventListener('abort', resolve, { once: true }));
          return state.phase === 'promoted' ? CANARY_EXIT.promote : CANARY_EXIT.rollback;
        } finally {
          metrics?.server.close();
        }
      }
      case 'canary-resume': {
        const state = await resumeRollout(rolloutStore(command, io));
        io.out(`resumed the rollout of version ${state.canary} at ${state.schedule[state.step]}%\n`);
        return 0;
      }
      case 'canary-abort': {
        const state = await abortRollout(rolloutStore(command, io));
        io.out(`aborted the rollout of version ${state.canary}: its share is 0\n`);
        return 0;
      }
    }
  } catch (error) {
    if (io.signal?.aborted) {
      io.err('imesh canary: stopped; the rollout stays as recorded beside the split: "imesh canary run" with the same versions goes on from it\n');
      return 130;
    }
    io.err(`imesh canary: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

async function setWeights(command: CanarySetCommand, io: CanaryIo): Promise<string[]> {
  if (command.files.length > 0) {
    return command.files.flatMap((file) => setSplitInFile(file, command, command).map((change) => `${file}: ${change}`));
  }
  const kubectl = io.kubectl ?? (kubectlOnPath() ? runKubectl : undefined);
  if (!kubectl) throw new Error('kubectl is not on PATH: give the manifest to rewrite with --file PATH (k8s/base/gateway.yaml, which holds the split ConfigMap)');
  return setSplitInCluster(command, command, kubectl);
}

/**
 * The rollout recorded beside the split, for `canary status`: from --split-dir, else the ConfigMap where kubectl or
 * the pod's API access reaches it. No store within reach, or none recorded: undefined (status still answers).
 */
async function recordedRollout(location: SplitLocation, io: CanaryIo) {
  if (location.splitDir === undefined && !inClusterApi(io.env) && !io.kubectl && !kubectlOnPath()) return undefined;
  try {
    return (await rolloutStore(location, io).read()).rollout;
  } catch (error) {
    io.err(`imesh canary: no rollout history (${error instanceof Error ? error.message : String(error)})\n`);
    return undefined;
  }
}

function rolloutStore(location: SplitLocation, io: CanaryIo): RolloutStore {
  if (location.splitDir !== undefined) return new DirectoryStore(location.splitDir);
  // In a pod (the controller's Deployment): the API server with the pod's ServiceAccount; kubectl elsewhere.
  const api = inClusterApi(io.env);
  if (api) return new ConfigMapApiStore(api, location.namespace, location.configMap);
  const kubectl = io.kubectl ?? (kubectlOnPath() ? runKubectl : undefined);
  if (!kubectl) throw new Error('kubectl is not on PATH: give the split as files with --split-dir DIR, or run where kubectl reaches the cluster');
  return new ConfigMapStore(kubectl, location.namespace, location.configMap);
}

/** `imesh canary run`: until promoted, rolled back or aborted; SIGINT/SIGTERM stop the controller, not the rollout. */
async function runCanaryRollout(command: CanaryRunCommand, io: CanaryIo, onState: (state: RolloutState) => void) {
  const window = `${Math.round(command.intervalMs / 1000)}s`;
  return runRollout(
    { ...command, pollMs: Math.min(1_000, command.intervalMs) },
    {
      store: rolloutStore(command, io),
      analyse: (share, now) => analyseStep({ ...command, window }, share, now),
      out: (line) => io.out(`${new Date().toISOString()} ${line}\n`),
      onState,
      ...(io.signal && { signal: io.signal }),
    },
  );
}

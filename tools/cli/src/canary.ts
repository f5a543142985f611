import { CANARY_USAGE, parseCanaryCommand, type CanarySetCommand } from './canary-args';
import { canaryStatus, formatVerdict, type CanaryDecision } from './canary-status';
import { kubectlOnPath, runKubectl, setSplitInCluster, setSplitInFile, type KubectlRunner } from './canary-weights';
import { UsageError } from '@inference-mesh/tool-kit';

export interface CanaryIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Absent: kubectl from PATH, when there is one. */
  readonly kubectl?: KubectlRunner;
}

/** Exit statuses of `imesh canary status`, so a pipeline can act on the verdict. */
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
        const verdict = await canaryStatus(command);
        io.out(formatVerdict(verdict));
        return CANARY_EXIT[verdict.decision];
      }
    }
  } catch (error) {
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

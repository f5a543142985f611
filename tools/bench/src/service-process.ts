import { launchService, type MeshService, type ServiceProcess } from '@inference-mesh/launcher';

export interface BenchService {
  readonly service: MeshService;
  readonly address: string;
  readonly pid: number;
  /** Log lines at warn or above (the bench starts services with IMESH_LOG_LEVEL=warn), and anything on stderr. */
  readonly logs: string[];
  /** Set once the process has exited on its own, before stop(): a crash. */
  exitedEarly(): string | undefined;
  /** SIGTERM, then SIGKILL after the timeout; resolves with how it ended. */
  stop(timeoutMs?: number): Promise<string>;
}

const running = new Set<ServiceProcess>();

/** Starts one service process on a free loopback port and waits until it is SERVING. */
export async function startBenchService(
  service: MeshService,
  env: Readonly<Record<string, string>>,
  readyTimeoutMs = 120_000,
): Promise<BenchService> {
  const logs: string[] = [];
  let launched: ServiceProcess;
  try {
    launched = await launchService(service, '127.0.0.1', 0, env, (_, line) => logs.push(line), readyTimeoutMs);
  } catch (error) {
    const tail = logs.slice(-5);
    throw new Error(`${(error as Error).message}${tail.length > 0 ? `; its last log lines:\n${tail.join('\n')}` : ' (it logged nothing)'}`);
  }
  running.add(launched);
  const child = launched.process;
  let stopping = false;
  let early: string | undefined;
  const exited = new Promise<string>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      if (!stopping) early = how;
      running.delete(launched);
      resolve(how);
    };
    if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode, child.signalCode);
    else child.once('exit', done);
  });
  return {
    service,
    address: launched.address,
    pid: child.pid!,
    logs,
    exitedEarly: () => early,
    stop: async (timeoutMs = 15_000) => {
      stopping = early === undefined;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Kills every service this process started and has not stopped (for Ctrl-C: they run in their own groups). */
export function killRunningServices(): void {
  for (const { process: child } of running) child.kill('SIGKILL');
}

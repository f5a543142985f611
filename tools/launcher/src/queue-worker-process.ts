import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './mesh';

const WORKER_MAIN = join(REPO_ROOT, 'services', 'queue-worker', 'dist', 'main.js');

export interface QueueWorkerProcess {
  readonly child: ChildProcess;
  readonly logs: string[];
  /** Its grpc.health.v1 port and its /metrics port, bound on free ports. */
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The worker as it runs in production: its own process, configured by the environment (health and metrics on free
 * ports unless `env` says otherwise); resolves once it consumes, or with `until: 'listening'` once its health and
 * metrics ports are bound (a worker that cannot reach its broker never consumes).
 */
export async function startQueueWorker(env: Readonly<Record<string, string>>, { until = 'consuming' }: { until?: 'consuming' | 'listening' } = {}): Promise<QueueWorkerProcess> {
  const child = spawn(process.execPath, [WORKER_MAIN], {
    env: { ...process.env, IMESH_QUEUE_WORKER_PORT: '0', IMESH_QUEUE_WORKER_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const consuming = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      logs.push(...chunk.toString().split('\n').filter(Boolean));
      const ready = until === 'consuming' ? logs.some((line) => line.includes('"msg":"consuming"')) : loggedPort(logs, 'listening') !== undefined && loggedPort(logs, 'metrics listening') !== undefined;
      if (ready) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(({ code, signal }) => reject(new Error(`the worker exited (${signal ?? code}) before consuming:\n${logs.join('\n')}`)));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    await consuming;
  } finally {
    clearTimeout(timer);
  }
  return { child, logs, exited, healthPort: loggedPort(logs, 'listening')!, metricsPort: loggedPort(logs, 'metrics listening')! };
}

function loggedPort(logs: readonly string[], message: string): number | undefined {
  for (const line of logs) {
    const port = line.includes(`"msg":"${message}"`) ? /"port":(\d+)/.exec(line)?.[1] : undefined;
    if (port !== undefined) return Number(port);
  }
  return undefined;
}

export async function stopQueueWorker(worker: QueueWorkerProcess | undefined): Promise<void> {
  if (!worker || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), 10_000);
  await worker.exited;
  clearTimeout(timer);
}


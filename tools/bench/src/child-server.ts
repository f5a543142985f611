import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Server } from '@grpc/grpc-js';
import { ServerCredentials } from '@grpc/grpc-js';

/**
 * The overhead suite's own server processes (the echo and the one-process pipeline): a compiled script of this
 * package, run with an IPC channel so that it exits with the bench, announcing its port on that channel.
 */
export interface ChildServer {
  readonly name: string;
  readonly address: string;
  readonly pid: number;
  /** stderr, and anything it printed, for a report on failure. */
  readonly output: string[];
  /** Set once the process has exited before stop(): a crash. */
  exitedEarly(): string | undefined;
  stop(timeoutMs?: number): Promise<void>;
}

interface PortMessage {
  readonly port: number;
}

export async function spawnChildServer(
  name: string,
  script: 'echo-server' | 'one-process-server',
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  readyTimeoutMs = 120_000,
): Promise<ChildServer> {
  const child: ChildProcess = spawn(process.execPath, [join(__dirname, `${script}.js`), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '' && output.length < 200) output.push(line);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  let stopping = false;
  let early: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      if (!stopping) early = signal ? `signal ${signal}` : `exit code ${code}`;
      resolve();
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: no port within ${readyTimeoutMs} ms`)), readyTimeoutMs);
    child.once('message', (message: PortMessage) => {
      clearTimeout(timer);
      resolve(message.port);
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${early}) before listening: ${output.slice(-5).join(' | ')}`));
    });
  });
  return {
    name,
    address: `127.0.0.1:${port}`,
    pid: child.pid!,
    output,
    exitedEarly: () => early,
    stop: async (timeoutMs = 10_000) => {
      stopping = early === undefined;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** The child's side: bind a loopback port, tell the bench which, and exit when the bench does or says so. */
export async function serveForBench(server: Server, onStop: () => Promise<void> = async () => undefined): Promise<void> {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  const stop = () => {
    server.forceShutdown();
    void onStop().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  // The IPC channel closes when the bench ends, however it ends: no server outlives it.
  process.once('disconnect', stop);
  process.send!({ port } satisfies PortMessage);
}

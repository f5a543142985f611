import { PipelineClient, type TlsOptions } from '@inference-mesh/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export type MeshService = 'tokenizer' | 'model' | 'postprocess' | 'gateway';
export const DOWNSTREAM_SERVICES: readonly MeshService[] = ['tokenizer', 'model', 'postprocess'];
export const MESH_SERVICES: readonly MeshService[] = [...DOWNSTREAM_SERVICES, 'gateway'];

/** The repository root, from tools/launcher/dist/. */
export const REPO_ROOT = join(__dirname, '..', '..', '..');

export interface MeshOptions {
  /** Extra environment for every service (e.g. IMESH_MODEL_REPOSITORY). */
  readonly env?: Readonly<Record<string, string>>;
  /** Extra environment for one service, over `env`. */
  readonly serviceEnv?: Partial<Readonly<Record<MeshService, Readonly<Record<string, string>>>>>;
  /** How the launcher reaches the services' health checks when they serve TLS (IMESH_TLS_*): a CA, and a client certificate under mutual TLS. */
  readonly tls?: TlsOptions;
  /** Ports per service; 0 (the default here) lets the OS pick a free one. */
  readonly ports?: Partial<Readonly<Record<MeshService, number>>>;
  /** Host the services bind to and are reached on. */
  readonly host?: string;
  /** Each log line a service prints (JSON), with the service's name. Default: dropped. */
  readonly onLog?: (service: MeshService, line: string) => void;
  readonly readyTimeoutMs?: number;
}

export interface ServiceProcess {
  readonly service: MeshService;
  readonly process: ChildProcess;
  readonly address: string;
}

export interface RunningMesh {
  readonly services: Readonly<Record<MeshService, ServiceProcess>>;
  /** The gateway's address, what SDK clients connect to. */
  readonly gateway: string;
  /** SIGTERM to every service, gateway first; SIGKILL to any still running after the timeout. */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Starts the four services as separate processes: the three downstreams first, then the gateway pointed at
 * them, each awaited until its grpc.health.v1 status is SERVING. Used by `npm start` and the integration tests.
 */
export async function startMesh(options: MeshOptions = {}): Promise<RunningMesh> {
  const host = options.host ?? '127.0.0.1';
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const started: ServiceProcess[] = [];
  const stop = async (timeoutMs = 15_000) => {
    const order = [...started].sort((a, b) => Number(b.service === 'gateway') - Number(a.service === 'gateway'));
    for (const { process: child } of order) await terminate(child, timeoutMs);
  };
  try {
    const launch = async (service: MeshService, env: Record<string, string>) => {
      const serviceEnv = { ...options.env, ...options.serviceEnv?.[service], ...env };
      const launched = await launchService(service, host, options.ports?.[service] ?? 0, serviceEnv, options.onLog, readyTimeoutMs, options.tls);
      started.push(launched);
      return launched;
    };
    const [tokenizer, model, postprocess] = await Promise.all(DOWNSTREAM_SERVICES.map((service) => launch(service, {})));
    const gateway = await launch('gateway', {
      IMESH_TOKENIZER_TARGET: tokenizer!.address,
      IMESH_MODEL_TARGET: model!.address,
      IMESH_POSTPROCESS_TARGET: postprocess!.address,
    });
    return {
      services: { tokenizer: tokenizer!, model: model!, postprocess: postprocess!, gateway },
      gateway: gateway.address,
      stop,
    };
  } catch (error) {
    await stop(2_000);
    throw error;
  }
}

/** Starts one service and resolves once it is SERVING; the port comes from its "listening" log line. */
export async function launchService(
  service: MeshService,
  host: string,
  port: number,
  env: Readonly<Record<string, string | undefined>>,
  onLog: MeshOptions['onLog'],
  readyTimeoutMs: number,
  tls?: TlsOptions,
): Promise<ServiceProcess> {
  // The launcher learns the port from the service's info-level "listening" line, so the service logs at info at
  // least; a quieter level asked for is applied here, to what is passed on to onLog.
  const quiet = env.IMESH_LOG_LEVEL === 'warn' || env.IMESH_LOG_LEVEL === 'error';
  const logLevel = quiet ? 'info' : env.IMESH_LOG_LEVEL;
  const passOn = onLog && ((line: string) => (!quiet || !/^\{"time":"[^"]*","level":"(debug|info)"/.test(line)) && onLog(service, line));
  // Node flags for the service processes, e.g. IMESH_NODE_ARGS=--cpu-prof to profile them (NODE_OPTIONS refuses it).
  const nodeArgs = (env.IMESH_NODE_ARGS ?? process.env['IMESH_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, join(REPO_ROOT, 'services', service, 'dist', 'main.js')], {
    env: {
      ...process.env,
      ...env,
      ...(logLevel !== undefined && { IMESH_LOG_LEVEL: logLevel }),
      IMESH_HOST: host,
      [`IMESH_${service.toUpperCase()}_PORT`]: String(port),
      // A service on a free gRPC port (tests, benches, replicas) takes a free metrics port too, unless one is
      // named: two of them on the fixed default would collide.
      ...(port === 0 && env[`IMESH_${service.toUpperCase()}_METRICS_PORT`] === undefined && { [`IMESH_${service.toUpperCase()}_METRICS_PORT`]: '0' }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // A process group of its own: Ctrl-C in a terminal signals the launcher only, which then stops the
    // services in order (gateway first) instead of all of them at once.
    detached: true,
  });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderr.push(line);
    passOn?.(line);
  });
  const listening = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      passOn?.(line);
      const port = listeningPort(line);
      if (port !== undefined) resolve(port);
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`${service} exited (${signal ?? `code ${code}`}) before listening: ${stderr.slice(-5).join('\n') || 'see its log'}`)),
    );
    child.once('error', reject);
  });
  const deadline = Date.now() + readyTimeoutMs;
  try {
    const boundPort = await withTimeout(listening, readyTimeoutMs, `${service} did not start listening within ${readyTimeoutMs} ms`);
    const address = `${host}:${boundPort}`;
    await waitUntilServing(service, address, deadline, listening, tls);
    return { service, process: child, address };
  } catch (error) {
    await terminate(child, 2_000);
    throw error;
  }
}

function listeningPort(line: string): number | undefined {
  if (!line.includes('"listening"')) return undefined;
  try {
    const record = JSON.parse(line) as { msg?: unknown; port?: unknown };
    return record.msg === 'listening' && typeof record.port === 'number' ? record.port : undefined;
  } catch {
    return undefined;
  }
}

async function waitUntilServing(service: MeshService, address: string, deadline: number, exited: Promise<unknown>, tls: TlsOptions | undefined): Promise<void> {
  const client = new PipelineClient({ target: address, ...(tls && { tls }) });
  let failed: unknown;
  exited.catch((error: unknown) => (failed = error));
  try {
    while (Date.now() < deadline) {
      if (failed) throw failed;
      const status = await client.health('').catch(() => 'UNREACHABLE');
      if (status === 'SERVING') return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${service} at ${address} was not SERVING in time`);
  } finally {
    client.close();
  }
}

async function terminate(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

import { PipelineClient, type TlsOptions } from '@inference-mesh/client';
import { CHECK_CONFIG_FLAG } from '@inference-mesh/service-kit';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export type MeshService = 'tokenizer' | 'model' | 'postprocess' | 'gateway';
export const DOWNSTREAM_SERVICES: readonly MeshService[] = ['tokenizer', 'model', 'postprocess'];
export const MESH_SERVICES: readonly MeshService[] = [...DOWNSTREAM_SERVICES, 'gateway'];

/** The repository root, from tools/launcher/dist/. */
export const REPO_ROOT = join(__dirname, '..', '..', '..');

/** How a service that exits on its own is started again: the delay doubles from `initialDelayMs` to `maxDelayMs`. */
export interface RestartPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** A service that served this long before it exited starts again after `initialDelayMs`. */
  readonly resetAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialDelayMs: 1_000, maxDelayMs: 30_000, resetAfterMs: 60_000 };

/** What happens to a started mesh's services on their own: each exit nobody asked for, and each restart. */
export type MeshEvent =
  | { readonly kind: 'exited'; readonly service: MeshService; readonly pid: number | undefined; readonly how: string; readonly restartInMs?: number }
  | { readonly kind: 'restarted'; readonly service: MeshService; readonly pid: number | undefined; readonly address: string }
  | { readonly kind: 'restart-failed'; readonly service: MeshService; readonly error: string; readonly restartInMs: number };

export interface MeshOptions {
  /** Extra environment for every service (e.g. IMESH_MODEL_REPOSITORY). */
  readonly env?: Readonly<Record<string, string>>;
  /** Extra environment for one service, over `env`. */
  readonly serviceEnv?: Partial<Readonly<Record<MeshService, Readonly<Record<string, string>>>>>;
  /** How the launcher reaches the services' health checks when they serve TLS (IMESH_TLS_*): a CA, and a client certificate under mutual TLS. */
  readonly tls?: TlsOptions;
  /**
   * Ports per service; 0 (the default here) lets the OS pick a free one. 'environment': each service reads its
   * IMESH_<SERVICE>_PORT as it would on its own (its default when unset), so a bad value is reported by the
   * service itself, as the user wrote it.
   */
  readonly ports?: Partial<Readonly<Record<MeshService, number>>> | 'environment';
  /** Host the services bind to and are reached on. */
  readonly host?: string;
  /** Each log line a service prints (JSON), with the service's name. Default: dropped. */
  readonly onLog?: (service: MeshService, line: string) => void;
  readonly readyTimeoutMs?: number;
  /**
   * Start a service that exits on its own again, on the same port (the gateway's targets stay valid). Off by
   * default: a test that kills a service wants it to stay down.
   */
  readonly restart?: RestartPolicy;
  readonly onEvent?: (event: MeshEvent) => void;
}

export interface ServiceProcess {
  readonly service: MeshService;
  readonly process: ChildProcess;
  readonly address: string;
}

export interface RunningMesh {
  /** The process serving each service now (after a restart, the new one). */
  readonly services: Readonly<Record<MeshService, ServiceProcess>>;
  /** The gateway's address, what SDK clients connect to. */
  readonly gateway: string;
  /** SIGTERM to every service, gateway first; SIGKILL to any still running after the timeout. No restarts after. */
  stop(timeoutMs?: number): Promise<void>;
}

/** One or more services could not start; `failures` holds each one's own message, the whole of it once. */
export class MeshStartError extends Error {
  override readonly name = 'MeshStartError';

  constructor(readonly failures: readonly { readonly service: MeshService; readonly message: string }[]) {
    super(failures.map((failure) => failure.message).join('\n'));
  }
}

/**
 * Starts the four services as separate processes: the three downstreams first, then the gateway pointed at
 * them, each awaited until its grpc.health.v1 status is SERVING. Used by `npm start` and the integration tests.
 * When a service cannot start, every service's problem is reported (MeshStartError), not only the first one:
 * the gateway, which is not started then, has its configuration checked on its own.
 */
export async function startMesh(options: MeshOptions = {}): Promise<RunningMesh> {
  const host = options.host ?? '127.0.0.1';
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const supervisors: ServiceSupervisor[] = [];
  let stopped = false;
  const stop = async (timeoutMs = 15_000) => {
    stopped = true;
    const order = [...supervisors].sort((a, b) => Number(b.service === 'gateway') - Number(a.service === 'gateway'));
    for (const supervisor of order) await supervisor.stop(timeoutMs);
  };
  const environmentOf = (service: MeshService, extra: Record<string, string>) => {
    const port = options.ports === 'environment' ? undefined : (options.ports?.[service] ?? 0);
    return serviceEnvironment(service, host, port, { ...options.env, ...options.serviceEnv?.[service], ...extra });
  };
  const launch = async (service: MeshService, extra: Record<string, string>) => {
    const env = environmentOf(service, extra);
    const launched = await awaitServing(service, host, spawnService(service, env, options.onLog), readyTimeoutMs, options.tls);
    const supervisor = new ServiceSupervisor(launched, env, host, options, readyTimeoutMs, () => stopped);
    supervisors.push(supervisor);
    return launched;
  };
  try {
    const downstreams = await Promise.allSettled(DOWNSTREAM_SERVICES.map((service) => launch(service, {})));
    const failures = downstreams.flatMap((result, index) =>
      result.status === 'rejected' ? [{ service: DOWNSTREAM_SERVICES[index]!, message: messageOf(result.reason) }] : [],
    );
    if (failures.length > 0) {
      const gatewayProblem = await checkConfiguration('gateway', environmentOf('gateway', {}));
      throw new MeshStartError(gatewayProblem ? [...failures, { service: 'gateway', message: gatewayProblem }] : failures);
    }
    const [tokenizer, model, postprocess] = downstreams.map((result) => (result as PromiseFulfilledResult<ServiceProcess>).value);
    const gateway = await launch('gateway', {
      IMESH_TOKENIZER_TARGET: tokenizer!.address,
      IMESH_MODEL_TARGET: model!.address,
      IMESH_POSTPROCESS_TARGET: postprocess!.address,
    }).catch((error: unknown) => {
      throw new MeshStartError([{ service: 'gateway', message: messageOf(error) }]);
    });
    const services = Object.defineProperties(
      {},
      Object.fromEntries(supervisors.map((supervisor) => [supervisor.service, { get: () => supervisor.current, enumerable: true }])),
    ) as Record<MeshService, ServiceProcess>;
    for (const supervisor of supervisors) supervisor.watch();
    return { services, gateway: gateway.address, stop };
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
  return awaitServing(service, host, spawnService(service, serviceEnvironment(service, host, port, env), onLog), readyTimeoutMs, tls);
}

/** SIGTERM, then SIGKILL if still running after `timeoutMs`; resolves with how it exited. */
export async function terminate(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const exited = exitOf(child);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
  return exited;
}

/** Resolves with how the process exited, at once when it has already. */
export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** What one service process is started with; `port` undefined leaves IMESH_<SERVICE>_PORT to the environment. */
function serviceEnvironment(
  service: MeshService,
  host: string,
  port: number | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string | undefined> {
  const portVariable = `IMESH_${service.toUpperCase()}_PORT`;
  const metricsVariable = `IMESH_${service.toUpperCase()}_METRICS_PORT`;
  return {
    ...process.env,
    ...env,
    IMESH_HOST: host,
    ...(port !== undefined && { [portVariable]: String(port) }),
    // A service on a free gRPC port (tests, benches, replicas) takes a free metrics port too, unless one is
    // named: two of them on the fixed default would collide.
    ...(port === 0 && env[metricsVariable] === undefined && { [metricsVariable]: '0' }),
  };
}

interface SpawnedService {
  readonly child: ChildProcess;
  /** Resolves with the port from the "listening" line; rejects when the process ends first, with why. */
  readonly listening: Promise<number>;
  /** Rejects when the process ends, with why: what it wrote to stderr while starting, or how it exited. */
  readonly ended: Promise<never>;
}

function spawnService(
  service: MeshService,
  env: Readonly<Record<string, string | undefined>>,
  onLog: MeshOptions['onLog'],
): SpawnedService {
  // The launcher learns the port from the service's info-level "listening" line, so the service logs at info at
  // least; a quieter level asked for is applied here, to what is passed on to onLog.
  const quiet = env.IMESH_LOG_LEVEL === 'warn' || env.IMESH_LOG_LEVEL === 'error';
  const passOn = onLog && ((line: string) => (!quiet || !/^\{"time":"[^"]*","level":"(debug|info)"/.test(line)) && onLog(service, line));
  // Node flags for the service processes, e.g. IMESH_NODE_ARGS=--cpu-prof to profile them (NODE_OPTIONS refuses it).
  const nodeArgs = (env.IMESH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, mainOf(service)], {
    env: { ...env, ...(quiet && { IMESH_LOG_LEVEL: 'info' }) },
    // The IPC channel is how a service notices that its launcher has died, whatever killed it: the channel
    // closes, and the service stops (runService). Nothing is sent over it.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    // A process group of its own: Ctrl-C in a terminal signals the launcher only, which then stops the
    // services in order (gateway first) instead of all of them at once.
    detached: true,
  });
  // Until the service listens, what it writes to stderr is why it could not start (a bad variable, a taken
  // port): kept for the error, shown once, rather than also passed on as log lines. Afterwards it is passed on.
  const startupErrors: string[] = [];
  let listened = false;
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (listened) passOn?.(line);
    else startupErrors.push(line);
  });
  // 'close', not 'exit': by then stderr has been read to its end.
  const ended = new Promise<never>((_, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const why = startupErrors.length > 0 && !listened ? startupErrors.join('\n') : `${service} exited (${signal ?? `code ${code}`}): see its log`;
      reject(new Error(why));
    });
  });
  ended.catch(() => {});
  const listening = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      passOn?.(line);
      const port = listened ? undefined : listeningPort(line);
      if (port === undefined) return;
      listened = true;
      for (const kept of startupErrors) passOn?.(kept);
      resolve(port);
    });
    ended.catch(reject);
  });
  return { child, listening, ended };
}

async function awaitServing(service: MeshService, host: string, spawned: SpawnedService, readyTimeoutMs: number, tls: TlsOptions | undefined): Promise<ServiceProcess> {
  const deadline = Date.now() + readyTimeoutMs;
  try {
    const boundPort = await withTimeout(spawned.listening, readyTimeoutMs, `${service} did not start listening within ${readyTimeoutMs} ms`);
    // Over TLS the loopback is reached by name: grpc-js sends the host as the TLS ServerName, and an IP address
    // there is refused by RFC 6066 (Node warns, DEP0123). The certificates name localhost.
    const reachableHost = tls && host === '127.0.0.1' ? 'localhost' : host;
    const address = `${reachableHost}:${boundPort}`;
    await waitUntilServing(service, address, deadline, spawned.ended, tls);
    return { service, process: spawned.child, address };
  } catch (error) {
    await terminate(spawned.child, 2_000);
    throw error;
  }
}

/** The service's own report on its configuration (`--check-config`), or undefined when it has none to make. */
function checkConfiguration(service: MeshService, env: Readonly<Record<string, string | undefined>>): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(process.execPath, [mainOf(service), CHECK_CONFIG_FLAG], { env, timeout: 30_000 }, (error, _stdout, stderr) =>
      resolve(error ? stderr.trim() || `${service}: configuration check failed (${error.message})` : undefined),
    );
  });
}

/**
 * Keeps one service of a started mesh running: when it exits on its own, it is started again on the port it had,
 * after a delay that doubles on each failure up to the policy's maximum (and starts over once it has served a
 * while). Without a restart policy an exit is only reported.
 */
class ServiceSupervisor {
  private delayMs: number;
  private readyAtMs = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private starting: ChildProcess | undefined;
  private readonly restartEnv: Record<string, string | undefined>;

  constructor(
    public current: ServiceProcess,
    env: Record<string, string | undefined>,
    private readonly host: string,
    private readonly options: MeshOptions,
    private readonly readyTimeoutMs: number,
    private readonly stopped: () => boolean,
  ) {
    this.delayMs = options.restart?.initialDelayMs ?? 0;
    // The same port on every restart: the gateway (and any client) keeps its address for this service.
    const port = current.address.slice(current.address.lastIndexOf(':') + 1);
    this.restartEnv = { ...env, [`IMESH_${current.service.toUpperCase()}_PORT`]: port };
  }

  get service(): MeshService {
    return this.current.service;
  }

  /** Starts watching for an exit nobody asked for (once the whole mesh is up). */
  watch(): void {
    const watched = this.current.process;
    void exitOf(watched).then(({ code, signal }) => {
      if (this.stopped() || watched !== this.current.process) return;
      const how = signal ?? `code ${code}`;
      const policy = this.options.restart;
      if (!policy) {
        this.options.onEvent?.({ kind: 'exited', service: this.service, pid: watched.pid, how });
        return;
      }
      if (Date.now() - this.readyAtMs >= policy.resetAfterMs) this.delayMs = policy.initialDelayMs;
      this.options.onEvent?.({ kind: 'exited', service: this.service, pid: watched.pid, how, restartInMs: this.delayMs });
      this.scheduleRestart(policy);
    });
  }

  async stop(timeoutMs: number): Promise<void> {
    clearTimeout(this.timer);
    if (this.starting) await terminate(this.starting, timeoutMs);
    await terminate(this.current.process, timeoutMs);
  }

  private scheduleRestart(policy: RestartPolicy): void {
    const delayMs = this.delayMs;
    this.delayMs = Math.min(delayMs * 2, policy.maxDelayMs);
    this.timer = setTimeout(() => void this.restart(policy), delayMs);
  }

  private async restart(policy: RestartPolicy): Promise<void> {
    if (this.stopped()) return;
    const spawned = spawnService(this.service, this.restartEnv, this.options.onLog);
    this.starting = spawned.child;
    try {
      const restarted = await awaitServing(this.service, this.host, spawned, this.readyTimeoutMs, this.options.tls);
      // Up while the mesh stops: it is the process stop() has to end now, in its turn.
      this.current = restarted;
      if (this.stopped()) return;
      this.readyAtMs = Date.now();
      this.options.onEvent?.({ kind: 'restarted', service: this.service, pid: restarted.process.pid, address: restarted.address });
      this.watch();
    } catch (error) {
      if (this.stopped()) return;
      this.options.onEvent?.({ kind: 'restart-failed', service: this.service, error: messageOf(error), restartInMs: this.delayMs });
      this.scheduleRestart(policy);
    } finally {
      this.starting = undefined;
    }
  }
}

function mainOf(service: MeshService): string {
  return join(REPO_ROOT, 'services', service, 'dist', 'main.js');
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

async function waitUntilServing(service: MeshService, address: string, deadline: number, ended: Promise<never>, tls: TlsOptions | undefined): Promise<void> {
  const client = new PipelineClient({ target: address, ...(tls && { tls }) });
  let failed: unknown;
  ended.catch((error: unknown) => (failed = error));
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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

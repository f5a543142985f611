import { connect } from 'amqplib';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port';

/**
 * The server script itself, not /usr/sbin/rabbitmq-server: Debian's wrapper re-runs it as the `rabbitmq` user
 * through `su`, which drops this harness's environment (node name, ports, directories) and puts a process between
 * the test and the broker that SIGTERM does not reach.
 */
const DEBIAN_SERVER_SCRIPT = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const NOT_INSTALLED = 'rabbitmq-server is not installed: install it first (Debian and Ubuntu: apt-get install rabbitmq-server)';
export const BROKER_START_TIMEOUT_MS = 60_000;
export const BROKER_STOP_TIMEOUT_MS = 20_000;

export interface LocalBroker {
  /** `amqp://guest:guest@127.0.0.1:<port>`; the same across restarts. */
  readonly url: string;
  readonly amqpPort: number;
  /**
   * With `monitoring`: the management API (`http://guest:guest@127.0.0.1:<port>/api/...`, what KEDA's rabbitmq
   * scaler reads with `protocol: http`) and the Prometheus plugin's `/metrics`.
   */
  readonly managementPort?: number;
  readonly prometheusPort?: number;
  /** `imesh-local-<pid>-<n>@localhost`: unique, so the shared epmd never confuses it with another node. */
  readonly nodeName: string;
  /** The process group of the running node (its start script's pid: the Erlang VM runs in a child), for CPU accounting. */
  readonly processGroup: number | undefined;
  /** How long the last start took, from spawn to the first accepted AMQP connection. */
  readonly lastStartMs: number;
  readonly running: boolean;
  /** Starts the node again on the same ports and data directory (durable queues and persistent messages survive). */
  start(): Promise<void>;
  /** SIGTERM (the script stops the node cleanly), SIGKILL after a timeout. Idempotent. */
  stop(): Promise<void>;
  /** stop() and remove the node's directory. */
  dispose(): Promise<void>;
  /** The node's output so far, for a failing test's report. */
  readonly output: readonly string[];
}

let nodeCount = 0;

export interface LocalBrokerOptions {
  /**
   * Also the management and Prometheus plugins, on free ports, with queue statistics every second (the default 5 s
   * would make a test wait for the numbers): they add about a second to the start.
   */
  readonly monitoring?: boolean;
}

/**
 * A real RabbitMQ node (Debian's rabbitmq-server) of its own: node name, AMQP and distribution ports, Mnesia and log
 * directories, configuration and Erlang cookie (HOME) all in a temporary directory, no plugins unless asked. It
 * shares only epmd with any other node on the machine, which is why the node name is unique. Resolves once it
 * accepts AMQP (and, with monitoring, answers on the management API).
 */
export async function startLocalBroker({ monitoring = false }: LocalBrokerOptions = {}): Promise<LocalBroker> {
  const script = existsSync(DEBIAN_SERVER_SCRIPT) ? DEBIAN_SERVER_SCRIPT : 'rabbitmq-server';
  const dir = mkdtempSync(join(tmpdir(), 'imesh-rabbitmq-'));
  const home = join(dir, 'home');
  mkdirSync(home);
  const nodeName = `imesh-local-${process.pid}-${nodeCount++}@localhost`;
  const [amqpPort, distPort, managementPort, prometheusPort] = (await distinctFreePorts(monitoring ? 4 : 2)) as [number, number, number?, number?];
  // The classic Erlang-term format: read as it is, without the cuttlefish translation step of rabbitmq.conf.
  const pluginConfig = monitoring
    ? `, {rabbitmq_management, [{listener, [{port, ${managementPort}}, {ip, "127.0.0.1"}]}]}, {rabbitmq_prometheus, [{tcp_config, [{port, ${prometheusPort}}, {ip, "127.0.0.1"}]}]}`
    : '';
  const statistics = monitoring ? ', {collect_statistics_interval, 1000}' : '';
  writeFileSync(join(dir, 'rabbitmq.config'), `[{rabbit, [{loopback_users, []}${statistics}]}${pluginConfig}].\n`);
  writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
  writeFileSync(join(dir, 'enabled_plugins'), monitoring ? '[rabbitmq_management, rabbitmq_prometheus].\n' : '[].\n');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq'),
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
  };
  const url = `amqp://guest:guest@127.0.0.1:${amqpPort}`;
  const output: string[] = [];
  let child: ChildProcess | undefined;
  let lastStartMs = 0;

  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    signalGroup(running, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(running, 'SIGKILL'), BROKER_STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  const start = async (): Promise<void> => {
    if (child) return;
    const startedAt = Date.now();
    // Its own process group, so that stop() reaches the script and the Erlang VM it runs.
    const spawned = spawn(script, [], { env, cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child = spawned;
    const failed = new Promise<never>((_, reject) => {
      spawned.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'ENOENT' ? new Error(NOT_INSTALLED) : error));
      spawned.once('exit', (code, signal) => reject(new Error(`rabbitmq-server exited (${signal ?? code}) before accepting connections:\n${output.slice(-30).join('')}`)));
    });
    failed.catch(() => undefined);
    for (const stream of [spawned.stdout, spawned.stderr]) stream?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    try {
      await Promise.race([acceptsAmqp(url, startedAt + BROKER_START_TIMEOUT_MS), failed]);
      if (monitoring) await Promise.race([answersHttp(`http://127.0.0.1:${managementPort}/api/overview`, startedAt + BROKER_START_TIMEOUT_MS), failed]);
      lastStartMs = Date.now() - startedAt;
    } catch (error) {
      await stop();
      throw error;
    }
  };

  await start().catch((error: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  return {
    url,
    amqpPort,
    ...(monitoring && { managementPort, prometheusPort }),
    nodeName,
    get lastStartMs() {
      return lastStartMs;
    },
    get running() {
      return child !== undefined;
    },
    get processGroup() {
      return child?.pid;
    },
    start,
    stop,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    output,
  };
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    child.kill(signal);
  }
}

async function answersHttp(url: string, deadline: number): Promise<void> {
  const authorization = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
  for (;;) {
    try {
      const response = await fetch(url, { headers: { authorization } });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`rabbitmq's management API did not answer at ${url} in time`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function acceptsAmqp(url: string, deadline: number): Promise<void> {
  for (;;) {
    try {
      const connection = await connect(url);
      await connection.close();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`rabbitmq-server did not accept AMQP connections at ${url} in time: ${String(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

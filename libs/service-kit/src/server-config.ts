import type { EnvReader } from './env-config';
import { LOG_LEVELS, type LogLevel } from './logger';
import { readTlsConfig, type TlsConfig } from './tls';

export type ServiceName = 'gateway' | 'tokenizer' | 'model' | 'postprocess' | 'queue-worker';

export const DEFAULT_PORTS: Readonly<Record<ServiceName, number>> = {
  gateway: 50051,
  tokenizer: 50052,
  model: 50053,
  postprocess: 50054,
  // grpc.health.v1 only: the queue-worker serves no API, its probes read whether it is consuming.
  'queue-worker': 50055,
};

/** gRPC's own default receive limit; raised with IMESH_MAX_MESSAGE_BYTES on every service alike. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  /** The variable `port` was read from (e.g. IMESH_GATEWAY_PORT), named when the port is already in use. */
  readonly portVariable?: string;
  readonly maxMessageBytes: number;
  /** After SIGTERM: keep serving (health NOT_SERVING) this long so load balancers stop sending first. */
  readonly shutdownGraceMs: number;
  /** After the grace: in-flight calls get this long to finish before they are cancelled. */
  readonly drainTimeoutMs: number;
  readonly logLevel: LogLevel;
  /** Absent: plaintext. */
  readonly tls?: TlsConfig;
  /** HTTP/2 keepalive, for the server's pings and the service's own clients; defaults in KEEPALIVE_DEFAULTS. */
  readonly keepalive?: KeepaliveConfig;
  /**
   * A connection older than this is sent GOAWAY (calls on it finish; new ones open a new connection), so clients
   * resolve the name again and reach pods added since: what spreads load over a headless Service's pods without a
   * mesh. 0: connections live as long as their peers. Absent: DEFAULT_MAX_CONNECTION_AGE_MS.
   */
  readonly maxConnectionAgeMs?: number;
}

export const DEFAULT_MAX_CONNECTION_AGE_MS = 300_000;

/**
 * A ping every `timeMs` on each connection, and a peer that does not answer one within `timeoutMs` is dropped:
 * a dead peer (power cut, frozen process, dropped route) is noticed within their sum instead of a TCP timeout of
 * minutes. Servers of the mesh accept pings at this rate, even between calls, so no client of ours is ever sent
 * GOAWAY too_many_pings.
 */
export interface KeepaliveConfig {
  readonly timeMs: number;
  readonly timeoutMs: number;
}

export const KEEPALIVE_DEFAULTS: KeepaliveConfig = { timeMs: 5_000, timeoutMs: 5_000 };

/** `queue-worker` -> `QUEUE_WORKER`: the service's part of its variables' names (IMESH_QUEUE_WORKER_PORT). */
export function serviceVariablePart(service: ServiceName): string {
  return service.toUpperCase().replace(/-/g, '_');
}

/** The settings every service reads, e.g. IMESH_TOKENIZER_PORT, IMESH_MAX_MESSAGE_BYTES. */
export function readServerConfig(env: EnvReader, service: ServiceName): ServerConfig {
  const portVariable = `IMESH_${serviceVariablePart(service)}_PORT`;
  return {
    host: env.string('IMESH_HOST', '0.0.0.0'),
    port: env.port(portVariable, DEFAULT_PORTS[service]),
    portVariable,
    maxMessageBytes: env.integer('IMESH_MAX_MESSAGE_BYTES', DEFAULT_MAX_MESSAGE_BYTES, { min: 1024, max: 2 ** 31 - 1 }),
    shutdownGraceMs: env.integer('IMESH_SHUTDOWN_GRACE_MS', 0, { min: 0, max: 600_000 }),
    drainTimeoutMs: env.integer('IMESH_DRAIN_TIMEOUT_MS', 10_000, { min: 0, max: 600_000 }),
    logLevel: env.oneOf('IMESH_LOG_LEVEL', 'info', LOG_LEVELS),
    keepalive: {
      timeMs: env.integer('IMESH_KEEPALIVE_TIME_MS', KEEPALIVE_DEFAULTS.timeMs, { min: 1_000, max: 3_600_000 }),
      timeoutMs: env.integer('IMESH_KEEPALIVE_TIMEOUT_MS', KEEPALIVE_DEFAULTS.timeoutMs, { min: 100, max: 600_000 }),
    },
    maxConnectionAgeMs: env.integer('IMESH_MAX_CONNECTION_AGE_MS', DEFAULT_MAX_CONNECTION_AGE_MS, { min: 0, max: 86_400_000 }),
    ...withTls(readTlsConfig(env)),
  };
}

function withTls(tls: TlsConfig | undefined): { tls?: TlsConfig } {
  return tls ? { tls } : {};
}

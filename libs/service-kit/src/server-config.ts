import type { EnvReader } from './env-config';
import { LOG_LEVELS, type LogLevel } from './logger';

export type ServiceName = 'gateway' | 'tokenizer' | 'model' | 'postprocess';

export const DEFAULT_PORTS: Readonly<Record<ServiceName, number>> = {
  gateway: 50051,
  tokenizer: 50052,
  model: 50053,
  postprocess: 50054,
};

/** gRPC's own default receive limit; raised with IMESH_MAX_MESSAGE_BYTES on every service alike. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  readonly maxMessageBytes: number;
  /** After SIGTERM: keep serving (health NOT_SERVING) this long so load balancers stop sending first. */
  readonly shutdownGraceMs: number;
  /** After the grace: in-flight calls get this long to finish before they are cancelled. */
  readonly drainTimeoutMs: number;
  readonly logLevel: LogLevel;
}

/** The settings every service reads, e.g. IMESH_TOKENIZER_PORT, IMESH_MAX_MESSAGE_BYTES. */
export function readServerConfig(env: EnvReader, service: ServiceName): ServerConfig {
  return {
    host: env.string('IMESH_HOST', '0.0.0.0'),
    port: env.port(`IMESH_${service.toUpperCase()}_PORT`, DEFAULT_PORTS[service]),
    maxMessageBytes: env.integer('IMESH_MAX_MESSAGE_BYTES', DEFAULT_MAX_MESSAGE_BYTES, { min: 1024, max: 2 ** 31 - 1 }),
    shutdownGraceMs: env.integer('IMESH_SHUTDOWN_GRACE_MS', 0, { min: 0, max: 600_000 }),
    drainTimeoutMs: env.integer('IMESH_DRAIN_TIMEOUT_MS', 10_000, { min: 0, max: 600_000 }),
    logLevel: env.oneOf('IMESH_LOG_LEVEL', 'info', LOG_LEVELS),
  };
}

import { Server, type ServerInterceptor, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { createServer } from 'node:net';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatus } from 'grpc-health-check';
import type { Logger } from './logger';
import { DEFAULT_MAX_CONNECTION_AGE_MS, KEEPALIVE_DEFAULTS, type ServerConfig } from './server-config';
import { serverCredentials } from './tls';

export type { ServingStatus };

/** The configured port is held by another process: what to do about it is the whole message. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';

  constructor(
    readonly port: number,
    portVariable: string | undefined,
  ) {
    super(`port ${port} is already in use (another mesh running?): stop it${portVariable ? ` or set ${portVariable}` : ''}`);
  }
}

/**
 * A grpc-js server with what every service of the mesh carries: grpc.health.v1 (NOT_SERVING until the service
 * says it is ready), server reflection, message size limits, keepalive that tolerates the mesh's pings, and an
 * orderly shutdown.
 */
export class ServiceServer {
  /** Interceptors every server of this process gets (telemetry adds its own at start, before any server is built). */
  private static readonly processInterceptors: ServerInterceptor[] = [];

  static addInterceptors(...interceptors: ServerInterceptor[]): void {
    ServiceServer.processInterceptors.push(...interceptors);
  }

  private readonly server: Server;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private readonly serviceNames: string[] = [];
  private reflected: PackageDefinition = {};
  private boundPort: number | undefined;
  private shutdownPromise: Promise<void> | undefined;

  constructor(
    private readonly config: ServerConfig,
    private readonly logger: Logger,
  ) {
    const keepalive = config.keepalive ?? KEEPALIVE_DEFAULTS;
    const maxConnectionAgeMs = config.maxConnectionAgeMs ?? DEFAULT_MAX_CONNECTION_AGE_MS;
    this.server = new Server({
      'grpc.max_receive_message_length': config.maxMessageBytes,
      'grpc.max_send_message_length': config.maxMessageBytes,
      // The server pings each client too, so a vanished client's calls end within seconds instead of holding
      // a drain open until its deadline.
      'grpc.keepalive_time_ms': keepalive.timeMs,
      'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
      // Accept pings at least as often as the mesh's own clients send them (SDK: 30 s, gateway: keepalive.timeMs),
      // even between calls, so that no client is sent GOAWAY too_many_pings (C-core's default allows one ping per
      // 5 minutes without data; grpc-js does not police pings, but peers that read this option do).
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_recv_ping_interval_without_data_ms': Math.min(5_000, keepalive.timeMs),
      // Calls in flight on an aged connection are never cut (grpc-js's grace defaults to unlimited): streams too.
      ...(maxConnectionAgeMs > 0 && { 'grpc.max_connection_age_ms': maxConnectionAgeMs }),
      interceptors: [...ServiceServer.processInterceptors],
    });
  }

  /** Registers a service; `packageDefinition` feeds reflection, `serviceName` the health check. */
  addService(
    serviceName: string,
    definition: ServiceDefinition,
    implementation: UntypedServiceImplementation,
    packageDefinition: PackageDefinition,
  ): void {
    this.server.addService(definition, implementation);
    this.serviceNames.push(serviceName);
    this.reflected = { ...this.reflected, ...packageDefinition };
    this.health.setStatus(serviceName, 'NOT_SERVING');
  }

  /** Binds and starts; resolves with the port (useful when configured as 0). Health stays NOT_SERVING. */
  async start(): Promise<number> {
    this.health.addToServer(this.server);
    const healthDefinition = loadSync(healthProtoPath, { keepCase: true });
    new ReflectionService({ ...this.reflected, ...healthDefinition }).addToServer(this.server);
    const { host, port, portVariable } = this.config;
    const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    await assertPortFree(host, port, portVariable);
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(address, serverCredentials(this.config.tls), (error, boundPort) => {
        if (!error) resolve(boundPort);
        // Taken between the probe and the bind.
        else if (error.message.includes('EADDRINUSE')) reject(new PortInUseError(port, portVariable));
        else reject(new Error(`cannot listen on ${address}: ${error.message}`));
      });
    });
    // The launcher and tests read this line to learn the port.
    const tls = this.config.tls ? (this.config.tls.ca ? 'mutual' : 'server') : 'off';
    this.logger.info('listening', { host: this.config.host, port: this.boundPort, services: this.serviceNames, tls });
    return this.boundPort;
  }

  get port(): number | undefined {
    return this.boundPort;
  }

  /** Sets the status of the whole server ("") and of every registered service. */
  setServing(serving: boolean): void {
    const value: ServingStatus = serving ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', value);
    for (const name of this.serviceNames) this.health.setStatus(name, value);
    this.logger.info(serving ? 'serving' : 'not serving', { port: this.boundPort });
  }

  /** Reports the health of a name that is not one of this server's services (e.g. a mirrored downstream). */
  setHealth(name: string, value: ServingStatus): void {
    this.health.setStatus(name, value);
  }

  /**
   * Idempotent. Health goes NOT_SERVING at once; new calls are still taken for `shutdownGraceMs` (load
   * balancers need that long to stop routing here); then no new calls, in-flight ones get `drainTimeoutMs`
   * to finish, and whatever is left is cancelled.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.runShutdown();
    return this.shutdownPromise;
  }

  private async runShutdown(): Promise<void> {
    this.setServing(false);
    if (this.config.shutdownGraceMs > 0) await sleep(this.config.shutdownGraceMs);
    const drained = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.config.drainTimeoutMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!drained) {
      this.logger.warn('drain timeout: cancelling the calls still in flight', { drainTimeoutMs: this.config.drainTimeoutMs });
      this.server.forceShutdown();
    }
    this.logger.info('stopped');
  }
}

/**
 * A taken port found before grpc-js tries it: grpc-js would log its own error line to stderr first ("No address
 * added out of total 1 resolved"), which says nothing about the port. Port 0 is never taken.
 */
function assertPortFree(host: string, port: number, portVariable: string | undefined): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    // Any other failure (a host that is not ours, a privileged port) is left for the real bind to report.
    probe.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? reject(new PortInUseError(port, portVariable)) : resolve()));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

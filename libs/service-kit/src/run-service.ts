import { isConfigError, parseConfig, type EnvReader } from './env-config';
import { createLogger, type Logger } from './logger';
import type { ServerConfig } from './server-config';
import { PortInUseError } from './service-server';

/**
 * Time a service gets, after its server has drained, to release what it holds (the model service: its batches,
 * sessions and ONNX Runtime worker, within WORKER_CLOSE_WAIT_MS; every service: its telemetry's last export) before
 * the process exits anyway.
 */
export const RELEASE_ALLOWANCE_MS = 5_000;

/**
 * The latest a service exits after SIGTERM: its grace, its drain timeout, then RELEASE_ALLOWANCE_MS; past it the
 * process exits with code 1 whatever is still running. An orchestrator's grace period (Kubernetes'
 * terminationGracePeriodSeconds, less the preStop hook's time) must exceed it, or its SIGKILL ends the shutdown.
 */
export function shutdownDeadlineMs(server: Pick<ServerConfig, 'shutdownGraceMs' | 'drainTimeoutMs'>): number {
  return server.shutdownGraceMs + server.drainTimeoutMs + RELEASE_ALLOWANCE_MS;
}

/**
 * How long a service started by a launcher may take to stop once the launcher is gone: whatever killed the
 * launcher (SIGKILL, a supervisor's group kill, a closed terminal) expects its services gone within 2 s.
 */
const ORPHANED_SHUTDOWN_MS = 1_500;

/** `node main.js --check-config`: parse the configuration, report it as a start would, and exit without serving. */
export const CHECK_CONFIG_FLAG = '--check-config';

export interface RunningService {
  shutdown(): Promise<void>;
}

/**
 * The frame of every `main.ts`: parse the configuration once (a bad value stops the process with exit code 2
 * and a message naming the variable), start, then stop in order on SIGTERM or SIGINT. A second signal forces
 * the exit. A port already in use also exits with code 2 and a one-line message. Started by a launcher with an
 * IPC channel (`npm start`, the tests), the service also stops, within ORPHANED_SHUTDOWN_MS, when that channel
 * closes: the launcher has died, however it was killed. Without a channel (a container) nothing changes.
 */
export function runService<Config extends { readonly server: ServerConfig }>(
  service: string,
  readConfig: (env: EnvReader) => Config,
  start: (config: Config, logger: Logger) => Promise<RunningService>,
): void {
  let config: Config;
  try {
    config = parseConfig(process.env, readConfig);
  } catch (error) {
    process.stderr.write(`${service}: ${isConfigError(error) ? error.message : String(error)}\n`);
    process.exit(2);
  }
  if (process.argv.includes(CHECK_CONFIG_FLAG)) process.exit(0);
  const logger = createLogger(service, config.server.logLevel);
  process.on('uncaughtException', (error) => {
    logger.error('uncaught exception', { error });
    process.exit(1);
  });

  let running: RunningService | undefined;
  let stopping = false;
  const stop = (reason: string, limitMs: number) => {
    if (stopping) {
      logger.warn('second signal: exiting now', { signal: reason });
      process.exit(1);
    }
    stopping = true;
    logger.info('shutting down', { signal: reason });
    setTimeout(() => {
      logger.error('shutdown did not finish in time: exiting', { limitMs });
      process.exit(1);
    }, limitMs).unref();
    running!.shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('shutdown failed', { error });
        process.exit(1);
      },
    );
  };
  if (process.channel) {
    // The launcher was the only reader of stdout and stderr: once it is gone, a log line must not crash the
    // shutdown with EPIPE.
    for (const stream of [process.stdout, process.stderr]) stream.on('error', ignoreBrokenPipe);
    process.once('disconnect', () => {
      // Still starting: nothing is served yet, so nothing needs draining.
      if (!running) process.exit(1);
      if (!stopping) stop('launcher gone', ORPHANED_SHUTDOWN_MS);
      // Already draining after the launcher's SIGTERM (a supervisor's SIGTERM, then SIGKILL): the drain that
      // had grace + drain timeout now has what is left of ORPHANED_SHUTDOWN_MS.
      else setTimeout(() => process.exit(1), ORPHANED_SHUTDOWN_MS).unref();
    });
  }

  start(config, logger).then(
    (started) => {
      running = started;
      // The server drains within grace + drain timeout; this bounds whatever the service releases after it
      // (models, worker threads), so an orchestrator's kill is never what ends the process.
      const limitMs = shutdownDeadlineMs(config.server);
      process.on('SIGTERM', (signal) => stop(signal, limitMs));
      process.on('SIGINT', (signal) => stop(signal, limitMs));
    },
    (error: unknown) => {
      if (error instanceof PortInUseError) {
        process.stderr.write(`${service}: ${error.message}\n`);
        process.exit(2);
      }
      logger.error('failed to start', { error });
      process.exit(1);
    },
  );
}

function ignoreBrokenPipe(error: NodeJS.ErrnoException): void {
  if (error.code !== 'EPIPE') throw error;
}

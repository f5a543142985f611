import { EnvReader, isConfigError } from './env-config';
import { createLogger, type Logger } from './logger';
import type { ServerConfig } from './server-config';

/** Time a service gets, after its server has drained, to release what it holds before the process exits anyway. */
const RELEASE_ALLOWANCE_MS = 5_000;

export interface RunningService {
  shutdown(): Promise<void>;
}

/**
 * The frame of every `main.ts`: parse the configuration once (a bad value stops the process with exit code 2
 * and a message naming the variable), start, then stop in order on SIGTERM or SIGINT. A second signal forces
 * the exit.
 */
export function runService<Config extends { readonly server: ServerConfig }>(
  service: string,
  readConfig: (env: EnvReader) => Config,
  start: (config: Config, logger: Logger) => Promise<RunningService>,
): void {
  let config: Config;
  try {
    const env = new EnvReader(process.env);
    config = readConfig(env);
    env.done();
  } catch (error) {
    process.stderr.write(`${service}: ${isConfigError(error) ? error.message : String(error)}\n`);
    process.exit(2);
  }
  const logger = createLogger(service, config.server.logLevel);
  process.on('uncaughtException', (error) => {
    logger.error('uncaught exception', { error });
    process.exit(1);
  });
  start(config, logger).then(
    (running) => {
      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) {
          logger.warn('second signal: exiting now', { signal });
          process.exit(1);
        }
        stopping = true;
        logger.info('shutting down', { signal });
        // The server drains within grace + drain timeout; this bounds whatever the service releases after it
        // (models, worker threads), so an orchestrator's kill is never what ends the process.
        const limitMs = config.server.shutdownGraceMs + config.server.drainTimeoutMs + RELEASE_ALLOWANCE_MS;
        setTimeout(() => {
          logger.error('shutdown did not finish in time: exiting', { limitMs });
          process.exit(1);
        }, limitMs).unref();
        running.shutdown().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error('shutdown failed', { error });
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    },
    (error: unknown) => {
      logger.error('failed to start', { error });
      process.exit(1);
    },
  );
}

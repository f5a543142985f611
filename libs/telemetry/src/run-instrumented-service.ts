import {
  runService,
  ServiceServer,
  type EnvReader,
  type Logger,
  type RunningService,
  type ServerConfig,
  type ServiceName,
} from '@inference-mesh/service-kit';
import { serverTelemetryInterceptor } from './server-interceptor';
import { startTelemetry } from './sdk';
import { readTelemetryConfig, type TelemetryConfig } from './telemetry-config';

/**
 * `runService` with OpenTelemetry: the telemetry settings are parsed with the service's own (a bad value stops
 * the process the same way), the SDK starts before the service builds anything, every gRPC server of the process
 * gets the telemetry interceptor, and spans still buffered are flushed after the service has stopped.
 */
export function runInstrumentedService<Config extends { readonly server: ServerConfig }>(
  service: ServiceName,
  readConfig: (env: EnvReader) => Config,
  start: (config: Config, logger: Logger) => Promise<RunningService>,
): void {
  runService(
    service,
    (env): Config & { readonly telemetry: TelemetryConfig } => ({ ...readConfig(env), telemetry: readTelemetryConfig(env, service) }),
    async (config, logger) => {
      const telemetry = await startTelemetry(config.telemetry, { host: config.server.host }, logger);
      if (config.telemetry.enabled) ServiceServer.addInterceptors(serverTelemetryInterceptor());
      let running: RunningService;
      try {
        running = await start(config, logger);
      } catch (error) {
        await telemetry.shutdown();
        throw error;
      }
      return {
        shutdown: async () => {
          try {
            await running.shutdown();
          } finally {
            await telemetry.shutdown();
          }
        },
      };
    },
  );
}

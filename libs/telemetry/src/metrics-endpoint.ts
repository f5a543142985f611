import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { Logger } from '@inference-mesh/service-kit';
import { createServer, type Server } from 'node:http';

export const METRICS_PATH = '/metrics';

export interface MetricsEndpoint {
  /** The bound port; undefined when it could not listen. */
  readonly port: number | undefined;
  close(): Promise<void>;
}

/**
 * Serves the exporter's /metrics on our own HTTP server rather than the exporter's, so that port 0 works (the
 * bound port is logged, as the gRPC one is) and a port already taken is an error log line, not a crash: metrics
 * are not worth refusing inference for, and the operator sees the reason.
 */
export async function serveMetrics(exporter: PrometheusExporter, host: string, port: number, logger: Logger): Promise<MetricsEndpoint> {
  const server: Server = createServer((request, response) => {
    if (request.method === 'GET' && new URL(request.url ?? '/', 'http://metrics').pathname === METRICS_PATH) {
      exporter.getMetricsRequestHandler(request, response);
    } else {
      response.writeHead(404).end(`not found: metrics are at ${METRICS_PATH}\n`);
    }
  });
  // A scrape is the only client; do not let it keep the process alive at exit.
  server.unref();
  const bound = await new Promise<number | undefined>((resolve) => {
    server.once('error', (error) => {
      logger.error('metrics endpoint cannot listen: serving without /metrics', { host, port, error });
      resolve(undefined);
    });
    server.listen(port, host, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
  if (bound !== undefined) logger.info('metrics listening', { host, port: bound, path: METRICS_PATH });
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        if (bound === undefined) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

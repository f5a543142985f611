import { PipelineClient } from '@inference-mesh/client';
import { SERVICE_NAMES } from '@inference-mesh/protos';
import { ServiceServer, type Logger, type RunningService } from '@inference-mesh/service-kit';
import { clientTelemetryInterceptor } from '@inference-mesh/telemetry';
import type { QueueWorkerConfig } from './config';
import { QueueWorker } from './worker';

/**
 * The grpc.health.v1 name that is SERVING only while the worker is connected to the broker and consuming: the
 * readiness probe's. The server's own "" is SERVING while the process runs (liveness): a worker waiting for its
 * broker is not stuck, and restarting it would not bring the broker back.
 */
const BROKER_HEALTH_SERVICE = SERVICE_NAMES.queueWorkerBroker;

/**
 * The worker with its probes: a gRPC server carrying only health and reflection, the gateway client, the worker
 * (which connects in the background). Shutdown: readiness off, the worker stops consuming and drains within
 * IMESH_DRAIN_TIMEOUT_MS, then the health server and the gateway client close.
 */
export async function startQueueWorkerService(config: QueueWorkerConfig, logger: Logger): Promise<RunningService> {
  const server = new ServiceServer(config.server, logger);
  await server.start();
  server.setHealth(BROKER_HEALTH_SERVICE, 'NOT_SERVING');
  server.setServing(true);
  // The telemetry interceptor: each Classify call carries the delivery's trace on, and is timed as rpc.client.duration.
  const client = new PipelineClient({ target: config.gatewayTarget, defaultDeadlineMs: config.classifyDeadlineMs, interceptors: [clientTelemetryInterceptor()] });
  const worker = new QueueWorker(config, client, logger, (state) => server.setHealth(BROKER_HEALTH_SERVICE, state === 'running' ? 'SERVING' : 'NOT_SERVING'));
  void worker.start();
  return {
    shutdown: async () => {
      server.setHealth(BROKER_HEALTH_SERVICE, 'NOT_SERVING');
      try {
        await worker.stop();
      } finally {
        await server.shutdown();
        client.close();
      }
    },
  };
}

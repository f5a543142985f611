import { DEFAULT_AMQP_URL, DEFAULT_QUEUE_NAME, DEFAULT_RETRY_POLICY, deadLetterQueueName, redactUrl } from '@inference-mesh/client/queue';
import { readServerConfig, type EnvReader, type ServerConfig } from '@inference-mesh/service-kit';
import type { RetryPolicy } from './retry-policy';

export interface QueueWorkerConfig {
  /**
   * IMESH_QUEUE_WORKER_PORT (50055): grpc.health.v1 only, for the probes (server.ts says what each name reports);
   * IMESH_DRAIN_TIMEOUT_MS: on SIGTERM, how long messages in flight may take to finish and be acked; then the
   * connection is closed and the broker redelivers them. Log level, TLS and the rest as every service.
   */
  readonly server: ServerConfig;
  /** IMESH_AMQP_URL: the broker, `amqp://user:password@host:port/vhost`. */
  readonly amqpUrl: string;
  /** IMESH_QUEUE_NAME: the durable queue requests are consumed from. */
  readonly queueName: string;
  /** `<queue>.dead`: where messages that can never succeed go, with `x-imesh-reason` and `x-imesh-grpc-status`. */
  readonly deadLetterQueueName: string;
  /**
   * IMESH_QUEUE_PREFETCH: unacked messages the broker hands this worker at once, all classified concurrently, so
   * that the gateway's coalescing sees batches.
   */
  readonly prefetch: number;
  /** IMESH_GATEWAY_TARGET: the gateway's PipelineService, a gRPC target. */
  readonly gatewayTarget: string;
  /** IMESH_CLASSIFY_DEADLINE_MS: deadline of each message's Classify call. */
  readonly classifyDeadlineMs: number;
  /**
   * IMESH_RETRY_MAX_ATTEMPTS, IMESH_RETRY_INITIAL_DELAY_MS, IMESH_RETRY_MAX_DELAY_MS: transient failures
   * (UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ...) are retried through delay queues with doubling waits,
   * then dead-lettered (retry-policy.ts).
   */
  readonly retry: RetryPolicy;
  /**
   * IMESH_RECONNECT_INITIAL_DELAY_MS, IMESH_RECONNECT_MAX_DELAY_MS: after losing the broker, the wait before each
   * attempt to connect again, doubling, capped; it tries until stopped.
   */
  readonly reconnect: { readonly initialDelayMs: number; readonly maxDelayMs: number };
}

export function readQueueWorkerConfig(env: EnvReader): QueueWorkerConfig {
  const amqpUrl = env.string('IMESH_AMQP_URL', DEFAULT_AMQP_URL);
  if (!/^amqps?:\/\//.test(amqpUrl)) env.fail(`IMESH_AMQP_URL=${JSON.stringify(redactUrl(amqpUrl))}: expected an amqp:// or amqps:// URL`);
  const queueName = env.string('IMESH_QUEUE_NAME', DEFAULT_QUEUE_NAME);
  if (queueName.startsWith('amq.')) env.fail(`IMESH_QUEUE_NAME=${JSON.stringify(queueName)}: names starting with "amq." are reserved by the broker`);
  if (Buffer.byteLength(queueName) > 250) env.fail('IMESH_QUEUE_NAME: at most 250 bytes (255 with ".dead")');
  return {
    server: readServerConfig(env, 'queue-worker'),
    amqpUrl,
    queueName,
    deadLetterQueueName: deadLetterQueueName(queueName),
    prefetch: env.integer('IMESH_QUEUE_PREFETCH', 64, { min: 1, max: 65_535 }),
    gatewayTarget: env.string('IMESH_GATEWAY_TARGET', '127.0.0.1:50051'),
    classifyDeadlineMs: env.integer('IMESH_CLASSIFY_DEADLINE_MS', 30_000, { min: 1, max: 3_600_000 }),
    retry: readRetryPolicy(env),
    reconnect: readReconnect(env),
  };
}

function readRetryPolicy(env: EnvReader): RetryPolicy {
  const maxAttempts = env.integer('IMESH_RETRY_MAX_ATTEMPTS', DEFAULT_RETRY_POLICY.maxAttempts, { min: 1, max: 100 });
  const initialDelayMs = env.integer('IMESH_RETRY_INITIAL_DELAY_MS', DEFAULT_RETRY_POLICY.initialDelayMs, { min: 1, max: 3_600_000 });
  const maxDelayMs = env.integer('IMESH_RETRY_MAX_DELAY_MS', DEFAULT_RETRY_POLICY.maxDelayMs, { min: 1, max: 3_600_000 });
  if (initialDelayMs > maxDelayMs) env.fail(`IMESH_RETRY_INITIAL_DELAY_MS (${initialDelayMs}) exceeds IMESH_RETRY_MAX_DELAY_MS (${maxDelayMs})`);
  return { maxAttempts, initialDelayMs, maxDelayMs };
}

function readReconnect(env: EnvReader): QueueWorkerConfig['reconnect'] {
  const initialDelayMs = env.integer('IMESH_RECONNECT_INITIAL_DELAY_MS', 200, { min: 1, max: 600_000 });
  const maxDelayMs = env.integer('IMESH_RECONNECT_MAX_DELAY_MS', 10_000, { min: 1, max: 600_000 });
  if (initialDelayMs > maxDelayMs) env.fail(`IMESH_RECONNECT_INITIAL_DELAY_MS (${initialDelayMs}) exceeds IMESH_RECONNECT_MAX_DELAY_MS (${maxDelayMs})`);
  return { initialDelayMs, maxDelayMs };
}


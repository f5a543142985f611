/**
 * Where things are on the broker: the defaults the worker and the producers share (IMESH_AMQP_URL,
 * IMESH_QUEUE_NAME), the queues named after the request queue, and the broker URL as it may be shown.
 */
export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';
export const DEFAULT_QUEUE_NAME = 'imesh.classify';

/**
 * How the worker declares the request queue; a producer declares it the same way (a second declaration with other
 * arguments fails with PRECONDITION_FAILED), so that it can publish before any worker has started.
 */
export const REQUEST_QUEUE_OPTIONS = { durable: true } as const;

/** Where messages that can never succeed go, with `x-imesh-reason` and `x-imesh-grpc-status`. */
export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead`;
}

/**
 * Retries of transient failures through delay queues: `<queue>.retry.<delay>ms`, a queue nobody consumes whose
 * `x-message-ttl` is that delay and whose dead-letter target is the request queue again. One queue per delay rather
 * than a per-message TTL on one queue: RabbitMQ expires messages only at the head of a queue, so a long delay ahead
 * would hold back every shorter one behind it.
 */
export interface RetryPolicy {
  /** Attempts in all, the first included; 1: no retries. */
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/** IMESH_RETRY_MAX_ATTEMPTS, IMESH_RETRY_INITIAL_DELAY_MS, IMESH_RETRY_MAX_DELAY_MS when unset. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 5, initialDelayMs: 1_000, maxDelayMs: 30_000 };

/** The wait after failed attempt `attempt` (1-based): doubling from initialDelayMs, capped at maxDelayMs. */
export function retryDelayMs(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt - 1, 30));
}

export function retryQueueName(queue: string, delayMs: number): string {
  return `${queue}.retry.${delayMs}ms`;
}

/** Every delay queue the policy uses, with its TTL. */
export function retryQueues(queue: string, policy: RetryPolicy): { readonly name: string; readonly delayMs: number }[] {
  const delays = new Set<number>();
  for (let attempt = 1; attempt < policy.maxAttempts; attempt++) delays.add(retryDelayMs(policy, attempt));
  return [...delays].map((delayMs) => ({ name: retryQueueName(queue, delayMs), delayMs }));
}

/** The URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  return url.replace(/^(amqps?:\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

/**
 * Retries of transient failures through delay queues: a message whose Classify call failed with UNAVAILABLE,
 * RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED or CANCELLED is published to `<queue>.retry.<delay>ms`, a queue
 * nobody consumes whose `x-message-ttl` is that delay and whose dead-letter target is the request queue again, with
 * the attempts so far in the header `x-imesh-attempts`; after `maxAttempts` it is dead-lettered with the last status.
 * One queue per delay rather than a per-message TTL on one queue: RabbitMQ expires messages only at the head of a
 * queue, so a long delay ahead would hold back every shorter one behind it.
 */
export interface RetryPolicy {
  /** Attempts in all, the first included; 1: no retries. */
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export const ATTEMPTS_HEADER = 'x-imesh-attempts';

/** The wait after failed attempt `attempt` (1-based): doubling from initialDelayMs, capped at maxDelayMs. */
export function retryDelayMs(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt - 1, 30));
}

export function retryQueueName(queue: string, delayMs: number): string {
  return `${queue}.retry.${delayMs}ms`;
}

/** Every delay queue the policy uses, with its TTL, to declare at start. */
export function retryQueues(queue: string, policy: RetryPolicy): { readonly name: string; readonly delayMs: number }[] {
  const delays = new Set<number>();
  for (let attempt = 1; attempt < policy.maxAttempts; attempt++) delays.add(retryDelayMs(policy, attempt));
  return [...delays].map((delayMs) => ({ name: retryQueueName(queue, delayMs), delayMs }));
}

/** Failed attempts so far, from the header; anything unreadable counts as none. */
export function attemptsOf(headers: Readonly<Record<string, unknown>> | undefined): number {
  const value = Number(headers?.[ATTEMPTS_HEADER] ?? 0);
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}

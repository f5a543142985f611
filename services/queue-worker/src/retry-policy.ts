/**
 * Retries of transient failures through delay queues: a message whose Classify call failed with UNAVAILABLE,
 * RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED or CANCELLED is published to `<queue>.retry.<delay>ms` with the
 * attempts so far in the header `x-imesh-attempts`; after `maxAttempts` it is dead-lettered with the last status.
 * The queue names and delays live in the SDK's queue module, which `imesh queue stats` reads them from too.
 */
import { ATTEMPTS_HEADER } from '@inference-mesh/client/queue';

export { ATTEMPTS_HEADER, retryDelayMs, retryQueueName, retryQueues, type RetryPolicy } from '@inference-mesh/client/queue';

/** Failed attempts so far, from the header; anything unreadable counts as none. */
export function attemptsOf(headers: Readonly<Record<string, unknown>> | undefined): number {
  const value = Number(headers?.[ATTEMPTS_HEADER] ?? 0);
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}

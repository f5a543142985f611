import type { ClassifyResult } from '../types';

/**
 * Why a submission failed: the worker refused it (dead-lettered: `code` says why), the broker refused it, no answer
 * in time, the caller gave up, the client closed.
 */
export type QueueSubmitFailure = 'refused' | 'nacked' | 'timeout' | 'aborted' | 'closed';

export class QueueSubmitError extends Error {
  override readonly name = 'QueueSubmitError';
  /** For `refused`: the gRPC status code name of the worker's answer (INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, ...). */
  readonly code: string | undefined;

  constructor(
    readonly reason: QueueSubmitFailure,
    message: string,
    options?: { cause?: unknown; code?: string },
  ) {
    super(message, options);
    this.code = options?.code;
  }
}

export function isQueueSubmitError(error: unknown): error is QueueSubmitError {
  return error instanceof QueueSubmitError;
}

interface Pending {
  resolve(results: readonly ClassifyResult[]): void;
  reject(error: QueueSubmitError): void;
}

/**
 * The requests waiting for their result, by correlation id. The first result of an id settles it and removes it;
 * delivery is at least once, so a second result of the same id (or one that came after its timeout) is counted and
 * dropped.
 */
export class PendingReplies {
  private readonly pending = new Map<string, Pending>();
  private dropped = 0;

  get size(): number {
    return this.pending.size;
  }

  /** Results that matched no waiting request: duplicates, and results that came after their request gave up. */
  get droppedResults(): number {
    return this.dropped;
  }

  /**
   * Waits for the result of `correlationId`: rejects after `timeoutMs` (undefined: no limit) or when `signal` aborts.
   * Register before publishing: a result can come before the publish's confirm does.
   */
  wait(correlationId: string, options: { readonly timeoutMs?: number; readonly signal?: AbortSignal }): Promise<readonly ClassifyResult[]> {
    const { timeoutMs, signal } = options;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => this.fail(correlationId, new QueueSubmitError('aborted', `request ${correlationId} aborted: ${abortReason(signal!)}`));
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(correlationId);
      };
      this.pending.set(correlationId, {
        resolve: (results) => (done(), resolve(results)),
        reject: (error) => (done(), reject(error)),
      });
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () =>
            this.fail(
              correlationId,
              new QueueSubmitError('timeout', `no result for request ${correlationId} within ${timeoutMs} ms (is a queue-worker running?)`),
            ),
          timeoutMs,
        );
      }
    });
  }

  /**
   * An answer came, results or the worker's refusal: settles its request; returns false when none was waiting (a
   * duplicate, or too late).
   */
  settle(correlationId: string, answer: readonly ClassifyResult[] | QueueSubmitError): boolean {
    const pending = this.pending.get(correlationId);
    if (!pending) {
      this.dropped++;
      return false;
    }
    if (answer instanceof QueueSubmitError) pending.reject(answer);
    else pending.resolve(answer);
    return true;
  }

  fail(correlationId: string, error: QueueSubmitError): void {
    this.pending.get(correlationId)?.reject(error);
  }

  failAll(error: QueueSubmitError): void {
    for (const pending of [...this.pending.values()]) pending.reject(error);
  }
}

function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : String(reason ?? 'aborted');
}

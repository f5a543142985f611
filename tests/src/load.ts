import { isPipelineError, type ClassifyResponse, type PipelineClient } from '@inference-mesh/client';

/** One request's outcome, with when it was sent and answered (epoch ms). */
export interface Outcome {
  readonly startMs: number;
  readonly endMs: number;
  readonly ok: boolean;
  readonly code?: string;
  readonly message?: string;
  readonly response?: ClassifyResponse;
}

export interface LoadOptions {
  /** Requests in flight at once (one loop each). */
  readonly concurrency: number;
  readonly texts?: readonly string[];
  readonly deadlineMs?: number;
  /** Pause of each loop between its requests. Default 0. */
  readonly pauseMs?: number;
  /** The loops stop on their own after this long, should a test never stop them. Default 2 minutes. */
  readonly maxRunMs?: number;
}

const DEFAULT_TEXTS = ['a gorgeous, witty, seductive movie.', 'an ugly, boring waste of two hours.'];

/**
 * Steady load on the gateway: `concurrency` loops, each sending a request as soon as its last one is answered,
 * until stopped. Every outcome is kept, so a test can count and time what happened around a fault. A test holds
 * it with `await using`, so that it stops however the test ends: a load left running after a failed assertion
 * keeps the process busy (stop is idempotent, so stopping it earlier for the figures is fine).
 *
 * Not tool-kit's closed-loop generator: that one measures a window (warm-up, rates, percentiles, CPU); this one
 * keeps a timeline of every outcome around a fault, for the resilience tests to count what failed and when.
 */
export class SteadyLoad implements AsyncDisposable {
  readonly outcomes: Outcome[] = [];
  private running = true;
  private readonly loops: Promise<void>[];
  readonly startedMs = Date.now();

  constructor(
    private readonly client: PipelineClient,
    private readonly options: LoadOptions,
  ) {
    this.loops = Array.from({ length: options.concurrency }, () => this.loop());
  }

  private async loop(): Promise<void> {
    const texts = this.options.texts ?? DEFAULT_TEXTS;
    const stopAtMs = this.startedMs + (this.options.maxRunMs ?? 120_000);
    while (this.running && Date.now() < stopAtMs) {
      const startMs = Date.now();
      try {
        const response = await this.client.classify(texts, { deadlineMs: this.options.deadlineMs ?? 10_000 });
        const ok = response.results.length === texts.length && response.results.every((r) => r.label === 'positive' || r.label === 'negative');
        this.outcomes.push({ startMs, endMs: Date.now(), ok, response, ...(!ok && { code: 'BAD_ANSWER', message: JSON.stringify(response.results) }) });
      } catch (error) {
        const code = isPipelineError(error) ? error.codeName : 'THROWN';
        const message = isPipelineError(error) ? error.details : String(error);
        this.outcomes.push({ startMs, endMs: Date.now(), ok: false, code, message });
      }
      // A call that fails at once (the gateway gone, its channel closed) settles without any I/O: without a turn
      // of the event loop here, the loops would starve everything else, timers and mocha included, for good.
      if (this.options.pauseMs) await new Promise((resolve) => setTimeout(resolve, this.options.pauseMs));
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  get succeeded(): number {
    return this.outcomes.filter((o) => o.ok).length;
  }

  /** Resolves once `count` more requests have succeeded (or rejects after `timeoutMs`). */
  async waitForSuccesses(count: number, timeoutMs = 30_000): Promise<void> {
    const target = this.succeeded + count;
    const deadline = Date.now() + timeoutMs;
    while (this.succeeded < target) {
      if (Date.now() > deadline) throw new Error(`only ${this.succeeded} of ${target} requests succeeded within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Stops sending and waits for the requests in flight. Idempotent. */
  async stop(): Promise<LoadFigures> {
    this.running = false;
    await Promise.all(this.loops);
    return figures(this.outcomes, Date.now() - this.startedMs);
  }
}

export interface LoadFigures {
  readonly sent: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly ms: number;
  readonly failures: readonly Outcome[];
}

export function figures(outcomes: readonly Outcome[], ms: number): LoadFigures {
  const failures = outcomes.filter((o) => !o.ok);
  return { sent: outcomes.length, succeeded: outcomes.length - failures.length, failed: failures.length, ms, failures };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
}

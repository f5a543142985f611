export type CircuitState = 'closed' | 'open' | 'half-open';

/** How an attempt ended, as far as the downstream's health goes. */
export type AttemptOutcome =
  /** The downstream answered (with a result, or a refusal of the request itself). */
  | 'success'
  /** The downstream is unwell: unreachable, erroring, or slower than the attempt cap. */
  | 'failure'
  /** Says nothing about the downstream: the caller cancelled or its own deadline passed. */
  | 'ignored';

export interface CircuitBreakerOptions {
  readonly consecutiveFailures: number;
  readonly halfOpenAfterMs: number;
  readonly now?: () => number;
  readonly onStateChange?: (state: CircuitState) => void;
}

/** Admission to call the downstream once; hand it back through `record`. */
export interface Permit {
  /** The one trial call of a half-open circuit. */
  readonly probe: boolean;
}

const PROBE: Permit = Object.freeze({ probe: true });
const NORMAL: Permit = Object.freeze({ probe: false });

/**
 * A consecutive-failure circuit breaker for one downstream. Closed: every call goes through and `failure`s in a
 * row open it. Open: calls are refused at once until `halfOpenAfterMs` has passed; the next call is then the one
 * probe (half-open) while every other call is still refused at once. The probe's success closes the circuit, its
 * failure opens it again, and a probe that says nothing (cancelled) lets the next call probe instead.
 *
 * Written here rather than taken from cockatiel 3.2.1, whose breaker closes when a probe is cancelled, makes other
 * callers wait for the probe (losing their abort signal), and so cannot keep cancellations out of the count.
 */
export class CircuitBreaker {
  private current: CircuitState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private readonly now: () => number;

  constructor(private readonly options: CircuitBreakerOptions) {
    this.now = options.now ?? Date.now;
  }

  get state(): CircuitState {
    return this.current;
  }

  /** A permit to call the downstream, or undefined: fail fast without calling. */
  tryAcquire(): Permit | undefined {
    switch (this.current) {
      case 'closed':
        return NORMAL;
      case 'open':
        if (this.now() - this.openedAt < this.options.halfOpenAfterMs) return undefined;
        this.transition('half-open');
        this.probing = true;
        return PROBE;
      case 'half-open':
        if (this.probing) return undefined;
        this.probing = true;
        return PROBE;
    }
  }

  record(permit: Permit, outcome: AttemptOutcome): void {
    if (permit.probe) {
      this.probing = false;
      if (outcome === 'success') {
        this.failures = 0;
        this.transition('closed');
      } else if (outcome === 'failure') {
        this.open();
      }
      return;
    }
    // Calls let through before the circuit opened may finish after it did: only the probe decides then.
    if (this.current !== 'closed' || outcome === 'ignored') return;
    if (outcome === 'success') {
      this.failures = 0;
    } else if (++this.failures >= this.options.consecutiveFailures) {
      this.open();
    }
  }

  private open(): void {
    this.openedAt = this.now();
    this.failures = 0;
    this.transition('open');
  }

  private transition(state: CircuitState): void {
    if (this.current === state) return;
    this.current = state;
    this.options.onStateChange?.(state);
  }
}

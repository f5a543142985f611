/** How many retries a downstream may get, relative to the calls made to it. */
export interface RetryBudgetConfig {
  /** Tokens each call earns; one retry costs one token. 0.2: retries add at most 20% to the traffic. */
  readonly ratio: number;
  /** Tokens held at most (and at start): the retries allowed in a burst before the ratio takes over. */
  readonly burst: number;
}

export const DEFAULT_RETRY_BUDGET: RetryBudgetConfig = { ratio: 0.2, burst: 10 };

/** Integer thousandths of a token, so that five deposits of 0.2 make exactly one token. */
const SCALE = 1000;

/**
 * A token bucket per downstream (like gRPC's retryThrottling and Finagle's RetryBudget): each call deposits
 * `ratio` tokens up to `burst`, each retry withdraws one. While a downstream fails every call, calls plus
 * retries stay under (1 + ratio) times the calls, plus the burst, so retries cannot multiply the load on a
 * downstream that is already down. Not time-based: a quiet downstream keeps its burst until it is needed.
 */
export class RetryBudget {
  private readonly depositMilli: number;
  private readonly capacityMilli: number;
  private balanceMilli: number;

  constructor({ ratio, burst }: RetryBudgetConfig) {
    if (!(ratio >= 0) || !(burst >= 0)) throw new RangeError(`retry budget needs ratio >= 0 and burst >= 0 (got ${ratio}, ${burst})`);
    this.depositMilli = Math.round(ratio * SCALE);
    this.capacityMilli = Math.round(burst * SCALE);
    this.balanceMilli = this.capacityMilli;
  }

  /** A first attempt: earns the retries that may follow it, or others. */
  recordCall(): void {
    this.balanceMilli = Math.min(this.capacityMilli, this.balanceMilli + this.depositMilli);
  }

  /** Takes one retry's worth if there is one; false means: do not retry. */
  tryWithdraw(): boolean {
    if (this.balanceMilli < SCALE) return false;
    this.balanceMilli -= SCALE;
    return true;
  }

  /** Whole retries available now. */
  get available(): number {
    return Math.floor(this.balanceMilli / SCALE);
  }
}

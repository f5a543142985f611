/** One request of a bulk submission: `index` is its position in the input. */
export interface BulkItem<T> {
  readonly index: number;
  readonly request: T;
}

export type BulkOutcome<T, R> = (BulkItem<T> & { readonly result: R; readonly error?: undefined }) | (BulkItem<T> & { readonly result?: undefined; readonly error: Error });

/**
 * Runs `submit` over `requests` with at most `maxInFlight` unsettled at once and yields each outcome as it settles
 * (arrival order, with its input index). The input is pulled only when there is room, and while a pull is pending
 * settled outcomes are still yielded: a caller may hold its input back until it has consumed earlier outcomes
 * (`imesh submit` does, to print in input order) without deadlocking. A failed request is yielded with its error;
 * a failing input iterator ends the iteration with its error.
 */
export async function* boundedSubmissions<T, R>(
  requests: Iterable<T> | AsyncIterable<T>,
  submit: (request: T) => Promise<R>,
  maxInFlight: number,
): AsyncGenerator<BulkOutcome<T, R>> {
  if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1) throw new RangeError(`maxInFlight must be an integer >= 1, got ${maxInFlight}`);
  const iterator = Symbol.asyncIterator in requests ? requests[Symbol.asyncIterator]() : toAsync(requests[Symbol.iterator]());
  const settled: BulkOutcome<T, R>[] = [];
  let wake: (() => void) | undefined;
  let inFlight = 0;
  let next = 0;
  let exhausted = false;
  let pull: Promise<IteratorResult<T>> | undefined;
  const start = (request: T) => {
    const index = next++;
    inFlight++;
    submit(request).then(
      (result) => settled.push({ index, request, result }),
      (error: unknown) => settled.push({ index, request, error: error instanceof Error ? error : new Error(String(error)) }),
    ).finally(() => {
      inFlight--;
      wake?.();
    });
  };
  try {
    for (;;) {
      while (settled.length > 0) yield settled.shift()!;
      if (exhausted && inFlight === 0) return;
      if (!exhausted && inFlight < maxInFlight) pull ??= iterator.next();
      const woken = new Promise<'settled'>((resolve) => (wake = () => resolve('settled')));
      // Something may have settled while the consumer held the last outcome.
      if (settled.length > 0) continue;
      const first = await (pull ? Promise.race([pull, woken]) : woken);
      if (first === 'settled') continue;
      pull = undefined;
      if (first.done) exhausted = true;
      else start(first.value);
    }
  } finally {
    // An early break: stop reading the input (not awaited: a pull may be pending on an input that waits for this
    // consumer); requests in flight settle on their own.
    if (!exhausted) iterator.return?.()?.catch(() => undefined);
  }
}

async function* toAsync<T>(iterator: Iterator<T>): AsyncGenerator<T> {
  for (let item = iterator.next(); !item.done; item = iterator.next()) yield item.value;
}

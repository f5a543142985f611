import { status } from '@grpc/grpc-js';
import { cancelledError, isPipelineError, PipelineError } from './errors';
import type { ClassifyStream } from './classify-stream';
import type { ClassifiedText, ClassifyAllOptions, ClassifyResponse, ClassifyResult, ClassifyStreamOptions, RequestTiming } from './types';
import { checkPositiveInteger } from './wire';

export const DEFAULT_BATCH_SIZE = 32;
export const DEFAULT_MAX_IN_FLIGHT = 64;

/** One text's outcome: its result, or the server's refusal of that text alone. */
type Outcome = { readonly result: ClassifyResult; readonly timing?: RequestTiming } | { readonly error: PipelineError };

interface Batch {
  /** Index of the batch's first text in the whole input. */
  readonly firstIndex: number;
  readonly texts: readonly string[];
  readonly outcomes: Promise<Outcome[]>;
}

const IDLE = Symbol('idle');

/**
 * Classifies every text of `texts` over one stream and yields the results in input order.
 *
 * Batching: a batch takes up to `batchSize` texts, but only those the source has ready; when the source would
 * wait (a pipe, a terminal), what was gathered goes out at once, so a slow source sees its results without
 * waiting for a full batch. At most `maxInFlight` batches are unanswered; the source is read only while there
 * is room, so about `maxInFlight * batchSize` texts are held however long it is. Leaving the loop early, or the
 * signal, cancels the stream and closes the source.
 *
 * Bulk work goes on past a bad text: when the server refuses a batch for one of its texts (INVALID_ARGUMENT naming
 * `texts[i]`), that text is yielded with its own error and the rest of the batch is sent again. Any other failure
 * (the stream lost, a deadline) ends the iteration with that error.
 */
export async function* classifyAll(
  openStream: (options: ClassifyStreamOptions) => ClassifyStream,
  texts: AsyncIterable<string> | Iterable<string>,
  options: ClassifyAllOptions = {},
): AsyncGenerator<ClassifiedText, void, undefined> {
  const { batchSize = DEFAULT_BATCH_SIZE, maxInFlight = DEFAULT_MAX_IN_FLIGHT, signal, deadlineMs } = options;
  const selection = { model: options.model, version: options.version, topK: options.topK };
  checkPositiveInteger(batchSize, 'batchSize');
  checkPositiveInteger(maxInFlight, 'maxInFlight');
  const source = openSource(texts);

  // Ours aborts on the caller's signal too, and when the consumer leaves early.
  const stop = new AbortController();
  const forwardAbort = () => stop.abort(signal?.reason);
  if (signal?.aborted) stop.abort(signal.reason);
  else signal?.addEventListener('abort', forwardAbort, { once: true });

  /** The async source's next() not yet taken: kept across waits, so that no text is lost to a race. */
  let pendingNext: Promise<IteratorResult<unknown>> | undefined;
  let sourceDone = false;
  let finished = false;

  const take = (result: IteratorResult<unknown>): string | undefined => {
    if (result.done) {
      sourceDone = true;
      return undefined;
    }
    if (typeof result.value !== 'string') throw new TypeError(`texts must be strings, got ${typeof result.value}`);
    return result.value;
  };

  /** Up to `batchSize` texts the source has ready now; [] when it has none ready or is done. */
  const readAvailable = async (): Promise<string[]> => {
    const batch: string[] = [];
    if (source.kind === 'sync') {
      while (batch.length < batchSize && !sourceDone) {
        const text = take(source.iterator.next());
        if (text !== undefined) batch.push(text);
      }
      return batch;
    }
    // Texts already buffered (lines of a chunk already read) resolve in microtasks, before this macrotask; so
    // this never waits past one turn of the event loop, and needs no abort of its own.
    const idle = new Promise<typeof IDLE>((resolve) => setImmediate(resolve, IDLE));
    while (batch.length < batchSize && !sourceDone) {
      pendingNext ??= source.iterator.next();
      const result = await Promise.race([pendingNext, idle]);
      if (result === IDLE) break;
      pendingNext = undefined;
      const text = take(result);
      if (text !== undefined) batch.push(text);
    }
    return batch;
  };

  const window: Batch[] = [];
  /** Texts taken from the source so far. */
  let read = 0;
  try {
    const stream = openStream({ maxInFlight, deadlineMs, signal: stop.signal });
    for (;;) {
      if (stop.signal.aborted) throw cancelledError('classifyAll was aborted');
      while (window.length < maxInFlight && !sourceDone) {
        const batch = await readAvailable();
        if (batch.length === 0) break;
        const outcomes = classifyEach((texts) => stream.send(texts, selection), batch, read);
        // Awaited in turn below; this only keeps a failure of a batch never reached from being "unhandled".
        outcomes.catch(() => {});
        window.push({ firstIndex: read, texts: batch, outcomes });
        read += batch.length;
      }
      const head = window[0];
      if (head === undefined && sourceDone) break;
      if (source.kind === 'async' && !sourceDone && window.length < maxInFlight) {
        // The source has nothing ready: wait for it, or for the oldest batch's answer, whichever comes first.
        pendingNext ??= source.iterator.next();
        const waits: Promise<unknown>[] = [pendingNext];
        if (head) waits.push(head.outcomes.then(() => IDLE, () => IDLE));
        if ((await abortable(Promise.race(waits), stop.signal)) !== IDLE) continue;
      }
      if (head === undefined) continue;
      window.shift();
      const outcomes = await head.outcomes;
      for (let offset = 0; offset < head.texts.length; offset++) {
        yield { index: head.firstIndex + offset, text: head.texts[offset]!, ...outcomes[offset]! };
      }
    }
    await stream.close();
    finished = true;
  } finally {
    signal?.removeEventListener('abort', forwardAbort);
    if (!finished) stop.abort();
    if (!sourceDone) {
      // An async source stuck in next() (a terminal, say) would hold return() back as long: do not wait for it then.
      const closing = Promise.resolve(source.iterator.return?.()).catch(() => {});
      if (pendingNext === undefined) await closing;
    }
  }
}

/**
 * Classifies `texts` in one request; when the server refuses it for one text, that text gets the error (renamed
 * to its index in the whole input) and the others go again. Each retry drops a text: at most `texts.length`
 * requests more.
 */
async function classifyEach(
  send: (texts: readonly string[]) => Promise<ClassifyResponse>,
  texts: readonly string[],
  firstIndex: number,
): Promise<Outcome[]> {
  const outcomes = new Array<Outcome>(texts.length);
  let pending = texts.map((_, index) => index);
  while (pending.length > 0) {
    try {
      const { results, timing } = await send(pending.map((index) => texts[index]!));
      pending.forEach((index, position) => (outcomes[index] = timing ? { result: results[position]!, timing } : { result: results[position]! }));
      break;
    } catch (error) {
      const position = refusedText(error, pending.length);
      if (position === undefined) throw error;
      const index = pending[position]!;
      const { code, details } = error as PipelineError;
      outcomes[index] = { error: new PipelineError(code, details.replace(TEXT_INDEX, `texts[${firstIndex + index}]`), { cause: error }) };
      pending = pending.filter((_, at) => at !== position);
    }
  }
  return outcomes;
}

const TEXT_INDEX = /\btexts\[(\d+)\]/;

/** The position of the one text a refusal names, when it is an INVALID_ARGUMENT of the request's `texts[i]`. */
function refusedText(error: unknown, textCount: number): number | undefined {
  if (!isPipelineError(error) || error.code !== status.INVALID_ARGUMENT) return undefined;
  const match = TEXT_INDEX.exec(error.details);
  const position = match ? Number(match[1]) : NaN;
  return Number.isInteger(position) && position < textCount ? position : undefined;
}

type Source =
  | { readonly kind: 'async'; readonly iterator: AsyncIterator<unknown> }
  | { readonly kind: 'sync'; readonly iterator: Iterator<unknown> };

function openSource(texts: AsyncIterable<string> | Iterable<string>): Source {
  // A string is iterable too, one character at a time: never what the caller meant.
  if (typeof texts === 'string') throw new TypeError('texts must be an iterable of strings, not a string');
  if (typeof (texts as Partial<AsyncIterable<string>>)[Symbol.asyncIterator] === 'function') {
    return { kind: 'async', iterator: (texts as AsyncIterable<string>)[Symbol.asyncIterator]() };
  }
  if (typeof (texts as Partial<Iterable<string>>)[Symbol.iterator] === 'function') {
    return { kind: 'sync', iterator: (texts as Iterable<string>)[Symbol.iterator]() };
  }
  throw new TypeError('texts must be an iterable or an async iterable of strings');
}

/**
 * `promise`, or CANCELLED as soon as `signal` aborts. A listener added and removed per wait: racing every wait
 * against one long-lived "aborted" promise would pile a reaction onto it per wait for as long as the run lasts.
 */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  const aborted = () => cancelledError('classifyAll was aborted');
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

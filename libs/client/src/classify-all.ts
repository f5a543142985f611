import { cancelledError } from './errors';
import type { ClassifyStream } from './classify-stream';
import type { ClassifiedText, ClassifyAllOptions, ClassifyResponse, ClassifyStreamOptions } from './types';
import { checkPositiveInteger } from './wire';

export const DEFAULT_BATCH_SIZE = 32;
export const DEFAULT_MAX_IN_FLIGHT = 64;

interface Batch {
  readonly texts: readonly string[];
  readonly response: Promise<ClassifyResponse>;
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
  try {
    const stream = openStream({ maxInFlight, deadlineMs, signal: stop.signal });
    for (;;) {
      if (stop.signal.aborted) throw cancelledError('classifyAll was aborted');
      while (window.length < maxInFlight && !sourceDone) {
        const batch = await readAvailable();
        if (batch.length === 0) break;
        const response = stream.send(batch, selection);
        // Awaited in turn below; this only keeps a failure of a batch never reached from being "unhandled".
        response.catch(() => {});
        window.push({ texts: batch, response });
      }
      const head = window[0];
      if (head === undefined && sourceDone) break;
      if (source.kind === 'async' && !sourceDone && window.length < maxInFlight) {
        // The source has nothing ready: wait for it, or for the oldest batch's answer, whichever comes first.
        pendingNext ??= source.iterator.next();
        const waits: Promise<unknown>[] = [pendingNext];
        if (head) waits.push(head.response.then(() => IDLE, () => IDLE));
        if ((await abortable(Promise.race(waits), stop.signal)) !== IDLE) continue;
      }
      if (head === undefined) continue;
      window.shift();
      const { results } = await head.response;
      for (let index = 0; index < head.texts.length; index++) {
        yield { text: head.texts[index]!, result: results[index]! };
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

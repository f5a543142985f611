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

/**
 * Classifies every text of `texts` over one stream, in batches of `batchSize` with at most `maxInFlight` batches
 * unanswered, and yields the results in input order. The source is read only as the window has room, so at most
 * about `maxInFlight * batchSize` texts are held however long it is; leaving the loop early cancels the stream
 * and closes the source.
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

  let sourceDone = false;
  let nextPending = false;
  let finished = false;
  const window: Batch[] = [];
  try {
    const stream = openStream({ maxInFlight, deadlineMs, signal: stop.signal });
    for (;;) {
      while (!sourceDone && window.length < maxInFlight) {
        if (stop.signal.aborted) throw cancelledError('classifyAll was aborted');
        const batch: string[] = [];
        while (batch.length < batchSize) {
          nextPending = true;
          const next = source.kind === 'async' ? await abortable(source.iterator.next(), stop.signal) : source.iterator.next();
          nextPending = false;
          if (next.done) {
            sourceDone = true;
            break;
          }
          if (typeof next.value !== 'string') throw new TypeError(`texts must be strings, got ${typeof next.value}`);
          batch.push(next.value);
        }
        if (batch.length === 0) break;
        const response = stream.send(batch, selection);
        // Awaited in turn below; this only keeps a failure of a batch never reached from being "unhandled".
        response.catch(() => {});
        window.push({ texts: batch, response });
      }
      const head = window.shift();
      if (head === undefined) break;
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
      if (!nextPending) await closing;
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

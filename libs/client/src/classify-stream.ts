import { status, type StatusObject } from '@grpc/grpc-js';
import type { pipeline } from '@inference-mesh/protos';
import { randomBytes } from 'node:crypto';
import { PipelineError, toPipelineError } from './errors';
import type { ClassifyResponse, ModelSelection, TextInput } from './types';
import { toClassifyRequest, fromClassifyResponse } from './wire';

/** The part of grpc-js's ClientDuplexStream this module uses; a test can hand in a fake. */
export interface ClassifyStreamCall {
  write(request: pipeline.ClassifyRequest): boolean;
  end(): void;
  cancel(): void;
  on(event: 'data', listener: (response: pipeline.ClassifyResponse__Output) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'status', listener: (status: StatusObject) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  once(event: 'drain', listener: () => void): unknown;
}

interface Waiter {
  readonly textCount: number;
  readonly resolve: (response: ClassifyResponse) => void;
  readonly reject: (error: unknown) => void;
}

interface Queued extends Waiter {
  readonly id: string;
  readonly request: pipeline.ClassifyRequest;
}

/** Lifecycle: open (send allowed) -> closing (close() called; queued requests still go out) -> ended (status in). */
type StreamState = 'open' | 'closing' | 'ended';

export interface ClassifyStreamConfig {
  readonly maxInFlight: number;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Many classify requests multiplexed over one bidi `ClassifyStream` call. Each request gets an id unique on this
 * stream (a random per-stream prefix and a counter) and its response is matched by that id, so the server may
 * answer in any order. At most `maxInFlight` requests are written and unanswered; the rest wait in order, and
 * nothing more is written after `write()` returns false until the call drains. A response carrying `error`
 * rejects its own request only; a failure of the stream itself rejects every request not yet answered.
 */
export class ClassifyStream {
  private readonly call: ClassifyStreamCall;
  private readonly maxInFlight: number;
  private readonly idPrefix = randomBytes(4).toString('hex');
  private nextId = 0;
  private readonly queued: Queued[] = [];
  private readonly inFlight = new Map<string, Waiter>();
  private state: StreamState = 'open';
  private waitingForDrain = false;
  private halfClosed = false;
  /** Set once the call's status (or a local failure) is known; `null` for OK. */
  private outcome: PipelineError | null | undefined;
  private responsesEnded = false;
  private readonly ended: Promise<void>;
  private resolveEnded!: () => void;
  private rejectEnded!: (error: PipelineError) => void;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort = () => this.call.cancel();

  constructor(call: ClassifyStreamCall, config: ClassifyStreamConfig) {
    this.call = call;
    this.maxInFlight = config.maxInFlight;
    this.signal = config.signal;
    this.ended = new Promise<void>((resolve, reject) => {
      this.resolveEnded = resolve;
      this.rejectEnded = reject;
    });
    // The failure also reaches every pending send(); close() hands this promise to whoever asks.
    this.ended.catch(() => {});

    call.on('data', (response) => this.onResponse(response));
    // grpc-js emits 'error' and then 'status' for a failed call; either settles the outcome, the first wins.
    call.on('error', (error) => this.onOutcome(toPipelineError(error)));
    call.on('status', (received) => this.onOutcome(received.code === status.OK ? null : toPipelineError(received)));
    // Responses pushed just before the status may still be buffered: settle the rest only once they are read.
    call.on('end', () => this.onResponsesEnded());
    call.on('close', () => this.onResponsesEnded());

    if (this.signal?.aborted) call.cancel();
    else this.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Classifies `texts`; resolves with the response that carries this request's id. */
  send(texts: readonly TextInput[], selection: ModelSelection = {}): Promise<ClassifyResponse> {
    if (this.outcome) return Promise.reject(this.outcome);
    if (this.state !== 'open') {
      return Promise.reject(new PipelineError(status.FAILED_PRECONDITION, 'send() on a stream that is closing or ended'));
    }
    const id = `${this.idPrefix}-${this.nextId++}`;
    let request: pipeline.ClassifyRequest;
    try {
      request = toClassifyRequest(texts, selection, id);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<ClassifyResponse>((resolve, reject) => {
      this.queued.push({ id, request, textCount: texts.length, resolve, reject });
      this.pump();
    });
  }

  /**
   * Half-closes once every queued request is written; resolves when every request is answered and the server
   * ended the call with OK, rejects with the stream's failure otherwise. Idempotent.
   */
  close(): Promise<void> {
    if (this.state === 'open') {
      this.state = 'closing';
      this.pump();
    }
    return this.ended;
  }

  private pump(): void {
    while (
      this.outcome === undefined &&
      !this.waitingForDrain &&
      this.inFlight.size < this.maxInFlight &&
      this.queued.length > 0
    ) {
      const { id, request, ...waiter } = this.queued.shift()!;
      this.inFlight.set(id, waiter);
      if (!this.call.write(request)) {
        this.waitingForDrain = true;
        this.call.once('drain', () => {
          this.waitingForDrain = false;
          this.pump();
        });
      }
    }
    if (this.state === 'closing' && this.queued.length === 0 && !this.halfClosed && this.outcome === undefined) {
      this.halfClosed = true;
      this.call.end();
    }
  }

  private onResponse(response: pipeline.ClassifyResponse__Output): void {
    const waiter = this.inFlight.get(response.requestId);
    if (!waiter) {
      // Without a matching request nothing can settle it, and the request it was meant for would wait forever.
      this.onOutcome(new PipelineError(status.INTERNAL, `server answered unknown request_id "${response.requestId}"`));
      this.call.cancel();
      return;
    }
    this.inFlight.delete(response.requestId);
    try {
      waiter.resolve(fromClassifyResponse(response, waiter.textCount));
    } catch (error) {
      waiter.reject(error);
    }
    this.pump();
  }

  private onOutcome(outcome: PipelineError | null): void {
    if (this.outcome !== undefined) return;
    this.outcome = outcome;
    this.state = 'ended';
    this.signal?.removeEventListener('abort', this.onAbort);
    // Never written, so no response can come for them.
    const unsent = outcome ?? endedEarly();
    for (const waiter of this.queued.splice(0)) waiter.reject(unsent);
    this.maybeFinish();
  }

  private onResponsesEnded(): void {
    this.responsesEnded = true;
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (this.outcome === undefined || !this.responsesEnded) return;
    const failure = this.outcome ?? (this.inFlight.size > 0 ? endedEarly() : null);
    for (const waiter of this.inFlight.values()) waiter.reject(failure);
    this.inFlight.clear();
    if (failure) this.rejectEnded(failure);
    else this.resolveEnded();
  }
}

const endedEarly = () =>
  new PipelineError(status.INTERNAL, 'the server ended the stream with OK before answering every request');

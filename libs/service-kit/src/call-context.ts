import { status, type Metadata, type ServerDuplexStream, type ServerUnaryCall } from '@grpc/grpc-js';

/** What a handler knows about its call besides the request. */
export interface CallContext {
  /** Aborts when the client cancels or the call's deadline passes (reason: a TimeoutError). */
  readonly signal: AbortSignal;
  /** Absolute deadline in epoch milliseconds; Infinity when the caller set none. */
  readonly deadlineMs: number;
  readonly metadata: Metadata;
}

type AnyServerCall = ServerUnaryCall<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/**
 * Turns a server call's cancellation and deadline into one AbortSignal, the only way cancellation travels
 * inside a service. `dispose` must run when the call ends, or the deadline timer would outlive it.
 */
export function openCallContext(call: AnyServerCall): { context: CallContext; dispose: () => void } {
  const controller = new AbortController();
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  const onCancelled = () => controller.abort(abortError('AbortError', 'the caller cancelled the call'));
  call.on('cancelled', onCancelled);
  let timer: NodeJS.Timeout | undefined;
  if (Number.isFinite(deadlineMs)) {
    const abortAtDeadline = () => controller.abort(abortError('TimeoutError', 'the call\'s deadline passed'));
    const remainingMs = deadlineMs - Date.now();
    if (remainingMs <= 0) abortAtDeadline();
    else timer = setTimeout(abortAtDeadline, remainingMs);
  }
  return {
    context: { signal: controller.signal, deadlineMs, metadata: call.metadata },
    dispose: () => {
      if (timer) clearTimeout(timer);
      call.removeListener('cancelled', onCancelled);
    },
  };
}

/**
 * The status for work a call's signal stopped: DEADLINE_EXCEEDED when the call's deadline passed (the signal's
 * reason is openCallContext's TimeoutError), CANCELLED when the caller cancelled. Answering CANCELLED for a
 * deadline would reach a client whose own deadline timer has not fired yet as CANCELLED.
 */
export function abortedStatus(signal: AbortSignal): status.DEADLINE_EXCEEDED | status.CANCELLED {
  const reason: unknown = signal.reason;
  const byDeadline = typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
  return byDeadline ? status.DEADLINE_EXCEEDED : status.CANCELLED;
}

function abortError(name: 'AbortError' | 'TimeoutError', message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

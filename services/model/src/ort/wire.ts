// What crosses between the main thread and the ONNX Runtime worker (worker-thread.ts). ORT Tensor objects cannot be
// posted (their class is lost in structured cloning), so tensors travel as { type, data, dims } and are rebuilt.
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import type { ExecutionConfig } from './execution-config';
import type { ProviderChoice } from './session';

/** A tensor as posted: its ORT type, its elements (a typed array, or strings) and its shape. */
export interface WireTensor {
  readonly type: Tensor.Type;
  readonly data: Tensor['data'];
  readonly dims: readonly number[];
}

export type WireTensors = Record<string, WireTensor>;

export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

/** Main thread → worker. Every request carries an id, answered exactly once by a reply with the same id. */
export type WorkerRequest =
  | { readonly kind: 'load'; readonly id: number; readonly modelPath: string; readonly execution: ExecutionConfig }
  | { readonly kind: 'run'; readonly id: number; readonly sessionId: number; readonly feeds: WireTensors; readonly outputNames: readonly string[] }
  | { readonly kind: 'release'; readonly id: number; readonly sessionId: number };

/** Worker → main thread. `ready` comes once, unasked, when the worker has loaded onnxruntime-node. */
export type WorkerReply =
  | { readonly kind: 'ready' }
  | {
      readonly kind: 'loaded';
      readonly id: number;
      readonly sessionId: number;
      readonly inputMetadata: readonly InferenceSession.ValueMetadata[];
      readonly outputMetadata: readonly InferenceSession.ValueMetadata[];
      readonly choice: ProviderChoice;
    }
  | { readonly kind: 'ran'; readonly id: number; readonly outputs: WireTensors; readonly computeMs: number }
  | { readonly kind: 'released'; readonly id: number }
  | { readonly kind: 'failed'; readonly id: number; readonly error: WireError };

/**
 * Tensors to post, and the buffers to transfer with them. A typed array that spans its whole ArrayBuffer is
 * transferred as is (zero copy: the sender's tensor is left empty, detached); a view into a larger buffer (a slice
 * of a received gRPC message, a pooled Buffer) is first copied into a buffer of its own, which is then
 * transferred, so that the buffer it lives in stays untouched and only its own bytes travel. A buffer shared by
 * several tensors is transferred once. SharedArrayBuffer-backed data is posted as is (shared, not copied).
 */
export function toWire(tensors: Readonly<Record<string, Tensor>>): { wire: WireTensors; transfer: ArrayBuffer[] } {
  const wire: WireTensors = {};
  const transfer = new Set<ArrayBuffer>();
  for (const [name, tensor] of Object.entries(tensors)) {
    wire[name] = { type: tensor.type, data: transferable(tensor.data, transfer), dims: [...tensor.dims] };
  }
  return { wire, transfer: [...transfer] };
}

function transferable(data: Tensor['data'], transfer: Set<ArrayBuffer>): Tensor['data'] {
  if (!ArrayBuffer.isView(data)) return data; // strings: cloned
  const buffer = data.buffer;
  if (!(buffer instanceof ArrayBuffer)) return data; // SharedArrayBuffer: shared
  const whole = data.byteOffset === 0 && data.byteLength === buffer.byteLength;
  if (whole) {
    transfer.add(buffer);
    return data;
  }
  const copy = data.slice() as typeof data; // a new buffer holding exactly these elements
  transfer.add(copy.buffer as ArrayBuffer);
  return copy;
}

/** ORT tensors rebuilt from posted ones, sharing their data. */
export function fromWire(wire: WireTensors): Record<string, Tensor> {
  const tensors: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(wire)) {
    tensors[name] = new Tensor(t.type, t.data as never, t.dims);
  }
  return tensors;
}

export function toWireError(error: unknown): WireError {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: 'Error', message: String(error) };
}

export function fromWireError(error: WireError): Error {
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  if (error.stack) rebuilt.stack = error.stack;
  return rebuilt;
}

import { status } from '@grpc/grpc-js';
import type { pipeline } from '@inference-mesh/protos';
import { PipelineError } from './errors';
import type { ClassifyResponse, ClassifyResult, ModelSelection, RequestTiming, TextInput } from './types';

/**
 * Texts travel as proto `bytes`: strings are encoded here (a string handed to protobufjs for a bytes field would
 * be read as base64), bytes go as they are so that the server, not this SDK, judges their UTF-8.
 */
export function toClassifyRequest(
  texts: readonly TextInput[],
  selection: ModelSelection,
  requestId: string | undefined,
): pipeline.ClassifyRequest {
  if (!Array.isArray(texts)) throw new TypeError('texts must be an array of strings or Uint8Arrays');
  const encoded = texts.map((text, index) => {
    if (typeof text === 'string') return Buffer.from(text, 'utf8');
    if (text instanceof Uint8Array) return text;
    throw new TypeError(`texts[${index}] must be a string or a Uint8Array`);
  });
  const { model = '', version = '', topK = 0 } = selection;
  if (!Number.isInteger(topK) || topK < 0 || topK > 0xffff_ffff) {
    throw new RangeError(`topK must be an integer from 0 to 2^32-1, got ${topK}`);
  }
  return {
    requestId: requestId ?? '',
    texts: encoded,
    options: { modelName: model, modelVersion: version, topK },
  };
}

/**
 * The SDK's own result shape. A response carrying `error` (one refused request on a stream; the stream goes on)
 * throws it as a PipelineError; a result count that differs from the text count is a server bug.
 */
export function fromClassifyResponse(
  response: pipeline.ClassifyResponse__Output,
  textCount: number,
  timing: RequestTiming | undefined = response.timing ? fromTimingMessage(response.timing) : undefined,
): ClassifyResponse {
  if (response.error) throw new PipelineError(response.error.code, response.error.message);
  if (response.results.length !== textCount) {
    throw new PipelineError(
      status.INTERNAL,
      `server returned ${response.results.length} results for ${textCount} texts (request ${response.requestId})`,
    );
  }
  const results = response.results.map(fromResult);
  return timing ? { requestId: response.requestId, results, timing } : { requestId: response.requestId, results };
}

/** A stream answer's `timing` field. */
function fromTimingMessage(timing: pipeline.RequestTiming__Output): RequestTiming {
  const hop = (value: pipeline.HopTiming__Output | null) => ({ clientMs: value?.clientMs ?? 0, serverMs: value?.serverMs ?? 0 });
  return {
    totalMs: timing.totalMs,
    admissionMs: timing.admissionMs,
    coalesceMs: timing.coalesceMs,
    tokenizer: hop(timing.tokenizer),
    model: { ...hop(timing.model), queueMs: timing.modelQueueMs, computeMs: timing.modelComputeMs },
    postprocess: hop(timing.postprocess),
  };
}

/** A unary answer's imesh-timing trailer; undefined when absent or not in the expected form. */
export function parseTimingTrailer(value: unknown): RequestTiming | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const parts = new Map<string, number>();
  for (const entry of value.split(',')) {
    const [name, duration] = entry.trim().split(';dur=');
    const ms = Number(duration);
    if (name === undefined || duration === undefined || !Number.isFinite(ms)) return undefined;
    parts.set(name, ms);
  }
  const ms = (name: string) => parts.get(name) ?? 0;
  const hop = (name: string) => ({ clientMs: ms(name), serverMs: ms(`${name}.server`) });
  if (!parts.has('total')) return undefined;
  return {
    totalMs: ms('total'),
    admissionMs: ms('admission'),
    coalesceMs: ms('coalesce'),
    tokenizer: hop('tokenizer'),
    model: { ...hop('model'), queueMs: ms('model.queue'), computeMs: ms('model.compute') },
    postprocess: hop('postprocess'),
  };
}

function fromResult(result: pipeline.ClassifyResult__Output): ClassifyResult {
  return {
    label: result.label,
    score: result.score,
    scores: result.scores.map(({ label, score }) => ({ label, score })),
    model: result.modelName,
    modelVersion: result.modelVersion,
    truncated: result.truncated,
    degraded: result.degraded,
  };
}

/** grpc-js takes an absolute deadline; `Infinity` means none. */
export function deadlineFrom(deadlineMs: number | undefined, name: string): number | undefined {
  if (deadlineMs === undefined) return undefined;
  checkPositive(deadlineMs, name, { allowInfinity: true });
  return deadlineMs === Infinity ? Infinity : Date.now() + deadlineMs;
}

export function checkPositive(value: number, name: string, { allowInfinity = false } = {}): number {
  const ok = allowInfinity && value === Infinity ? true : Number.isFinite(value) && value > 0;
  if (!ok) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

export function checkPositiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

// A fake PipelineService (plus grpc.health.v1) for tests of the SDK, of the imesh CLI and of code built on the SDK.
import * as grpc from '@grpc/grpc-js';
import { loadPipelineProto, type pipeline } from '@inference-mesh/protos';
import { HealthImplementation, type ServingStatusMap } from 'grpc-health-check';

/**
 * What the fake does with a text (UTF-8):
 * - invalid UTF-8 or "" -> INVALID_ARGUMENT (`texts[i] is not valid UTF-8` / `texts[i] is empty`): the status of
 *   a unary call; on a stream, a response carrying `error`, and the stream goes on;
 * - "fail-stream" (on a stream) -> the stream ends with UNAVAILABLE "downstream gone";
 * - "sleep:N" -> answers after N ms (the longest of a request's texts wins); otherwise it answers at once;
 * - label "positive" (score 0.97314159) when the text contains "good", else "negative" (0.88123456);
 * - truncated when longer than 20 characters, degraded when it contains "degraded".
 * The model is options.modelName || "sentiment", the version options.modelVersion || "1".
 * Every answer carries FAKE_TIMING: a unary one in its imesh-timing trailer, one on a stream in its timing field.
 */
export interface FakePipelineServer {
  readonly target: string;
  /** Every request seen, unary and stream, in arrival order. */
  readonly requests: pipeline.ClassifyRequest__Output[];
  /** Request ids of stream responses, in the order they were written. */
  readonly streamAnswerOrder: string[];
  /** The most stream requests received and not yet answered at once, over all streams. */
  readonly maxStreamOutstanding: number;
  /** Streams the client cancelled. */
  readonly streamsCancelled: number;
  readonly health: HealthImplementation;
  stop(): Promise<void>;
}

/** The breakdown every answer of the fake carries (binary fractions, exact in the proto's float). */
export const FAKE_TIMING: pipeline.RequestTiming__Output = {
  totalMs: 2,
  admissionMs: 0.125,
  coalesceMs: 0,
  tokenizer: { clientMs: 0.25, serverMs: 0.125 },
  model: { clientMs: 1, serverMs: 0.75 },
  postprocess: { clientMs: 0.25, serverMs: 0.0625 },
  modelQueueMs: 0.125,
  modelComputeMs: 0.5,
};
const FAKE_TIMING_TRAILER =
  'total;dur=2.000,admission;dur=0.125,coalesce;dur=0.000,tokenizer;dur=0.250,tokenizer.server;dur=0.125,' +
  'model;dur=1.000,model.server;dur=0.750,model.queue;dur=0.125,model.compute;dur=0.500,postprocess;dur=0.250,postprocess.server;dur=0.0625';

const POSITIVE = 0.97314159;
const NEGATIVE = 0.88123456;

export async function startFakePipelineServer(healthStatuses: ServingStatusMap = {}): Promise<FakePipelineServer> {
  const server = new grpc.Server();
  const requests: pipeline.ClassifyRequest__Output[] = [];
  const streamAnswerOrder: string[] = [];
  let maxStreamOutstanding = 0;
  let streamsCancelled = 0;
  let generatedIds = 0;

  const handlers: pipeline.PipelineServiceHandlers = {
    Classify(call, callback) {
      requests.push(call.request);
      const outcome = evaluate(call.request, () => `srv-${generatedIds++}`);
      if ('error' in outcome) return callback(outcome.error);
      const trailers = new grpc.Metadata();
      trailers.set('imesh-timing', FAKE_TIMING_TRAILER);
      const timer = setTimeout(() => callback(null, outcome.response, trailers), outcome.delayMs);
      call.on('cancelled', () => clearTimeout(timer));
    },
    ClassifyStream(call) {
      let outstanding = 0;
      let halfClosed = false;
      let failed = false;
      const timers = new Set<NodeJS.Timeout>();
      const answer = (response: pipeline.ClassifyResponse) => {
        streamAnswerOrder.push(response.requestId ?? '');
        call.write(response);
        outstanding--;
        if (halfClosed && outstanding === 0) call.end();
      };
      call.on('data', (request: pipeline.ClassifyRequest__Output) => {
        if (failed) return;
        requests.push(request);
        outstanding++;
        maxStreamOutstanding = Math.max(maxStreamOutstanding, outstanding);
        if (request.texts.some((text) => text.toString() === 'fail-stream')) {
          failed = true;
          for (const timer of timers) clearTimeout(timer);
          call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'downstream gone' });
          return;
        }
        const outcome = evaluate(request, () => `srv-${generatedIds++}`);
        if ('error' in outcome) {
          const { code = grpc.status.UNKNOWN, details = '' } = outcome.error;
          return answer({ requestId: request.requestId, results: [], error: { code, message: details } });
        }
        const timed = { ...outcome.response, timing: FAKE_TIMING };
        if (outcome.delayMs === 0) return answer(timed);
        const timer = setTimeout(() => {
          timers.delete(timer);
          answer(timed);
        }, outcome.delayMs);
        timers.add(timer);
      });
      call.on('end', () => {
        halfClosed = true;
        if (outstanding === 0 && !failed) call.end();
      });
      call.on('cancelled', () => {
        streamsCancelled++;
        for (const timer of timers) clearTimeout(timer);
      });
    },
  };
  server.addService(loadPipelineProto().grpc.inference_mesh.pipeline.v1.PipelineService.service, handlers);
  const health = new HealthImplementation(healthStatuses);
  health.addToServer(server);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, boundPort) =>
      error ? reject(error) : resolve(boundPort),
    ),
  );
  return {
    target: `127.0.0.1:${port}`,
    requests,
    streamAnswerOrder,
    get maxStreamOutstanding() {
      return maxStreamOutstanding;
    },
    get streamsCancelled() {
      return streamsCancelled;
    },
    health,
    stop: () => new Promise<void>((resolve) => {
      server.forceShutdown();
      resolve();
    }),
  };
}

type Outcome =
  | { readonly error: Partial<grpc.StatusObject> }
  | { readonly response: pipeline.ClassifyResponse; readonly delayMs: number };

function evaluate(request: pipeline.ClassifyRequest__Output, generateId: () => string): Outcome {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const texts: string[] = [];
  for (const [index, bytes] of request.texts.entries()) {
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      return { error: { code: grpc.status.INVALID_ARGUMENT, details: `texts[${index}] is not valid UTF-8` } };
    }
    if (text === '') return { error: { code: grpc.status.INVALID_ARGUMENT, details: `texts[${index}] is empty` } };
    texts.push(text);
  }
  const delayMs = Math.max(0, ...texts.map((text) => Number(/^sleep:(\d+)$/.exec(text)?.[1] ?? 0)));
  const topK = request.options?.topK ?? 0;
  const results = texts.map((text): pipeline.ClassifyResult => {
    const positive = text.includes('good');
    const score = positive ? POSITIVE : NEGATIVE;
    const scores = [
      { label: positive ? 'positive' : 'negative', score },
      { label: positive ? 'negative' : 'positive', score: 1 - score },
    ];
    return {
      label: scores[0]!.label,
      score,
      scores: topK > 0 ? scores.slice(0, topK) : scores,
      modelName: request.options?.modelName || 'sentiment',
      modelVersion: request.options?.modelVersion || '1',
      truncated: text.length > 20,
      degraded: text.includes('degraded'),
    };
  });
  return { response: { requestId: request.requestId || generateId(), results }, delayMs };
}

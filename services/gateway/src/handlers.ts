import type { ServerDuplexStream } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { TIMING_TRAILER, type pipeline } from '@inference-mesh/protos';
import { openCallContext, toStatus, unaryHandler, type Logger } from '@inference-mesh/service-kit';
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { CallBudget, ClassifyPipeline } from './pipeline';
import { formatTimingTrailer, RequestTimer } from './timing';

export interface PipelineHandlerOptions {
  /** Applies to a call without a deadline, and to each request on a stream; a caller's earlier deadline wins. */
  readonly defaultDeadlineMs: number;
  readonly streamMaxInFlight: number;
}

type ClassifyStreamCall = ServerDuplexStream<pipeline.ClassifyRequest__Output, pipeline.ClassifyResponse>;

/**
 * PipelineService: Classify for one batch, ClassifyStream for many batches over one long-lived call. Every answer
 * carries where its time went: a unary one in its imesh-timing trailer, one on a stream in its `timing` field.
 */
export function createPipelineHandlers(
  classifyPipeline: ClassifyPipeline,
  options: PipelineHandlerOptions,
  logger: Logger,
): pipeline.PipelineServiceHandlers {
  const classify = async (request: pipeline.ClassifyRequest__Output, requestId: string, budget: CallBudget): Promise<pipeline.ClassifyResponse> => {
    const results = await classifyPipeline.classify(
      {
        texts: request.texts,
        modelName: request.options?.modelName ?? '',
        modelVersion: request.options?.modelVersion ?? '',
        topK: request.options?.topK ?? 0,
      },
      budget,
    );
    return { requestId, results, timing: budget.timing?.toMessage() ?? null };
  };

  return {
    Classify: unaryHandler(
      'Classify',
      logger,
      (request, context) =>
        classify(request, request.requestId || randomUUID(), {
          deadlineMs: Math.min(context.deadlineMs, Date.now() + options.defaultDeadlineMs),
          signal: context.signal,
          timing: new RequestTimer(),
        }),
      {
        // A unary answer's breakdown goes in its trailer, where a client that asks for it reads it beside the status.
        finish: ({ requestId, results, timing }, trailers) => {
          if (timing) trailers.set(TIMING_TRAILER, formatTimingTrailer(timing));
          return { requestId, results };
        },
      },
    ),

    ClassifyStream: (call: ClassifyStreamCall) => {
      const { context, dispose } = openCallContext(call as ServerDuplexStream<unknown, unknown>);
      // Every request in flight on the stream listens to its signal (up to streamMaxInFlight of them, each through
      // a few layers): that is by design, not the leak Node warns of past 10 listeners.
      setMaxListeners(0, context.signal);
      let inFlight = 0;
      let ended = false;
      const finishIfDone = () => {
        if (ended && inFlight === 0) {
          dispose();
          call.end();
        }
      };
      call.on('data', (request: pipeline.ClassifyRequest__Output) => {
        inFlight++;
        // Back-pressure: stop reading once this stream has enough work in flight; HTTP/2 flow control then
        // slows the sender down instead of the gateway queueing without bound.
        if (inFlight >= options.streamMaxInFlight) call.pause();
        // Each request on a stream gets the default deadline, cut short by the stream's own if that is sooner.
        const budget = {
          deadlineMs: Math.min(context.deadlineMs, Date.now() + options.defaultDeadlineMs),
          signal: context.signal,
          timing: new RequestTimer(),
        };
        const requestId = request.requestId || randomUUID();
        classify(request, requestId, budget)
          .catch((error: unknown): pipeline.ClassifyResponse => {
            const mapped = toStatus(error, logger, 'ClassifyStream');
            return {
              requestId,
              error: { code: mapped.code ?? status.UNKNOWN, message: mapped.details ?? 'unknown error' },
            };
          })
          .then((response) => {
            if (!context.signal.aborted) call.write(response);
            inFlight--;
            if (inFlight < options.streamMaxInFlight && call.isPaused()) call.resume();
            finishIfDone();
          });
      });
      call.on('end', () => {
        ended = true;
        finishIfDone();
      });
      call.on('error', () => {
        // The client went away; in-flight work sees the abort through the call context.
        ended = true;
        dispose();
      });
    },
  };
}

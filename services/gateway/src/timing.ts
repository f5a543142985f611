import { status, type StatusObject } from '@grpc/grpc-js';
import type { pipeline } from '@inference-mesh/protos';
import { SERVER_MS_TRAILER } from '@inference-mesh/service-kit';
import { performance } from 'node:perf_hooks';

/** One internal call, in milliseconds; serverMs is NaN until the service reports it. */
export interface HopTiming {
  clientMs: number;
  serverMs: number;
}

/** What one pipeline run (possibly merged from several requests) spent in its hops. */
export interface HopTimings {
  readonly tokenizer: HopTiming;
  readonly model: HopTiming;
  readonly postprocess: HopTiming;
  modelQueueMs: number;
  modelComputeMs: number;
}

function newHopTimings(): HopTimings {
  return {
    tokenizer: { clientMs: 0, serverMs: Number.NaN },
    model: { clientMs: 0, serverMs: Number.NaN },
    postprocess: { clientMs: 0, serverMs: Number.NaN },
    modelQueueMs: 0,
    modelComputeMs: 0,
  };
}

/**
 * One request's breakdown as the gateway collects it, on this process's monotonic clock. It travels with the
 * request's CallBudget; requests merged into one call share that call's `hops`.
 */
export class RequestTimer {
  readonly receivedAt = performance.now();
  admissionMs = 0;
  coalesceMs = 0;
  hops: HopTimings = newHopTimings();
  private pipelineStartedAt = this.receivedAt;

  /** Admission is over (the in-flight limit, the fallback wrapper): the pipeline, or its wait to be merged, starts. */
  pipelineStarted(): void {
    this.pipelineStartedAt = performance.now();
    this.admissionMs = this.pipelineStartedAt - this.receivedAt;
  }

  /** Merged into a call whose hop times `batch` collects: the coalescing wait ends. */
  joined(batch: RequestTimer): void {
    this.coalesceMs = performance.now() - this.pipelineStartedAt;
    this.hops = batch.hops;
  }

  /** Runs on its own after all (a merged call re-run member by member): its hop times are its own again. */
  detach(): void {
    this.hops = newHopTimings();
  }

  /** The breakdown as it stands now; total_ms ends here. */
  toMessage(): pipeline.RequestTiming__Output {
    const { tokenizer, model, postprocess, modelQueueMs, modelComputeMs } = this.hops;
    return {
      totalMs: performance.now() - this.receivedAt,
      admissionMs: this.admissionMs,
      coalesceMs: this.coalesceMs,
      tokenizer: hopMessage(tokenizer),
      model: hopMessage(model),
      postprocess: hopMessage(postprocess),
      modelQueueMs,
      modelComputeMs,
    };
  }
}

function hopMessage({ clientMs, serverMs }: HopTiming): pipeline.HopTiming__Output {
  return { clientMs, serverMs: Number.isNaN(serverMs) ? 0 : serverMs };
}

/**
 * Reads a downstream's own time from its answer's trailers (grpc-js emits them with the status, right after the
 * call's callback and before any code awaiting the call resumes). Only an OK status counts: it belongs to the
 * attempt that answered.
 */
export function readServerMs(callStatus: StatusObject, into: HopTiming): void {
  if (callStatus.code !== status.OK) return;
  const [value] = callStatus.metadata.get(SERVER_MS_TRAILER);
  if (typeof value === 'string') into.serverMs = Number(value);
}

/** A hop's own cost (client-observed minus server-reported), or undefined when the service reported nothing. */
export function hopOverheadMs({ clientMs, serverMs }: HopTiming): number | undefined {
  return Number.isFinite(serverMs) ? Math.max(0, clientMs - serverMs) : undefined;
}

/** The trailer's value: every part, in the order of RequestTiming, 3 decimals. */
export function formatTimingTrailer(timing: pipeline.RequestTiming): string {
  const ms = (value: number | string | undefined) => Number(value ?? 0).toFixed(3);
  const hop = (name: string, value: pipeline.HopTiming | null | undefined) =>
    `${name};dur=${ms(value?.clientMs)},${name}.server;dur=${ms(value?.serverMs)}`;
  return (
    `total;dur=${ms(timing.totalMs)},admission;dur=${ms(timing.admissionMs)},coalesce;dur=${ms(timing.coalesceMs)},` +
    `${hop('tokenizer', timing.tokenizer)},${hop('model', timing.model)},model.queue;dur=${ms(timing.modelQueueMs)},` +
    `model.compute;dur=${ms(timing.modelComputeMs)},${hop('postprocess', timing.postprocess)}`
  );
}

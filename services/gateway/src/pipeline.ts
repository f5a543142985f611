import { status } from '@grpc/grpc-js';
import { COMPUTE_MS_PARAMETER, QUEUE_MS_PARAMETER, type inference, type pipeline, type tokenizer } from '@inference-mesh/protos';
import { ServiceError, checkUtf8Texts } from '@inference-mesh/service-kit';
import type { Hop } from './config';
import type { Downstreams } from './downstreams';
import type { GatewayMetrics } from './gateway-metrics';
import type { AttemptOptions, HopPolicy } from './hop-policy';
import { modelInferRequest, readLogits, toSignature, type ModelSignature } from './model-signature';
import type { PredictionShadow } from './prediction-shadow';
import { RequestCoalescer, type CoalescerOptions } from './request-coalescer';
import { performance } from 'node:perf_hooks';
import { hopOverheadMs, type HopTiming, type RequestTimer } from './timing';
import { LiveVersionSplit, type VersionSplit, type VersionWeight } from './version-split';

export interface ClassifyInput {
  /** UTF-8 bytes as received: checked per request, passed on to the tokenizer undecoded. */
  readonly texts: readonly Uint8Array[];
  /** Empty: the default model. */
  readonly modelName: string;
  /** Empty: the version the tokenizer resolves (the latest). */
  readonly modelVersion: string;
  /** 0: every label. */
  readonly topK: number;
}

export interface CallBudget {
  readonly deadlineMs: number;
  readonly signal: AbortSignal;
  /** Where the request's time went, filled in as it goes; absent: nothing is measured. */
  readonly timing?: RequestTimer;
}

export interface PipelineOptions {
  readonly defaultModel: string;
  readonly maxBatchTexts: number;
  /** The default model's canary split for requests that name no version (IMESH_MODEL_VERSION_WEIGHTS); none: the latest. */
  readonly modelVersionWeights?: readonly VersionWeight[];
  /** A split that changes while the gateway runs (the mounted file, split-reloader.ts); wins over modelVersionWeights. */
  readonly liveVersionSplit?: LiveVersionSplit;
  /** Wraps every classify call (the gateway's admission limit and fallback model: see server.ts). */
  readonly guard?: ClassifyGuard;
  /** Merge concurrent requests into one call per hop (IMESH_GATEWAY_BATCHING); undefined: one call per request. */
  readonly coalescing?: CoalescerOptions;
  /** Records each hop's overhead (client-observed minus server-reported) of the calls it times. */
  readonly metrics?: Pick<GatewayMetrics, 'recordHopOverhead'>;
  /**
   * Records each merged model call's final status and whole time, retries included, by version
   * (imesh.gateway.model.calls and .call.duration). Not given to the fallback pipeline: its calls go to another
   * deployment and would be counted as the primary version's. Shadow calls never pass through here.
   */
  readonly modelCalls?: Pick<GatewayMetrics, 'recordModelCall'>;
  /**
   * Compares a sample of the split's answers with another version's (IMESH_SHADOW_SAMPLE, prediction-shadow.ts);
   * undefined: no shadowing.
   */
  readonly shadow?: PredictionShadow;
}

export type ClassifyGuard = (
  input: ClassifyInput,
  budget: CallBudget,
  next: (input: ClassifyInput, budget: CallBudget) => Promise<pipeline.ClassifyResult[]>,
) => Promise<pipeline.ClassifyResult[]>;

/**
 * tokenizer -> model -> postprocess for one batch of texts. Every hop carries the whole batch, tensors travel
 * as the raw bytes each service produced (the gateway never decodes ids or logits), and every call goes
 * through its downstream's policy with the caller's deadline and cancellation.
 */
export class ClassifyPipeline {
  private readonly signatures = new Map<string, Promise<ModelSignature>>();
  private readonly versionSplit: LiveVersionSplit;
  private readonly coalescer: RequestCoalescer<Uint8Array, pipeline.ClassifyResult> | undefined;

  constructor(
    private readonly downstreams: Downstreams,
    private readonly policies: Readonly<Record<Hop, HopPolicy>>,
    private readonly options: PipelineOptions,
  ) {
    this.versionSplit = options.liveVersionSplit ?? new LiveVersionSplit(options.modelVersionWeights);
    this.coalescer = options.coalescing
      ? new RequestCoalescer({ ...options.coalescing, maxRows: Math.min(options.coalescing.maxRows, options.maxBatchTexts) })
      : undefined;
  }

  async classify(input: ClassifyInput, budget: CallBudget): Promise<pipeline.ClassifyResult[]> {
    const guard = this.options.guard;
    return guard ? guard(input, budget, (i, b) => this.classifyOnce(i, b)) : this.classifyOnce(input, budget);
  }

  private async classifyOnce(input: ClassifyInput, budget: CallBudget): Promise<pipeline.ClassifyResult[]> {
    // Checked here, per request, so that one caller's bad bytes never reach a call merged with others'.
    checkUtf8Texts('texts', input.texts, this.options.maxBatchTexts);
    budget.timing?.pipelineStarted();
    const modelName = input.modelName || this.options.defaultModel;
    // The version is chosen before the tokenizer, whose ids belong to one version; a named version stays pinned.
    let requestedVersion = input.modelVersion;
    // The split that chose the version, when it has another version a shadow could go to; else undefined.
    let shadowSplit: VersionSplit | undefined;
    if (!requestedVersion && modelName === this.options.defaultModel) {
      const split = this.versionSplit.current;
      if (split) {
        requestedVersion = split.pick();
        if (split.hasOtherVersions && this.options.shadow) shadowSplit = split;
      }
    }
    const { topK } = input;
    if (!this.coalescer) return this.runHops(modelName, requestedVersion, topK, input.texts, budget, shadowSplit);
    const runHops = (texts: readonly Uint8Array[], hopBudget: CallBudget) => this.runHops(modelName, requestedVersion, topK, texts, hopBudget, shadowSplit);
    // Calls the split chose may be shadowed, calls pinned to the same version may not: they merge apart.
    const key = shadowSplit ? `${modelName}\u0000${requestedVersion}\u0000${topK}\u0000split` : `${modelName}\u0000${requestedVersion}\u0000${topK}`;
    return this.coalescer.submit(key, input.texts, budget, runHops);
  }

  /** The three hops for one batch of texts, which may hold several callers' requests. */
  private async runHops(
    modelName: string,
    requestedVersion: string,
    topK: number,
    texts: readonly Uint8Array[],
    budget: CallBudget,
    shadowSplit: VersionSplit | undefined,
  ): Promise<pipeline.ClassifyResult[]> {
    const hops = budget.timing?.hops;
    const encoded = await this.run('tokenizer', budget, (attempt) =>
      this.downstreams.encode({ modelName, modelVersion: requestedVersion, texts: texts as Uint8Array[] }, attempt, hops?.tokenizer),
    );
    if (hops) this.recordOverhead('tokenizer', hops.tokenizer);
    const modelVersion = encoded.modelVersion;
    const signature = await this.signature(modelName, modelVersion, budget);
    const inferred = await this.inferModel(modelName, modelVersion, signature, encoded, budget);
    if (hops) {
      this.recordOverhead('model', hops.model);
      const parameters = inferred.parameters;
      hops.modelQueueMs = parameters?.[QUEUE_MS_PARAMETER]?.doubleParam ?? 0;
      hops.modelComputeMs = parameters?.[COMPUTE_MS_PARAMETER]?.doubleParam ?? 0;
    }
    const logits = readLogits(inferred, encoded.rows);
    const processed = await this.run('postprocess', budget, (attempt) =>
      this.downstreams.postprocess(
        { modelName, modelVersion: inferred.modelVersion, rows: encoded.rows, numLabels: logits.numLabels, logits: logits.bytes, topK },
        attempt,
        hops?.postprocess,
      ),
    );
    if (hops) this.recordOverhead('postprocess', hops.postprocess);
    if (processed.predictions.length !== encoded.rows) {
      throw new ServiceError(status.INTERNAL, `postprocess returned ${processed.predictions.length} predictions for ${encoded.rows} rows`);
    }
    const truncated = new Set(encoded.truncatedRows);
    const results = processed.predictions.map((prediction, row) => ({
      label: prediction.label,
      score: prediction.score,
      scores: prediction.scores,
      modelName,
      modelVersion: inferred.modelVersion,
      truncated: truncated.has(row),
      degraded: false,
    }));
    // The shadow starts after the callers are answered and never touches their answers (prediction-shadow.ts).
    if (shadowSplit !== undefined) this.options.shadow!.offer(modelName, inferred.modelVersion, shadowSplit, encoded, results);
    return results;
  }

  /** The model hop under its policy; with `modelCalls`, one record of its outcome and time per merged call. */
  private async inferModel(
    modelName: string,
    modelVersion: string,
    signature: ModelSignature,
    encoded: tokenizer.EncodeResponse__Output,
    budget: CallBudget,
  ): Promise<inference.ModelInferResponse__Output> {
    const request = modelInferRequest(modelName, modelVersion, signature, encoded);
    const hopTiming = budget.timing?.hops.model;
    const calls = this.options.modelCalls;
    if (!calls) return this.run('model', budget, (attempt) => this.downstreams.modelInfer(request, attempt, hopTiming));
    const startedMs = performance.now();
    try {
      const inferred = await this.run('model', budget, (attempt) => this.downstreams.modelInfer(request, attempt, hopTiming));
      calls.recordModelCall(modelName, modelVersion, status.OK, (performance.now() - startedMs) / 1000);
      return inferred;
    } catch (error) {
      // The policy answers with a ServiceError (DownstreamError) whose code is the caller's.
      calls.recordModelCall(modelName, modelVersion, error instanceof ServiceError ? error.code : status.UNKNOWN, (performance.now() - startedMs) / 1000);
      throw error;
    }
  }

  private recordOverhead(hop: Hop, timing: HopTiming): void {
    const overheadMs = hopOverheadMs(timing);
    if (overheadMs !== undefined) this.options.metrics?.recordHopOverhead(hop, overheadMs);
  }

  private run<T>(hop: Hop, budget: CallBudget, attempt: (options: AttemptOptions) => Promise<T>): Promise<T> {
    return this.policies[hop].execute(attempt, budget.deadlineMs, budget.signal);
  }

  /** The model's inputs and output, read once per version from ModelMetadata. */
  private signature(modelName: string, modelVersion: string, budget: CallBudget): Promise<ModelSignature> {
    const key = `${modelName}/${modelVersion}`;
    let cached = this.signatures.get(key);
    if (!cached) {
      cached = this.run('model', budget, (attempt) => this.downstreams.modelMetadata({ name: modelName, version: modelVersion }, attempt)).then(
        (metadata) => toSignature(key, metadata),
      );
      // A failure is not cached: the next request asks again.
      cached.catch(() => this.signatures.delete(key));
      this.signatures.set(key, cached);
    }
    return cached;
  }
}

import * as grpc from '@grpc/grpc-js';
import {
  loadInferenceProto,
  loadPostprocessProto,
  loadTokenizerProto,
  type inference,
  type postprocess,
  type tokenizer,
} from '@inference-mesh/protos';
import { KEEPALIVE_DEFAULTS, type KeepaliveConfig } from '@inference-mesh/service-kit';
import { clientTelemetryInterceptor } from '@inference-mesh/telemetry';
import { performance } from 'node:perf_hooks';
import type { AttemptOptions } from './hop-policy';
import type { Hop } from './config';
import { channelTarget } from './downstream-targets';
import { readServerMs, type HopTiming } from './timing';
import { modelVersionMetadata } from './version-split';

/**
 * The three internal calls the pipeline makes, one attempt each; policies are applied by the caller. Given a
 * `timing`, an attempt that answers fills it in (its client-observed time and the service's own) before the
 * returned promise's continuations run.
 */
export interface Downstreams {
  encode(request: tokenizer.EncodeRequest, options: AttemptOptions, timing?: HopTiming): Promise<tokenizer.EncodeResponse__Output>;
  modelMetadata(request: inference.ModelMetadataRequest, options: AttemptOptions): Promise<inference.ModelMetadataResponse__Output>;
  modelInfer(request: inference.ModelInferRequest, options: AttemptOptions, timing?: HopTiming): Promise<inference.ModelInferResponse__Output>;
  postprocess(request: postprocess.PostprocessRequest, options: AttemptOptions, timing?: HopTiming): Promise<postprocess.PostprocessResponse__Output>;
  close(): void;
}

/** The model service's two calls, for a second model deployment (the fallback). */
export type ModelDownstream = Pick<Downstreams, 'modelMetadata' | 'modelInfer' | 'close'>;

export interface ChannelSettings {
  readonly maxMessageBytes: number;
  /** Default: KEEPALIVE_DEFAULTS. */
  readonly keepalive?: KeepaliveConfig;
  /** Default: plaintext. */
  readonly credentials?: grpc.ChannelCredentials;
}

/** grpc-js reconnects to a refused address with exponential backoff up to 120 s by default; a replica that
 * restarts behind a static list would wait that long. Connection attempts are cheap inside a cluster. */
const MAX_RECONNECT_BACKOFF_MS = 5_000;

/**
 * Channel options for every internal hop. round_robin (instead of grpc-js's default pick_first) keeps a
 * connection to every address of the target and spreads calls over the ready ones, so replicas share the load
 * and a dead one is skipped as soon as its connection drops (or its keepalive ping goes unanswered).
 */
export function channelOptions(settings: ChannelSettings): grpc.ChannelOptions {
  const keepalive = settings.keepalive ?? KEEPALIVE_DEFAULTS;
  return {
    'grpc.max_receive_message_length': settings.maxMessageBytes,
    'grpc.max_send_message_length': settings.maxMessageBytes,
    'grpc.keepalive_time_ms': keepalive.timeMs,
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_reconnect_backoff_ms': MAX_RECONNECT_BACKOFF_MS,
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  };
}

/** The pipeline's clients also carry the trace on to each downstream (a no-op when telemetry is off). */
function tracedOptions(settings: ChannelSettings): grpc.ClientOptions {
  return { ...channelOptions(settings), interceptors: [clientTelemetryInterceptor()] };
}

type UnaryMethod<Request, Response> = (
  request: Request,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: grpc.requestCallback<Response>,
) => grpc.ClientUnaryCall;

/**
 * One unary call with a deadline; the signal cancels it (grpc-js has no AbortSignal support of its own). With a
 * `timing`, an answer records the time from sending to the decoded answer, and the service's own time from its
 * trailer (grpc-js emits the status right after the callback, before the resolved promise's continuations).
 */
function call<Request, Response>(
  client: grpc.Client,
  method: UnaryMethod<Request, Response>,
  request: Request,
  { deadlineMs, signal }: AttemptOptions,
  metadata: grpc.Metadata = new grpc.Metadata(),
  timing?: HopTiming,
): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const sentAt = timing ? performance.now() : 0;
    const unaryCall = method.call(client, request, metadata, { deadline: deadlineMs }, (error, response) => {
      signal.removeEventListener('abort', cancel);
      if (error) reject(error);
      else {
        if (timing) timing.clientMs = performance.now() - sentAt;
        resolve(response!);
      }
    });
    if (timing) unaryCall.once('status', (callStatus: grpc.StatusObject) => readServerMs(callStatus, timing));
    const cancel = () => unaryCall.cancel();
    if (signal.aborted) cancel();
    else signal.addEventListener('abort', cancel, { once: true });
  });
}

export function connectModel(target: string, settings: ChannelSettings): ModelDownstream {
  const modelClient = new (loadInferenceProto().grpc.inference.GRPCInferenceService)(
    channelTarget(target),
    settings.credentials ?? grpc.credentials.createInsecure(),
    tracedOptions(settings),
  );
  return {
    // x-model-version lets a mesh route each model call to the pods serving that version (istio/model-routing.yaml).
    modelMetadata: (request, attempt) => call(modelClient, modelClient.ModelMetadata, request, attempt, modelVersionMetadata(request.version)),
    modelInfer: (request, attempt, timing) =>
      call(modelClient, modelClient.ModelInfer, request, attempt, modelVersionMetadata(request.modelVersion), timing),
    close: () => modelClient.close(),
  };
}

export function connectDownstreams(targets: Readonly<Record<Hop, string>>, settings: ChannelSettings): Downstreams {
  const options = tracedOptions(settings);
  const credentials = settings.credentials ?? grpc.credentials.createInsecure();
  const tokenizerClient = new (loadTokenizerProto().grpc.inference_mesh.tokenizer.v1.TokenizerService)(channelTarget(targets.tokenizer), credentials, options);
  const model = connectModel(targets.model, settings);
  const postprocessClient = new (loadPostprocessProto().grpc.inference_mesh.postprocess.v1.PostprocessService)(
    channelTarget(targets.postprocess),
    credentials,
    options,
  );
  return {
    encode: (request, attempt, timing) => call(tokenizerClient, tokenizerClient.Encode, request, attempt, undefined, timing),
    modelMetadata: model.modelMetadata,
    modelInfer: model.modelInfer,
    postprocess: (request, attempt, timing) => call(postprocessClient, postprocessClient.Postprocess, request, attempt, undefined, timing),
    close: () => {
      tokenizerClient.close();
      model.close();
      postprocessClient.close();
    },
  };
}

import * as grpc from '@grpc/grpc-js';
import {
  loadInferenceProto,
  loadPostprocessProto,
  loadTokenizerProto,
  type inference,
  type postprocess,
  type tokenizer,
} from '@inference-mesh/protos';
import type { AttemptOptions } from './hop-policy';
import type { Hop } from './config';

/** The three internal calls the pipeline makes, one attempt each; policies are applied by the caller. */
export interface Downstreams {
  encode(request: tokenizer.EncodeRequest, options: AttemptOptions): Promise<tokenizer.EncodeResponse__Output>;
  modelMetadata(request: inference.ModelMetadataRequest, options: AttemptOptions): Promise<inference.ModelMetadataResponse__Output>;
  modelInfer(request: inference.ModelInferRequest, options: AttemptOptions): Promise<inference.ModelInferResponse__Output>;
  postprocess(request: postprocess.PostprocessRequest, options: AttemptOptions): Promise<postprocess.PostprocessResponse__Output>;
  close(): void;
}

export interface ChannelSettings {
  readonly maxMessageBytes: number;
}

/**
 * Channel options for every internal hop. round_robin (instead of grpc-js's default pick_first) spreads calls
 * over every address a `dns:///` target resolves to, so replicas share the load and a dead one is skipped.
 */
export function channelOptions(settings: ChannelSettings): grpc.ChannelOptions {
  return {
    'grpc.max_receive_message_length': settings.maxMessageBytes,
    'grpc.max_send_message_length': settings.maxMessageBytes,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  };
}

type UnaryMethod<Request, Response> = (
  request: Request,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: grpc.requestCallback<Response>,
) => grpc.ClientUnaryCall;

/** One unary call with a deadline; the signal cancels it (grpc-js has no AbortSignal support of its own). */
function call<Request, Response>(
  client: grpc.Client,
  method: UnaryMethod<Request, Response>,
  request: Request,
  { deadlineMs, signal }: AttemptOptions,
): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const unaryCall = method.call(client, request, new grpc.Metadata(), { deadline: deadlineMs }, (error, response) => {
      signal.removeEventListener('abort', cancel);
      if (error) reject(error);
      else resolve(response!);
    });
    const cancel = () => unaryCall.cancel();
    if (signal.aborted) cancel();
    else signal.addEventListener('abort', cancel, { once: true });
  });
}

export function connectDownstreams(targets: Readonly<Record<Hop, string>>, settings: ChannelSettings): Downstreams {
  const options = channelOptions(settings);
  const credentials = grpc.credentials.createInsecure();
  const tokenizerClient = new (loadTokenizerProto().grpc.inference_mesh.tokenizer.v1.TokenizerService)(targets.tokenizer, credentials, options);
  const modelClient = new (loadInferenceProto().grpc.inference.GRPCInferenceService)(targets.model, credentials, options);
  const postprocessClient = new (loadPostprocessProto().grpc.inference_mesh.postprocess.v1.PostprocessService)(targets.postprocess, credentials, options);
  return {
    encode: (request, attempt) => call(tokenizerClient, tokenizerClient.Encode, request, attempt),
    modelMetadata: (request, attempt) => call(modelClient, modelClient.ModelMetadata, request, attempt),
    modelInfer: (request, attempt) => call(modelClient, modelClient.ModelInfer, request, attempt),
    postprocess: (request, attempt) => call(postprocessClient, postprocessClient.Postprocess, request, attempt),
    close: () => {
      tokenizerClient.close();
      modelClient.close();
      postprocessClient.close();
    },
  };
}

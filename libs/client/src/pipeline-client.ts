import { credentials, Metadata, status, type ChannelCredentials, type ChannelOptions, type Interceptor, type StatusObject } from '@grpc/grpc-js';
import { loadPipelineProto, TIMING_TRAILER, type pipeline } from '@inference-mesh/protos';
import { readFileSync } from 'node:fs';
import { classifyAll, DEFAULT_MAX_IN_FLIGHT } from './classify-all';
import { ClassifyStream } from './classify-stream';
import { cancelledError, PipelineError, toPipelineError } from './errors';
import { checkHealth, GATEWAY_HEALTH_SERVICES } from './health';
import type {
  CallOptions,
  ClassifiedText,
  ClassifyAllOptions,
  ClassifyOptions,
  ClassifyResponse,
  ClassifyStreamOptions,
  HealthStatus,
  TextInput,
} from './types';
import { checkPositive, checkPositiveInteger, deadlineFrom, fromClassifyResponse, parseTimingTrailer, toClassifyRequest } from './wire';

type PipelineStub = InstanceType<ReturnType<typeof loadPipelineProto>['grpc']['inference_mesh']['pipeline']['v1']['PipelineService']>;

export const DEFAULT_TARGET = '127.0.0.1:50051';
const DEFAULT_DEADLINE_MS = 30_000;
const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
const DEFAULT_KEEPALIVE_TIME_MS = 30_000;
const DEFAULT_KEEPALIVE_TIMEOUT_MS = 10_000;

/** PEM files; all absent means TLS with the system's roots. A client certificate needs both chain and key. */
export interface TlsOptions {
  readonly rootCertsPath?: string;
  readonly certChainPath?: string;
  readonly privateKeyPath?: string;
}

export interface PipelineClientOptions {
  /** A gRPC target: `host:port`, `dns:///host:port`, `unix:path`. Default `127.0.0.1:50051`. */
  readonly target?: string;
  /** TLS when present; plaintext when absent. */
  readonly tls?: TlsOptions;
  /** Deadline of a unary call that sets none. Default 30000; `Infinity` for none. Streams have none by default. */
  readonly defaultDeadlineMs?: number;
  /** Largest message sent or received. Default 4 MiB. */
  readonly maxMessageBytes?: number;
  /** Ping interval while calls are active. Default 30000. */
  readonly keepaliveTimeMs?: number;
  /** A ping unanswered this long drops the connection. Default 10000. */
  readonly keepaliveTimeoutMs?: number;
  /**
   * grpc-js client interceptors on every call, outermost first: e.g. OpenTelemetry's, so that the caller's trace
   * context goes out with each call (the queue-worker passes the mesh's own).
   */
  readonly interceptors?: readonly Interceptor[];
}

/**
 * The client of the gateway's PipelineService. One client holds one channel (one HTTP/2 connection, reused by
 * every call); make one per target and share it.
 */
export class PipelineClient {
  readonly target: string;
  readonly defaultDeadlineMs: number;
  readonly maxMessageBytes: number;
  private readonly stub: PipelineStub;
  private closed = false;

  constructor(options: PipelineClientOptions = {}) {
    const {
      target = DEFAULT_TARGET,
      tls,
      defaultDeadlineMs = DEFAULT_DEADLINE_MS,
      maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
      keepaliveTimeMs = DEFAULT_KEEPALIVE_TIME_MS,
      keepaliveTimeoutMs = DEFAULT_KEEPALIVE_TIMEOUT_MS,
      interceptors = [],
    } = options;
    if (target === '') throw new RangeError('target must not be empty');
    this.target = target;
    this.defaultDeadlineMs = checkPositive(defaultDeadlineMs, 'defaultDeadlineMs', { allowInfinity: true });
    this.maxMessageBytes = checkPositiveInteger(maxMessageBytes, 'maxMessageBytes');
    const channelOptions: ChannelOptions = {
      'grpc.max_receive_message_length': this.maxMessageBytes,
      'grpc.max_send_message_length': this.maxMessageBytes,
      'grpc.keepalive_time_ms': checkPositiveInteger(keepaliveTimeMs, 'keepaliveTimeMs'),
      'grpc.keepalive_timeout_ms': checkPositiveInteger(keepaliveTimeoutMs, 'keepaliveTimeoutMs'),
    };
    const { PipelineService } = loadPipelineProto().grpc.inference_mesh.pipeline.v1;
    this.stub = new PipelineService(target, channelCredentials(tls), interceptors.length > 0 ? { ...channelOptions, interceptors: [...interceptors] } : channelOptions);
  }

  /** Classifies `texts` in one call; results come in the order of the texts, with where the time went (`timing`). */
  classify(texts: readonly TextInput[], options: ClassifyOptions = {}): Promise<ClassifyResponse> {
    return new Promise<ClassifyResponse>((resolve, reject) => {
      const { signal } = options;
      if (signal?.aborted) throw cancelledError('aborted before the call started');
      this.assertOpen();
      const request = toClassifyRequest(texts, options, options.requestId);
      const deadline = callDeadline(deadlineFrom(options.deadlineMs ?? this.defaultDeadlineMs, 'deadlineMs'));
      let answer: pipeline.ClassifyResponse__Output | undefined;
      const call = this.stub.classify(request, new Metadata(), deadline === undefined ? {} : { deadline }, (error, response) => {
        signal?.removeEventListener('abort', onAbort);
        if (error || !response) reject(toPipelineError(error ?? new PipelineError(status.INTERNAL, 'empty response')));
        else answer = response;
      });
      // The trailers (and in them the timing) come with the status, which grpc-js emits right after the callback.
      call.once('status', (callStatus: StatusObject) => {
        if (!answer) return;
        try {
          resolve(fromClassifyResponse(answer, texts.length, parseTimingTrailer(callStatus.metadata.get(TIMING_TRAILER)[0])));
        } catch (conversionError) {
          reject(conversionError);
        }
      });
      const onAbort = () => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Opens one bidi stream that carries many requests; see ClassifyStream. No deadline unless `deadlineMs` is
   * given (it then bounds the whole stream). Throws a FAILED_PRECONDITION PipelineError after close().
   */
  classifyStream(options: ClassifyStreamOptions = {}): ClassifyStream {
    this.assertOpen();
    const { maxInFlight = DEFAULT_MAX_IN_FLIGHT, signal } = options;
    checkPositiveInteger(maxInFlight, 'maxInFlight');
    const deadline = callDeadline(deadlineFrom(options.deadlineMs, 'deadlineMs'));
    const call = this.stub.classifyStream(new Metadata(), deadline === undefined ? {} : { deadline });
    return new ClassifyStream(call, { maxInFlight, signal });
  }

  /**
   * Classifies every text of a (possibly endless) source over one stream and yields `{ index, text, result }` in
   * input order, reading the source only as results are consumed (about `maxInFlight * batchSize` texts at a
   * time). A text the server refuses on its own (empty, not UTF-8) is yielded as `{ index, text, error }` and the
   * rest go on; a failure of the whole stream throws. Breaking out of the loop cancels the stream. Defaults:
   * batchSize 32, maxInFlight 64, no deadline.
   */
  classifyAll(texts: AsyncIterable<string> | Iterable<string>, options: ClassifyAllOptions = {}): AsyncIterable<ClassifiedText> {
    return classifyAll((streamOptions) => this.classifyStream(streamOptions), texts, options);
  }

  /** `grpc.health.v1` Check of `service` ("" = the whole server). */
  async health(service = '', options: CallOptions = {}): Promise<HealthStatus> {
    if (options.signal?.aborted) throw cancelledError('aborted before the call started');
    this.assertOpen();
    const deadline = callDeadline(deadlineFrom(options.deadlineMs ?? this.defaultDeadlineMs, 'deadlineMs'));
    return checkHealth(this.stub, service, deadline, options.signal);
  }

  /**
   * Health of everything the gateway reports on, keyed by service name: "" (the gateway overall), the pipeline
   * service and the three downstreams. Rejects when the gateway cannot be asked at all.
   */
  async healthAll(options: CallOptions = {}): Promise<Readonly<Record<string, HealthStatus>>> {
    const statuses = await Promise.all(GATEWAY_HEALTH_SERVICES.map((name) => this.health(name, options)));
    return Object.fromEntries(GATEWAY_HEALTH_SERVICES.map((name, index) => [name, statuses[index]!]));
  }

  /** Closes the channel; calls in progress are cancelled. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stub.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new PipelineError(status.FAILED_PRECONDITION, 'the client is closed');
  }
}

/** grpc-js reads Infinity as "no deadline", but leaving it out says so without relying on that. */
function callDeadline(deadline: number | undefined): number | undefined {
  return deadline === Infinity ? undefined : deadline;
}

function channelCredentials(tls: TlsOptions | undefined): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  const { rootCertsPath, certChainPath, privateKeyPath } = tls;
  if ((certChainPath === undefined) !== (privateKeyPath === undefined)) {
    throw new RangeError('tls.certChainPath and tls.privateKeyPath must be given together');
  }
  return credentials.createSsl(
    readPem(rootCertsPath, 'tls.rootCertsPath'),
    readPem(privateKeyPath, 'tls.privateKeyPath'),
    readPem(certChainPath, 'tls.certChainPath'),
  );
}

function readPem(path: string | undefined, name: string): Buffer | null {
  if (path === undefined) return null;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`cannot read ${name} ${JSON.stringify(path)}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * A fault-injecting gRPC proxy, run as a process of its own between a real client and a real service: it
 * forwards every unary call of the mesh's three internal services as raw bytes, and can be switched,
 * while running, to answer a chosen status at once or to hold each call before forwarding it. It counts the
 * calls it sees and the cancellations it receives, which is what the downstream of a faulty hop would see.
 *
 * Imported: `FaultProxy.start(target)` forks it and drives it over IPC. Run directly: the proxy itself.
 */
import * as grpc from '@grpc/grpc-js';
import { loadInferenceProto, loadPostprocessProto, loadTokenizerProto } from '@inference-mesh/protos';
import { fork, type ChildProcess } from 'node:child_process';

/** Which calls a fault applies to; the others are forwarded. Both absent: every call. */
export interface FaultScope {
  /** Only calls whose `x-model-version` metadata (what the gateway sends with each model call) is this version. */
  readonly onlyModelVersion?: string;
  /** Only this share of the calls in scope, each drawn at random (0 to 1; absent: 1). */
  readonly ratio?: number;
}

export type FaultMode =
  /** Forward every call. */
  | { readonly kind: 'pass' }
  /** Answer every call (in scope) at once with this status, forwarding nothing. */
  | ({ readonly kind: 'fail'; readonly code: grpc.status; readonly details?: string } & FaultScope)
  /** Hold every call (in scope) this long, then forward it (unless the caller has gone by then). */
  | ({ readonly kind: 'slow'; readonly delayMs: number } & FaultScope);

/** The metadata key the gateway pins a model call's version with (services/gateway/src/version-split.ts). */
const MODEL_VERSION_HEADER = 'x-model-version';

export interface CallRecord {
  /** Method name, e.g. ModelInfer. */
  readonly method: string;
  /** Epoch ms when the call arrived, and when its cancellation or deadline reached the proxy (if it did). */
  readonly receivedAt: number;
  readonly cancelledAt?: number;
  /** Epoch ms when the proxy answered it. */
  readonly completedAt?: number;
  /** The deadline the call carried, epoch ms (Infinity: none). */
  readonly deadline: number;
  /** The call's `x-model-version` metadata, when it had one. */
  readonly modelVersion?: string;
  /** The fault in force applied to this call (false: forwarded as is). */
  readonly faulted: boolean;
}

type Request = { id: number; type: 'mode'; mode: FaultMode } | { id: number; type: 'records' } | { id: number; type: 'reset' };
type Reply = { id: number; records?: CallRecord[] };

const identity = (value: Buffer) => value;

/** Metadata a proxy must not copy onto its own outgoing call: grpc-js sets these per call. */
const TRANSPORT_HEADERS = new Set(['user-agent', 'content-type', 'te', 'grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding']);

function inScope(scope: FaultScope, modelVersion: string | undefined): boolean {
  if (scope.onlyModelVersion !== undefined && modelVersion !== scope.onlyModelVersion) return false;
  return scope.ratio === undefined || Math.random() < scope.ratio;
}

function runProxy(target: string): void {
  let mode: FaultMode = { kind: 'pass' };
  let records: CallRecord[] = [];
  const upstream = new grpc.Client(target, grpc.credentials.createInsecure());
  const server = new grpc.Server();

  const definitions = [
    loadInferenceProto().grpc.inference.GRPCInferenceService.service,
    loadTokenizerProto().grpc.inference_mesh.tokenizer.v1.TokenizerService.service,
    loadPostprocessProto().grpc.inference_mesh.postprocess.v1.PostprocessService.service,
  ];
  for (const definition of definitions) {
    const passthrough: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(definition)) {
      if (method.requestStream || method.responseStream) continue;
      passthrough[name] = { ...method, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };
      handlers[name] = (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const deadline = call.getDeadline();
        const version = call.metadata.get(MODEL_VERSION_HEADER)[0];
        const current = mode;
        const record: { -readonly [K in keyof CallRecord]: CallRecord[K] } = {
          method: name,
          receivedAt: Date.now(),
          deadline: deadline instanceof Date ? deadline.getTime() : deadline,
          ...(version !== undefined && { modelVersion: String(version) }),
          faulted: current.kind !== 'pass' && inScope(current, version === undefined ? undefined : String(version)),
        };
        records.push(record);
        let forwarded: grpc.ClientUnaryCall | undefined;
        let timer: NodeJS.Timeout | undefined;
        call.on('cancelled', () => {
          // grpc-js also reports a call it has already answered as cancelled once its stream closes.
          if (record.completedAt !== undefined) return;
          record.cancelledAt ??= Date.now();
          if (timer) clearTimeout(timer);
          forwarded?.cancel();
        });
        const forward = () => {
          if (call.cancelled) return;
          const metadata = new grpc.Metadata();
          for (const [key, value] of Object.entries(call.metadata.getMap())) {
            if (!TRANSPORT_HEADERS.has(key) && !key.startsWith(':')) metadata.set(key, value);
          }
          forwarded = upstream.makeUnaryRequest(method.path, identity, identity, call.request, metadata, { deadline }, (error, response) => {
            record.completedAt = Date.now();
            if (error) callback(error);
            else callback(null, response);
          });
        };
        if (!record.faulted) forward();
        else if (current.kind === 'fail') {
          record.completedAt = Date.now();
          callback({ code: current.code, details: current.details ?? `fault-proxy: injected ${grpc.status[current.code]}` });
        }
        else if (current.kind === 'slow') timer = setTimeout(forward, current.delayMs);
        else forward();
      };
    }
    server.addService(passthrough as grpc.ServiceDefinition, handlers);
  }

  process.on('message', (request: Request) => {
    const reply: Reply = { id: request.id };
    if (request.type === 'mode') mode = request.mode;
    else if (request.type === 'reset') records = [];
    else reply.records = records.slice();
    process.send!(reply);
  });
  // The parent going away ends the proxy too, so a crashed test leaves nothing behind.
  process.on('disconnect', () => process.exit(0));
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) {
      process.stderr.write(`fault-proxy: ${error.message}\n`);
      process.exit(1);
    }
    process.send!({ listening: port });
  });
}

/** The parent's handle on a fault proxy process. */
export class FaultProxy {
  private nextId = 0;
  private readonly pending = new Map<number, (reply: Reply) => void>();

  private constructor(
    readonly process: ChildProcess,
    readonly address: string,
  ) {
    process.on('message', (reply: Reply) => {
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
  }

  /** Forks a proxy in front of `target` (host:port) and resolves once it listens on a loopback port. */
  static async start(target: string): Promise<FaultProxy> {
    const child = fork(__filename, [target], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const stderr: string[] = [];
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (message: { listening?: number }) => (message.listening ? resolve(message.listening) : reject(new Error('unexpected message'))));
      child.once('exit', (code) => reject(new Error(`fault proxy exited (${code}) before listening: ${stderr.join('')}`)));
    });
    return new FaultProxy(child, `127.0.0.1:${port}`);
  }

  /** Applies to calls that arrive from now on; resolves once the proxy has switched. */
  async setMode(mode: FaultMode): Promise<void> {
    await this.request({ type: 'mode', mode });
  }

  /** Every call seen since the start or the last reset. */
  async records(method?: string): Promise<CallRecord[]> {
    const { records = [] } = await this.request({ type: 'records' });
    return method ? records.filter((r) => r.method === method) : records;
  }

  /** Calls of `method` the proxy holds now: received, neither answered nor cancelled. */
  async inFlight(method: string): Promise<number> {
    return (await this.records(method)).filter((r) => r.completedAt === undefined && r.cancelledAt === undefined).length;
  }

  /** Polls until `predicate` holds for the records of `method`; rejects after `timeoutMs`. */
  async waitFor(method: string, what: string, predicate: (records: CallRecord[]) => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (predicate(await this.records(method))) return;
      if (Date.now() > deadline) throw new Error(`the fault proxy did not see ${what} within ${timeoutMs} ms: ${JSON.stringify(await this.records(method))}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async reset(): Promise<void> {
    await this.request({ type: 'reset' });
  }

  /** Ends the proxy at once (SIGKILL): its clients see the connection drop, then connections refused. */
  async kill(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.kill('SIGKILL');
    await exited;
  }

  private request(body: { type: 'mode'; mode: FaultMode } | { type: 'records' } | { type: 'reset' }): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, resolve);
      this.process.send({ ...body, id } as Request, (error) => error && reject(error));
    });
  }
}

if (require.main === module) runProxy(process.argv[2]!);

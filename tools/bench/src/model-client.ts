import * as grpc from '@grpc/grpc-js';
import { loadInferenceProto, type inference } from '@inference-mesh/protos';
import type { TokenizedBatch } from './inputs';

/** Bigger than any request or answer the bench makes; the default 4 MiB receive limit is gRPC's. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
export const REQUEST_DEADLINE_MS = 30_000;
/** The request parameter naming the tokenizer that made the ids (the model service checks it). */
export const TOKENIZER_FINGERPRINT_PARAMETER = 'tokenizer_fingerprint';

type InferResponse = inference.ModelInferResponse__Output;

/** A ModelInferRequest serialised once, up front, so the bench spends its CPU on sending, not on protobuf. */
export interface PreparedRequest {
  readonly first: number;
  readonly rows: number;
  readonly bytes: Buffer;
}

export interface RequestTarget {
  readonly model: string;
  readonly version: string;
  readonly tokenizerFingerprint: string;
}

function inferMethod() {
  const method = loadInferenceProto().grpc.inference.GRPCInferenceService.service['ModelInfer'];
  if (!method) throw new Error('inference.GRPCInferenceService has no ModelInfer method');
  return method as grpc.MethodDefinition<inference.ModelInferRequest, InferResponse>;
}

/** KServe v2 ModelInferRequests with raw INT64 little-endian `input_ids` and `attention_mask`. */
export function prepareRequests(batches: readonly TokenizedBatch[], target: RequestTarget, idPrefix: string): PreparedRequest[] {
  const method = inferMethod();
  return batches.map((batch, i) => {
    const shape = [batch.rows, batch.sequenceLength];
    const request: inference.ModelInferRequest = {
      modelName: target.model,
      modelVersion: target.version,
      id: `${idPrefix}-${i}`,
      parameters: { [TOKENIZER_FINGERPRINT_PARAMETER]: { stringParam: target.tokenizerFingerprint } },
      inputs: [
        { name: 'input_ids', datatype: 'INT64', shape },
        { name: 'attention_mask', datatype: 'INT64', shape },
      ],
      rawInputContents: [batch.inputIds, batch.attentionMask],
    };
    return { first: batch.first, rows: batch.rows, bytes: method.requestSerialize(request) };
  });
}

/** Expected logits per text, `[texts, labels]` row-major, and how far an answer may stray (padding differs). */
export interface ExpectedLogits {
  readonly logits: Float32Array;
  readonly labels: number;
  readonly tolerance: number;
}

/** One gRPC channel to the model service that sends prepared requests and checks each answer. */
export class ModelInferClient {
  private readonly client: grpc.Client;
  private readonly method = inferMethod();

  constructor(
    address: string,
    private readonly target: RequestTarget,
    private readonly expected: ExpectedLogits,
  ) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      // A connection of its own per case, not one shared from grpc-js's global pool with earlier cases.
      'grpc.use_local_subchannel_pool': 1,
    });
  }

  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.waitForReady(Date.now() + timeoutMs, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Sends one request; resolves with its rows once the answer has the right model, version, shape and logits. */
  infer(request: PreparedRequest): Promise<number> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest<Buffer, InferResponse>(
        this.method.path,
        (bytes) => bytes,
        this.method.responseDeserialize,
        request.bytes,
        new grpc.Metadata(),
        { deadline: Date.now() + REQUEST_DEADLINE_MS },
        (error, response) => {
          if (error) reject(new Error(`${grpc.status[error.code] ?? error.code}: ${error.details}`));
          else if (!response) reject(new Error('empty answer'));
          else {
            const problem = this.check(request, response);
            if (problem) reject(new Error(problem));
            else resolve(request.rows);
          }
        },
      );
    });
  }

  /** Why an answer is wrong, or undefined: the bench counts wrong answers as errors, not as throughput. */
  check(request: PreparedRequest, response: InferResponse): string | undefined {
    if (response.modelName !== this.target.model || response.modelVersion !== this.target.version) {
      return `answered by ${response.modelName}/${response.modelVersion}, not ${this.target.model}/${this.target.version}`;
    }
    const output = response.outputs.findIndex((o) => o.name === 'logits');
    const raw = response.rawOutputContents[output];
    const labels = this.expected.labels;
    if (output < 0 || !raw) return 'no raw "logits" output in the answer';
    const shape = response.outputs[output]!.shape;
    if (shape.length !== 2 || shape[0] !== request.rows || shape[1] !== labels || raw.byteLength !== request.rows * labels * 4) {
      return `logits have shape [${shape.join(', ')}] and ${raw.byteLength} bytes for ${request.rows} rows`;
    }
    for (let i = 0; i < request.rows * labels; i++) {
      const got = raw.readFloatLE(i * 4);
      const want = this.expected.logits[request.first * labels + i]!;
      if (!(Math.abs(got - want) <= this.expected.tolerance)) {
        const row = Math.floor(i / labels);
        return `wrong logits for row ${row} (text ${request.first + row}): ${got} where ONNX Runtime in-process gives ${want}`;
      }
    }
    return undefined;
  }

  close(): void {
    this.client.close();
  }
}

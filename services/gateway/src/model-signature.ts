import { status } from '@grpc/grpc-js';
import type { inference, tokenizer } from '@inference-mesh/protos';
import { ServiceError } from '@inference-mesh/service-kit';

/** Where each model input's bytes come from. */
type InputSource = 'ids' | 'mask' | 'zeros';

/** A model version's inputs (fed from the tokenizer's output) and its logits output, read from ModelMetadata. */
export interface ModelSignature {
  readonly inputs: readonly { readonly name: string; readonly source: InputSource }[];
  readonly outputName: string;
}

/** Hugging Face input names the tokenizer's output can feed; single-text classifiers use segment 0 throughout. */
const INPUT_SOURCES: Readonly<Record<string, InputSource>> = {
  input_ids: 'ids',
  attention_mask: 'mask',
  token_type_ids: 'zeros',
};

const FP32_BYTES = 4;

/** `key` names the version in messages (`sentiment/2`). */
export function toSignature(key: string, metadata: inference.ModelMetadataResponse__Output): ModelSignature {
  const inputs = metadata.inputs.map(({ name, datatype }) => {
    const source = INPUT_SOURCES[name];
    if (!source) {
      throw new ServiceError(status.FAILED_PRECONDITION, `${key} takes an input "${name}" that the tokenizer does not produce (it produces ${Object.keys(INPUT_SOURCES).join(', ')})`);
    }
    if (datatype !== 'INT64') {
      throw new ServiceError(status.FAILED_PRECONDITION, `${key} takes ${name} as ${datatype}; the tokenizer produces INT64`);
    }
    return { name, source };
  });
  const output = metadata.outputs.find((o) => o.name === 'logits') ?? (metadata.outputs.length === 1 ? metadata.outputs[0] : undefined);
  if (!output || output.datatype !== 'FP32') {
    throw new ServiceError(status.FAILED_PRECONDITION, `${key} has no FP32 "logits" output (outputs: ${metadata.outputs.map((o) => `${o.name} ${o.datatype}`).join(', ')})`);
  }
  return { inputs, outputName: output.name };
}

/**
 * The ModelInfer request for the tokenizer's output: its bytes as they came (never decoded), and the fingerprint
 * of the tokenizer that made them, which the model service checks against the version's own.
 */
export function modelInferRequest(
  modelName: string,
  modelVersion: string,
  signature: ModelSignature,
  encoded: tokenizer.EncodeResponse__Output,
  { shadow = false }: { shadow?: boolean } = {},
): inference.ModelInferRequest {
  const shape = [encoded.rows, encoded.sequenceLength];
  let zeros: Buffer | undefined;
  const rawInputContents = signature.inputs.map(({ source }) =>
    source === 'ids' ? encoded.inputIds : source === 'mask' ? encoded.attentionMask : (zeros ??= Buffer.alloc(encoded.inputIds.length)),
  );
  return {
    modelName,
    modelVersion,
    inputs: signature.inputs.map(({ name }) => ({ name, datatype: 'INT64', shape })),
    outputs: [{ name: signature.outputName }],
    rawInputContents,
    parameters: {
      tokenizer_fingerprint: { stringParam: encoded.tokenizerFingerprint },
      // A comparison, not a caller's request: the model service keeps it out of the per-version request metrics
      // that canary analyses read (a shadow's timeout is not the canary's error).
      ...(shadow && { imesh_shadow: { boolParam: true } }),
    },
  };
}

/** The logits of a ModelInfer answer for `rows` rows, checked: [rows, labels] FP32 and as many bytes as that needs. */
export function readLogits(response: inference.ModelInferResponse__Output, rows: number): { bytes: Buffer; numLabels: number } {
  const output = response.outputs[0];
  const bytes = response.rawOutputContents[0];
  const numLabels = output?.shape[1];
  if (!output || !bytes || output.datatype !== 'FP32' || output.shape.length !== 2 || output.shape[0] !== rows || !numLabels) {
    throw new ServiceError(status.INTERNAL, `the model answered ${rows} rows with an unexpected output: ${describeOutput(output)}`);
  }
  if (bytes.length !== rows * numLabels * FP32_BYTES) {
    throw new ServiceError(status.INTERNAL, `the model's ${output.name} holds ${bytes.length} bytes; [${rows}, ${numLabels}] FP32 needs ${rows * numLabels * FP32_BYTES}`);
  }
  return { bytes, numLabels };
}

function describeOutput(output: inference.ModelInferResponse__Output['outputs'][number] | undefined): string {
  return output ? `${output.name} ${output.datatype} [${output.shape.join(', ')}]` : 'none';
}

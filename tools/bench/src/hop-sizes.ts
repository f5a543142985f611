/**
 * The wire size of each hop's messages for one text, so that the echo runs at the mesh's real sizes. Computed, not
 * captured: each request and response is built the way the gateway and the services build them today
 * (services/gateway/src/pipeline.ts, the handlers) from the text's real encoding, and serialized with the
 * project's own protos. A field a message gains or loses in the protos shows here the next run.
 */
import { loadInferenceProto, loadPipelineProto, loadPostprocessProto, loadTokenizerProto, SERVICE_NAMES } from '@inference-mesh/protos';
import type { EncodedBatch } from '@inference-mesh/tokenization';

export const HOPS = ['Classify', 'Encode', 'ModelInfer', 'Postprocess'] as const;
export type Hop = (typeof HOPS)[number];
/** The three hops behind the gateway; Classify is the edge, the caller's own call to the gateway. */
export const INTERNAL_HOPS = ['Encode', 'ModelInfer', 'Postprocess'] as const satisfies readonly Hop[];

export interface HopSize {
  readonly hop: Hop;
  readonly requestBytes: number;
  readonly responseBytes: number;
}

export interface HopMessageInputs {
  readonly text: string;
  readonly encoded: EncodedBatch;
  readonly model: string;
  readonly version: string;
  /** The model's input names, in its order (as ModelMetadata lists them). */
  readonly modelInputs: readonly string[];
  readonly outputName: string;
  readonly labels: readonly string[];
  readonly tokenizerFingerprint: string;
  /** The model's maximum sequence length, which EncodeResponse carries. */
  readonly maxLength: number;
}

type Serializers = Record<string, { requestSerialize(value: object): Buffer; responseSerialize(value: object): Buffer }>;

function serializers(packageDefinition: object, service: string): Serializers {
  return (packageDefinition as Record<string, Serializers>)[service]!;
}

export function hopSizes(inputs: HopMessageInputs): HopSize[] {
  const { text, encoded, model, version, labels } = inputs;
  const textBytes = Buffer.from(text, 'utf8');
  // Non-zero scores: proto3 leaves a zero float off the wire, a real probability is never quite zero.
  const scores = labels.map((label, i) => ({ label, score: 0.9 / (i + 1) }));
  const shape = [encoded.rows, encoded.sequenceLength];
  const logits = Buffer.alloc(4 * labels.length, 0x3f);
  const pipeline = serializers(loadPipelineProto().packageDefinition, SERVICE_NAMES.pipeline);
  const tokenizer = serializers(loadTokenizerProto().packageDefinition, SERVICE_NAMES.tokenizer);
  const inference = serializers(loadInferenceProto().packageDefinition, SERVICE_NAMES.inference);
  const postprocess = serializers(loadPostprocessProto().packageDefinition, SERVICE_NAMES.postprocess);
  const size = (hop: Hop, methods: Serializers, request: object, response: object): HopSize => ({
    hop,
    requestBytes: methods[hop]!.requestSerialize(request).length,
    responseBytes: methods[hop]!.responseSerialize(response).length,
  });
  return [
    size('Classify', pipeline, { requestId: '', texts: [textBytes], options: { modelName: '', modelVersion: '', topK: 0 } }, {
      // The gateway answers with a generated UUID.
      requestId: '00000000-0000-4000-8000-000000000000',
      results: [{ label: scores[0]!.label, score: scores[0]!.score, scores, modelName: model, modelVersion: version, truncated: false, degraded: false }],
    }),
    size('Encode', tokenizer, { modelName: model, modelVersion: '', texts: [textBytes] }, {
      rows: encoded.rows,
      sequenceLength: encoded.sequenceLength,
      inputIds: encoded.inputIds,
      attentionMask: encoded.attentionMask,
      truncatedRows: [...encoded.truncatedRows],
      maxLength: inputs.maxLength,
      tokenizerFingerprint: inputs.tokenizerFingerprint,
      modelVersion: version,
    }),
    size('ModelInfer', inference, {
      modelName: model,
      modelVersion: version,
      inputs: inputs.modelInputs.map((name) => ({ name, datatype: 'INT64', shape })),
      outputs: [{ name: inputs.outputName }],
      rawInputContents: inputs.modelInputs.map((name) => (name === 'attention_mask' ? encoded.attentionMask : encoded.inputIds)),
      parameters: { tokenizer_fingerprint: { stringParam: inputs.tokenizerFingerprint } },
    }, {
      id: '',
      modelName: model,
      modelVersion: version,
      outputs: [{ name: inputs.outputName, datatype: 'FP32', shape: [encoded.rows, labels.length] }],
      rawOutputContents: [logits],
    }),
    size('Postprocess', postprocess, { modelName: model, modelVersion: version, rows: encoded.rows, numLabels: labels.length, logits, topK: 0 }, {
      predictions: [{ label: scores[0]!.label, score: scores[0]!.score, scores }],
    }),
  ];
}

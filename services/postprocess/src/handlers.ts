import type { postprocess } from '@inference-mesh/protos';
import { invalidArgument, type UnaryHandler } from '@inference-mesh/service-kit';
import type { LabelRegistry } from './label-registry';
import { FP32_BYTES, rankLogits } from '@inference-mesh/ranking';

/** Postprocess: checks the logits' shape against the version's labels, then softmax, labels and top-k. */
export function createPostprocessHandler(
  registry: Pick<LabelRegistry, 'resolve'>,
  maxBatchRows: number,
): UnaryHandler<postprocess.PostprocessRequest__Output, postprocess.PostprocessResponse> {
  return async (request, context) => {
    const { rows, numLabels, logits, topK } = request;
    if (rows === 0) throw invalidArgument('rows is 0: send at least one row of logits');
    if (rows > maxBatchRows) {
      throw invalidArgument(`rows is ${rows}; at most ${maxBatchRows} are accepted per call: split the batch`);
    }
    const { model, version, value: labels } = registry.resolve(request.modelName, request.modelVersion);
    if (numLabels !== labels.length) {
      throw invalidArgument(
        `num_labels is ${numLabels} but model ${JSON.stringify(model)} version ${version} has ${labels.length} labels`,
      );
    }
    const expectedBytes = rows * numLabels * FP32_BYTES;
    if (logits.byteLength !== expectedBytes) {
      throw invalidArgument(
        `logits has ${logits.byteLength} bytes; expected ${expectedBytes} ` +
          `(rows ${rows} x num_labels ${numLabels} x 4 bytes of FP32)`,
      );
    }
    context.signal.throwIfAborted();
    return { predictions: rankLogits(logits, rows, labels, topK) };
  };
}

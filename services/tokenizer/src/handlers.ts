import type { tokenizer } from '@inference-mesh/protos';
import { decodeUtf8Texts, type UnaryHandler } from '@inference-mesh/service-kit';
import type { TokenizerRegistry } from './tokenizer-registry';

/**
 * Encode: a batch of UTF-8 texts to padded INT64 `input_ids` and `attention_mask`, in the raw tensor layout
 * the model takes, at most `maxBatchTexts` (IMESH_MAX_BATCH_TEXTS) texts a call. The tensors are the encoder's
 * own Buffers, handed to grpc-js without another copy.
 */
export function createEncodeHandler(
  registry: Pick<TokenizerRegistry, 'resolve'>,
  maxBatchTexts: number,
): UnaryHandler<tokenizer.EncodeRequest__Output, tokenizer.EncodeResponse> {
  return async (request, context) => {
    const { version, value } = registry.resolve(request.modelName, request.modelVersion);
    const texts = decodeUtf8Texts('texts', request.texts, maxBatchTexts);
    context.signal.throwIfAborted();
    const batch = await value.encoder.encode(texts);
    // The caller may have gone while the tokenizer ran: nobody would read the answer.
    context.signal.throwIfAborted();
    return {
      rows: batch.rows,
      sequenceLength: batch.sequenceLength,
      inputIds: batch.inputIds,
      attentionMask: batch.attentionMask,
      truncatedRows: [...batch.truncatedRows],
      maxLength: value.encoder.maxLength,
      tokenizerFingerprint: value.fingerprint,
      modelVersion: version,
    };
  };
}

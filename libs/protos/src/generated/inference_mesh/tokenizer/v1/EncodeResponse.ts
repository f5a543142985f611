// Original file: protos/inference_mesh/tokenizer/v1/tokenizer.proto


export interface EncodeResponse {
  'rows'?: (number);
  /**
   * Padded length shared by every row.
   */
  'sequenceLength'?: (number);
  /**
   * INT64 little-endian, row-major [rows, sequence_length]. Packed bytes, not
   * repeated int64: one copy instead of per-element varint decoding.
   */
  'inputIds'?: (Buffer | Uint8Array | string);
  /**
   * Same layout as input_ids: 1 for a token, 0 for padding.
   */
  'attentionMask'?: (Buffer | Uint8Array | string);
  /**
   * Indices of rows cut to max_length.
   */
  'truncatedRows'?: (number)[];
  /**
   * The model's maximum sequence length.
   */
  'maxLength'?: (number);
  /**
   * Identifies the tokenizer.json that produced the ids; the model service
   * refuses ids from a different tokenizer with FAILED_PRECONDITION, since
   * they would otherwise run and give silently wrong answers.
   */
  'tokenizerFingerprint'?: (string);
  /**
   * The version the tokenizer resolved, so the gateway can pin the model to it.
   */
  'modelVersion'?: (string);
}

export interface EncodeResponse__Output {
  'rows': (number);
  /**
   * Padded length shared by every row.
   */
  'sequenceLength': (number);
  /**
   * INT64 little-endian, row-major [rows, sequence_length]. Packed bytes, not
   * repeated int64: one copy instead of per-element varint decoding.
   */
  'inputIds': (Buffer);
  /**
   * Same layout as input_ids: 1 for a token, 0 for padding.
   */
  'attentionMask': (Buffer);
  /**
   * Indices of rows cut to max_length.
   */
  'truncatedRows': (number)[];
  /**
   * The model's maximum sequence length.
   */
  'maxLength': (number);
  /**
   * Identifies the tokenizer.json that produced the ids; the model service
   * refuses ids from a different tokenizer with FAILED_PRECONDITION, since
   * they would otherwise run and give silently wrong answers.
   */
  'tokenizerFingerprint': (string);
  /**
   * The version the tokenizer resolved, so the gateway can pin the model to it.
   */
  'modelVersion': (string);
}

// Original file: protos/inference_mesh/tokenizer/v1/tokenizer.proto


export interface EncodeRequest {
  /**
   * Selects the model's tokenizer.json.
   */
  'modelName'?: (string);
  /**
   * Empty: the server chooses; the choice comes back in EncodeResponse.
   */
  'modelVersion'?: (string);
  /**
   * UTF-8, one per row. bytes so that invalid UTF-8 can be rejected with
   * INVALID_ARGUMENT instead of silently replaced by protobufjs.
   */
  'texts'?: (Buffer | Uint8Array | string)[];
}

export interface EncodeRequest__Output {
  /**
   * Selects the model's tokenizer.json.
   */
  'modelName': (string);
  /**
   * Empty: the server chooses; the choice comes back in EncodeResponse.
   */
  'modelVersion': (string);
  /**
   * UTF-8, one per row. bytes so that invalid UTF-8 can be rejected with
   * INVALID_ARGUMENT instead of silently replaced by protobufjs.
   */
  'texts': (Buffer)[];
}

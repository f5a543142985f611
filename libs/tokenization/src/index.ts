export { BatchEncoder } from './batch-encoder';
export type { BatchEncoderOptions, EncodedBatch } from './batch-encoder';

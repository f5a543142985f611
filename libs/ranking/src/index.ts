export { FP32_BYTES, rankLogits } from './rank';
export type { LabelScore, RankedRow } from './rank';

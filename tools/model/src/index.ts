// What the tests and the bench use of the training tools: the SST-2 reader and in-process evaluation.
export { classifyBatch, evaluate, loadVersion } from './evaluate';
export type { Evaluation } from './evaluate';
export { readSst2, sst2Dir, wordCount, LONG_TEXT_MIN_WORDS } from './sst2';
export type { LabelledText } from './sst2';

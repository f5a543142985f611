import { Tensor } from 'onnxruntime-node';
import type { RunResult } from '../model-runner';
import type { PaddingPlan, TypedArray, TypedArrayConstructor } from './batch-assembly';

/** The input whose rows say how long each row really is (1 for a token, 0 for padding, padding on the right). */
export const ATTENTION_MASK_INPUT = 'attention_mask';

/**
 * What one more ONNX Runtime run costs, in row-tokens of compute: measured on the sentiment model on this
 * project's 2-core machine (64 SST-2 texts: one padded run 0.37 ms/text, four length-sorted runs of 16 0.19, one
 * run per text 0.36), a run costs about as much as 30 row-tokens. A model with more compute per token makes the
 * constant smaller in truth; erring high only splits less.
 */
const RUN_COST_CELLS = 32;

/**
 * The rows of a batch grouped by their real length, so that each group is padded only to its own longest row:
 * one batch padded to its longest text spends most of its compute on padding (SST-2 texts: 47 padded tokens a row
 * for 14 real ones at 64 rows). Rows are sorted by length and cut into the groups that minimise
 * `runs x RUN_COST_CELLS + sum(rows x longest)` (exact, by dynamic programming over the sorted rows).
 * Returns undefined when one run is as good, or when the mask is not right-padded.
 */
export function lengthGroups(mask: Tensor, runCostCells = RUN_COST_CELLS): { rows: number[]; length: number }[] | undefined {
  const [rows, width] = mask.dims as [number, number];
  if (mask.dims.length !== 2 || rows < 2) return undefined;
  const data = mask.data as TypedArray;
  const lengths = new Array<number>(rows);
  for (let row = 0; row < rows; row++) {
    const base = row * width;
    let length = 0;
    for (let i = 0; i < width; i++) if (Number(data[base + i]) !== 0) length = i + 1;
    // Left padding (a 0 before the last 1) cannot be cut from the right: leave the batch whole.
    for (let i = 0; i < length; i++) if (Number(data[base + i]) === 0) return undefined;
    lengths[row] = Math.max(1, length);
  }
  const order = Array.from({ length: rows }, (_, row) => row).sort((a, b) => lengths[a]! - lengths[b]!);
  // best[j]: the cheapest cost of the first j sorted rows; cut[j]: where its last group starts.
  const best = new Float64Array(rows + 1);
  const cut = new Int32Array(rows + 1);
  for (let j = 1; j <= rows; j++) {
    const longest = lengths[order[j - 1]!]!;
    best[j] = Infinity;
    for (let i = 0; i < j; i++) {
      const cost = best[i]! + runCostCells + (j - i) * longest;
      if (cost < best[j]!) {
        best[j] = cost;
        cut[j] = i;
      }
    }
  }
  if (best[rows]! >= runCostCells + rows * width) return undefined;
  const groups: { rows: number[]; length: number }[] = [];
  for (let j = rows; j > 0; j = cut[j]!) {
    groups.unshift({ rows: order.slice(cut[j]!, j), length: lengths[order[j - 1]!]! });
  }
  return groups.length > 1 || groups[0]!.length < width ? groups : undefined;
}

/**
 * Runs a batch as its length groups (see lengthGroups) and puts the outputs back in row order, or as one run when
 * grouping would not pay, the batch has no attention mask, or an output carries the sequence dimension (its rows
 * would come back at different lengths). The groups are submitted at once, so a runner on another thread takes
 * them back to back; the compute time is their sum.
 */
export async function runInLengthGroups(
  feeds: Readonly<Record<string, Tensor>>,
  plan: PaddingPlan,
  hasSequenceOutput: boolean,
  run: (feeds: Readonly<Record<string, Tensor>>) => Promise<RunResult>,
): Promise<RunResult> {
  const mask = feeds[ATTENTION_MASK_INPUT];
  const groups = mask && !hasSequenceOutput ? lengthGroups(mask) : undefined;
  if (!groups) return run(feeds);
  const totalRows = mask!.dims[0]!;
  const results = await Promise.all(groups.map((group) => run(groupFeeds(feeds, plan, group.rows, group.length))));
  const outputs: Record<string, Tensor> = {};
  for (const name of Object.keys(results[0]!.outputs)) {
    const sample = results[0]!.outputs[name]!;
    const rowElements = sample.dims.slice(1).reduce((a, b) => a * b, 1);
    const data = new ((sample.data as TypedArray).constructor as TypedArrayConstructor)(totalRows * rowElements);
    groups.forEach((group, g) => {
      const source = results[g]!.outputs[name]!.data as TypedArray;
      group.rows.forEach((row, r) => data.set(source.subarray(r * rowElements, (r + 1) * rowElements) as never, row * rowElements));
    });
    outputs[name] = new Tensor(sample.type, data, [totalRows, ...sample.dims.slice(1)]);
  }
  return { outputs, computeMs: results.reduce((sum, result) => sum + result.computeMs, 0) };
}

/** The given rows of every input; sequence inputs cut to `length`. */
function groupFeeds(feeds: Readonly<Record<string, Tensor>>, plan: PaddingPlan, rows: readonly number[], length: number): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, tensor] of Object.entries(feeds)) {
    const source = tensor.data as TypedArray;
    const rowElements = tensor.dims.slice(1).reduce((a, b) => a * b, 1);
    const sequence = plan.padValues.has(name);
    const inner = sequence ? rowElements / tensor.dims[1]! : 0;
    const keep = sequence ? length * inner : rowElements;
    const data = new (source.constructor as TypedArrayConstructor)(rows.length * keep);
    rows.forEach((row, r) => data.set(source.subarray(row * rowElements, row * rowElements + keep) as never, r * keep));
    const dims = sequence ? [rows.length, length, ...tensor.dims.slice(2)] : [rows.length, ...tensor.dims.slice(1)];
    out[name] = new Tensor(tensor.type, data, dims);
  }
  return out;
}

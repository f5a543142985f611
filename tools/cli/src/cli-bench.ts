import type { PipelineClient } from '@inference-mesh/client';
import { runClosedLoop } from '@inference-mesh/tool-kit';
import { performance } from 'node:perf_hooks';
import type { BenchCommand } from './cli-args';
import { TimingTotals } from './cli-output';

/** Sent when no --file is given: short review-like sentences of mixed length. */
export const BUILT_IN_TEXTS: readonly string[] = [
  'a gorgeous, witty, seductive movie.',
  'the plot is a tedious, joyless mess.',
  'an ugly, boring waste of two hours.',
  'one of the most genuinely moving films of the year, with a cast that never hits a false note',
  'flat.',
  'it is neither as funny nor as clever as it thinks it is, and by the end you will not care about anyone in it',
  'a small gem.',
  'the director keeps the pace brisk and the performances honest.',
];

export interface BenchLevel {
  readonly concurrency: number;
  readonly seconds: number;
  readonly texts: number;
  readonly errors: number;
  readonly textsPerSecond: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  /** Distinct error messages seen (the first few; warm-up ones marked so). */
  readonly errorSamples: readonly string[];
  /** The mean timing breakdown of the level's answers (TimingTotals.format), when the gateway reports one. */
  readonly breakdown?: string;
}

/** Error messages shown per level, at most. */
const ERROR_SAMPLES = 3;

/**
 * `imesh bench`: closed-loop callers (each sends its next text when the last is answered) against a running gateway,
 * unary or over one ClassifyStream, per concurrency level: warm-up, then a measured window. Prints a line per level as
 * it finishes, so a long run shows progress.
 */
export async function runBench(
  client: PipelineClient,
  command: BenchCommand,
  texts: readonly string[],
  print: (line: string) => void,
): Promise<BenchLevel[]> {
  if (texts.length === 0) throw new Error('no texts to send');
  const selection = { ...(command.model !== undefined && { model: command.model }), ...(command.version !== undefined && { version: command.version }) };
  const levels: BenchLevel[] = [];
  print(`imesh bench: ${command.connection.target}, ${command.stream ? 'one ClassifyStream' : 'unary Classify'}, ${texts.length} texts, ` +
    `${command.warmupMs / 1000} s warm-up + ${command.durationMs / 1000} s per level`);
  for (const concurrency of command.concurrency) {
    const stream = command.stream ? client.classifyStream({ maxInFlight: concurrency }) : undefined;
    const send = (text: string) => (stream ? stream.send([text], selection) : client.classify([text], selection));
    let level: BenchLevel;
    // The answers of the measured window only (as near as this side can tell: the load generator owns the window).
    const totals = new TimingTotals();
    const windowStart = performance.now() + command.warmupMs;
    const windowEnd = windowStart + command.durationMs;
    try {
      const measured = await runClosedLoop({
        concurrency,
        warmupMs: command.warmupMs,
        durationMs: command.durationMs,
        maxErrorSamples: ERROR_SAMPLES,
        issue: async (_, sequence) => {
          const sent = performance.now();
          const { timing } = await send(texts[sequence % texts.length]!);
          const answered = performance.now();
          if (timing && sent >= windowStart && answered <= windowEnd) totals.add(timing, answered - sent);
          return 1;
        },
      });
      const breakdown = totals.format();
      level = {
        concurrency,
        seconds: measured.windowSeconds,
        texts: measured.rows,
        errors: measured.errors,
        textsPerSecond: measured.rowsPerSecond,
        p50Ms: measured.latency.p50Ms,
        p95Ms: measured.latency.p95Ms,
        p99Ms: measured.latency.p99Ms,
        errorSamples: measured.errorSamples,
        ...(breakdown !== undefined && { breakdown }),
      };
    } finally {
      await stream?.close().catch(() => undefined);
    }
    levels.push(level);
    print(
      `  ${String(concurrency).padStart(5)} callers: ${level.textsPerSecond.toFixed(0).padStart(7)} texts/s, p50 ${level.p50Ms.toFixed(2)} ms, ` +
        `p95 ${level.p95Ms.toFixed(2)} ms, p99 ${level.p99Ms.toFixed(2)} ms, ${level.errors} errors` +
        (level.errors > 0 ? ` (${level.errorSamples.join(' | ')})` : ''),
    );
    if (level.breakdown) print(`         ${level.breakdown}`);
  }
  return levels;
}

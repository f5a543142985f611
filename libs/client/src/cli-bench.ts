import type { BenchCommand } from './cli-args';
import { isPipelineError } from './errors';
import type { PipelineClient } from './pipeline-client';

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
  /** Distinct error messages seen (the first few). */
  readonly errorSamples: readonly string[];
}

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
    const level = await closedLoop(concurrency, command.warmupMs, command.durationMs, texts, send);
    await stream?.close().catch(() => undefined);
    levels.push(level);
    print(
      `  ${String(concurrency).padStart(5)} callers: ${level.textsPerSecond.toFixed(0).padStart(7)} texts/s, p50 ${level.p50Ms.toFixed(2)} ms, ` +
        `p95 ${level.p95Ms.toFixed(2)} ms, p99 ${level.p99Ms.toFixed(2)} ms, ${level.errors} errors` +
        (level.errorSamples.length > 0 ? ` (${level.errorSamples.join(' | ')})` : ''),
    );
  }
  return levels;
}

async function closedLoop(
  concurrency: number,
  warmupMs: number,
  durationMs: number,
  texts: readonly string[],
  send: (text: string) => Promise<unknown>,
): Promise<BenchLevel> {
  const began = performance.now();
  const opensAt = began + warmupMs;
  const closesAt = opensAt + durationMs;
  const latencies: number[] = [];
  const samples = new Set<string>();
  let errors = 0;
  let next = 0;
  const caller = async () => {
    for (let sent = performance.now(); sent < closesAt; sent = performance.now()) {
      const text = texts[next++ % texts.length]!;
      let failed: unknown;
      await send(text).catch((error: unknown) => (failed = error));
      const answered = performance.now();
      if (sent < opensAt || answered > closesAt) continue;
      if (failed === undefined) latencies.push(answered - sent);
      else {
        errors++;
        if (samples.size < 3) samples.add(isPipelineError(failed) ? failed.message : String(failed));
        // A target that fails at once would otherwise spin this loop.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  latencies.sort((a, b) => a - b);
  const at = (p: number) => (latencies.length === 0 ? NaN : latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)]!);
  const seconds = durationMs / 1000;
  return {
    concurrency,
    seconds,
    texts: latencies.length,
    errors,
    textsPerSecond: latencies.length / seconds,
    p50Ms: at(0.5),
    p95Ms: at(0.95),
    p99Ms: at(0.99),
    errorSamples: [...samples],
  };
}

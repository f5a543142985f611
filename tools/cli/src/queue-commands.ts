import {
  boundedSubmissions,
  deadLetterQueueName,
  isQueueSubmitError,
  QueueClient,
  queueDepths,
  retryQueues,
  type QueueDepth,
  type QueueSubmitFailure,
} from '@inference-mesh/client/queue';
import type { ClassifyResult } from '@inference-mesh/client';
import { UsageError } from '@inference-mesh/tool-kit';
import { exitOnStdoutError, openInputFile, writeOut } from './cli-input';
import { formatRefusal, formatResult } from './cli-output';
import { parseQueueCommand, QUEUE_USAGE, type QueueStatsCommand, type SubmitCommand } from './queue-args';

/** `imesh submit ...` and `imesh queue ...` (argv starts with the command); resolves with the exit status. */
export async function runQueueCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  let command;
  try {
    command = parseQueueCommand(argv, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`imesh: ${error.message}\n\n${QUEUE_USAGE}`);
    return 2;
  }
  if (command.kind === 'queue-help') {
    process.stdout.write(QUEUE_USAGE);
    return 0;
  }
  exitOnStdoutError();
  try {
    return command.kind === 'submit' ? await submit(command) : await queueStats(command);
  } catch (error) {
    process.stderr.write(`imesh: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

/** Consecutive lines of the input, sent as one message (its empty lines left out); `firstLine` counts from 1. */
interface Chunk {
  readonly firstLine: number;
  readonly lines: readonly string[];
}

/** The gRPC code name each failure reads as in an error line, as classify --file's refusals do. */
const FAILURE_CODES: Readonly<Record<Exclude<QueueSubmitFailure, 'refused'>, string>> = { timeout: 'DEADLINE_EXCEEDED', aborted: 'CANCELLED', nacked: 'UNAVAILABLE', closed: 'UNAVAILABLE' };

const EMPTY_LINE = { codeName: 'INVALID_ARGUMENT', details: 'empty text: not sent (the gateway refuses an empty text, which would dead-letter its whole message)' };

/**
 * Reads FILE in chunks of --texts-per-message lines, submits them with at most --max-in-flight unprinted (the input
 * waits for the output, so that the buffer of early results stays bounded), and prints each chunk's lines once every
 * chunk before it is printed: input order, in classify --file's format.
 */
async function submit(command: SubmitCommand): Promise<number> {
  // Connected first: the line reader drops lines emitted before it is iterated, so nothing may be awaited between.
  const client = await QueueClient.connect({ url: command.amqpUrl, queue: command.queue });
  const input = openInputFile(command.file);
  const format = { withScores: command.topK !== undefined };
  const options = {
    timeoutMs: command.timeoutMs,
    ...(command.model === undefined ? {} : { model: command.model }),
    ...(command.version === undefined ? {} : { version: command.version }),
    ...(command.topK === undefined ? {} : { topK: command.topK }),
  };
  const progress = new Progress();
  let linesRead = 0;
  let printedChunks = 0;
  let failedLines = 0;
  let release: (() => void) | undefined;
  async function* chunks(): AsyncGenerator<Chunk> {
    let lines: string[] = [];
    let read = 0;
    for await (const line of input.lines) {
      lines.push(line);
      linesRead++;
      if (lines.length < command.textsPerMessage) continue;
      while (read - printedChunks >= command.maxInFlight) await new Promise<void>((resolve) => (release = resolve));
      yield { firstLine: linesRead - lines.length + 1, lines };
      read++;
      lines = [];
    }
    progress.total = linesRead;
    if (lines.length > 0) yield { firstLine: linesRead - lines.length + 1, lines };
  }
  const submitChunk = async (chunk: Chunk): Promise<readonly (ClassifyResult | undefined)[]> => {
    const texts = chunk.lines.filter((line) => line !== '');
    const results = texts.length === 0 ? [] : await client.submit(texts, options);
    let next = 0;
    return chunk.lines.map((line) => (line === '' ? undefined : results[next++]));
  };
  try {
    progress.start();
    const held = new Map<number, string>();
    for await (const outcome of boundedSubmissions(chunks(), submitChunk, command.maxInFlight)) {
      const { error } = outcome;
      // The connection is gone: every message still out fails the same way; one error line for the run, not one per text.
      if (error && (!isQueueSubmitError(error) || error.reason === 'closed')) throw error;
      // A refusal carries the worker's own code (the gateway's status); the others are this side's.
      const failure = error && { codeName: error.reason === 'refused' ? (error.code ?? 'UNKNOWN') : FAILURE_CODES[error.reason], details: error.message };
      const text = outcome.request.lines
        .map((line, i) => {
          const result = outcome.result?.[i];
          if (result) return `${formatResult(line, result, format)}\n`;
          failedLines++;
          return `${formatRefusal(line, outcome.request.firstLine + i, line === '' ? EMPTY_LINE : failure ?? { codeName: 'INTERNAL', details: 'no result for this text in its message' })}\n`;
        })
        .join('');
      held.set(outcome.index, text);
      progress.done += outcome.request.lines.length;
      for (let ready = held.get(printedChunks); ready !== undefined; ready = held.get(printedChunks)) {
        held.delete(printedChunks);
        printedChunks++;
        await writeOut(ready);
      }
      release?.();
    }
  } finally {
    progress.stop();
    input.close();
    await client.close();
  }
  process.stderr.write(`imesh: ${progress.line()}${client.droppedResults > 0 ? `; ${client.droppedResults} duplicate results dropped` : ''}\n`);
  if (failedLines === 0) return 0;
  process.stderr.write(`imesh: ${failedLines} of ${linesRead} line${linesRead === 1 ? '' : 's'} of ${input.name} got no result (their error lines are in the output)\n`);
  return 1;
}

/** Texts done (of how many, once the input is read) and the rate, on stderr once a second. */
class Progress {
  done = 0;
  total: number | undefined;
  private readonly startedAt = Date.now();
  private timer: NodeJS.Timeout | undefined;

  start(): void {
    this.timer = setInterval(() => process.stderr.write(`imesh: ${this.line()}\n`), 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  line(): string {
    const seconds = (Date.now() - this.startedAt) / 1000;
    const rate = seconds > 0 ? Math.round(this.done / seconds) : 0;
    return `submit: ${this.done}${this.total === undefined ? '' : ` of ${this.total}`} texts done in ${seconds.toFixed(1)} s, ${rate} texts/s`;
  }
}

async function queueStats(command: QueueStatsCommand): Promise<number> {
  const roles = [
    { name: command.queue, role: 'requests' },
    { name: deadLetterQueueName(command.queue), role: 'dead-letter' },
    ...retryQueues(command.queue, command.retry).map(({ name }) => ({ name, role: 'retry' })),
  ];
  const depths = await queueDepths(command.amqpUrl, roles.map(({ name }) => name));
  const rows = depths.map((depth, i) => ({ role: roles[i]!.role, ...depth }));
  await writeOut(command.json ? `${JSON.stringify({ queues: rows })}\n` : formatStats(rows));
  return 0;
}

/** One row per queue: name, role, messages ready, consumers (`absent` when the broker has no such queue). */
export function formatStats(rows: readonly (QueueDepth & { readonly role: string })[]): string {
  const table = [['queue', 'role', 'ready', 'consumers'], ...rows.map((row) => [row.name, row.role, ...(row.exists ? [String(row.messages), String(row.consumers)] : ['absent', ''])])];
  const widths = table[0]!.map((_, column) => Math.max(...table.map((cells) => cells[column]!.length)));
  return table.map((cells) => `${cells.map((cell, column) => (column < 2 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ').trimEnd()}\n`).join('');
}

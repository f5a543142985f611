import { readFile } from 'node:fs/promises';
import { runCanary } from './canary';
import { BUILT_IN_TEXTS, runBench } from './cli-bench';
import { UsageError } from '@inference-mesh/tool-kit';
import { parseCommand, USAGE, type ClassifyCommand } from './cli-args';
import { exitOnStdoutError, openInputFile, writeOut } from './cli-input';
import { formatHealth, formatRefusal, formatResult } from './cli-output';
import { runQueueCommand } from './queue-commands';
import { isPipelineError, PipelineClient } from '@inference-mesh/client';

/** Runs `imesh` with `argv` (no `node`, no script path) and returns the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  // Deployment tooling with options of its own, and no gateway connection.
  if (argv[0] === 'canary') {
    // A running `canary run` stops on SIGINT or SIGTERM (a pod being replaced) between steps' reads; its state is recorded.
    const stop = new AbortController();
    const onSignal = () => stop.abort(new Error('stopped by a signal'));
    process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
    try {
      return await runCanary(argv.slice(1), { env: process.env, out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text), signal: stop.signal });
    } finally {
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    }
  }
  // Asynchronous inference through the broker: options of its own, and no gateway connection either.
  if (argv[0] === 'submit' || argv[0] === 'queue') return runQueueCommand(argv, process.env);
  let command;
  try {
    command = parseCommand(argv, process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`imesh: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (command.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }

  exitOnStdoutError();

  let client: PipelineClient | undefined;
  try {
    client = new PipelineClient(command.connection);
    if (command.kind === 'health') {
      const { text, allServing } = formatHealth(await client.healthAll());
      await writeOut(text);
      return allServing ? 0 : 1;
    }
    if (command.kind === 'bench') {
      const texts = command.file === undefined ? BUILT_IN_TEXTS : (await readFile(command.file, 'utf8')).split('\n').filter((line) => line !== '');
      const levels = await runBench(client, command, texts, (line) => process.stdout.write(`${line}\n`));
      // Exit 1 when any request failed: a benchmark of errors is not a benchmark.
      return levels.some((level) => level.errors > 0) ? 1 : 0;
    }
    return await classify(client, command);
  } catch (error) {
    // A PipelineError's message is already `CODE: details`.
    process.stderr.write(`imesh: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    client?.close();
  }
}

/** Resolves with the exit status: 1 when some lines of --file were refused (and not skipped). */
async function classify(client: PipelineClient, command: ClassifyCommand): Promise<number> {
  const { model, version, topK, deadlineMs, batchSize } = command;
  const format = { withScores: topK !== undefined };
  if ('texts' in command.input) {
    const { texts } = command.input;
    const { results, timing } = await client.classify(texts, { model, version, topK, deadlineMs });
    const lineFormat = command.timing && timing ? { ...format, timing } : format;
    for (const [index, result] of results.entries()) await writeOut(`${formatResult(texts[index]!, result, lineFormat)}\n`);
    return 0;
  }
  const input = openInputFile(command.input.file);
  const { name } = input;
  let lines = 0;
  let refused = 0;
  try {
    for await (const item of client.classifyAll(input.lines, { model, version, topK, deadlineMs, batchSize })) {
      lines++;
      if (item.error) {
        refused++;
        if (!command.skipInvalid) await writeOut(`${formatRefusal(item.text, item.index + 1, item.error)}\n`);
      } else await writeOut(`${formatResult(item.text, item.result, command.timing && item.timing ? { ...format, timing: item.timing } : format)}\n`);
    }
  } catch (error) {
    // Lines are yielded in order, so what failed starts right after the last line printed.
    if (isPipelineError(error)) throw new Error(`${error.message} (after line ${lines} of ${name})`, { cause: error });
    throw error;
  } finally {
    // After a failure the rest of the input is unread: a stdin still open would keep the process waiting.
    input.close();
  }
  if (refused === 0) return 0;
  const counted = `${refused} of ${lines} line${lines === 1 ? '' : 's'} of ${name}`;
  // Skipped or not, a refused line is a failure the exit status owns up to: a script must not take it for a clean run.
  if (command.skipInvalid) process.stderr.write(`imesh: skipped ${counted}: refused by the server\n`);
  else process.stderr.write(`imesh: ${counted} refused by the server (their error lines are in the output)\n`);
  return 1;
}

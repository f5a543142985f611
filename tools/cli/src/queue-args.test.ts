import assert from 'node:assert/strict';
import { UsageError } from '@inference-mesh/tool-kit';
import { formatStats } from './queue-commands';
import { parseQueueCommand, QUEUE_USAGE } from './queue-args';

const usageError = (pattern: RegExp) => (error: unknown) => error instanceof UsageError && pattern.test(error.message);
const LOCAL = { amqpUrl: 'amqp://guest:guest@127.0.0.1:5672', queue: 'imesh.classify' };

describe('parseQueueCommand', () => {
  it('parses submit with its defaults, every option, and the environment', () => {
    assert.deepEqual(parseQueueCommand(['submit', '--file', 'in.txt']), { kind: 'submit', ...LOCAL, file: 'in.txt', textsPerMessage: 32, maxInFlight: 256, timeoutMs: 120_000 });
    assert.deepEqual(
      parseQueueCommand(
        ['submit', '-f', '-', '--amqp-url', 'amqp://u:p@broker:5673/vh', '--queue', 'q', '--texts-per-message', '8', '--max-in-flight', '10', '--timeout-ms', '500', '--model', 'sentiment', '--version', '2', '--top-k', '0'],
        { IMESH_AMQP_URL: 'amqp://ignored', IMESH_QUEUE_NAME: 'ignored' },
      ),
      { kind: 'submit', amqpUrl: 'amqp://u:p@broker:5673/vh', queue: 'q', file: '-', textsPerMessage: 8, maxInFlight: 10, timeoutMs: 500, model: 'sentiment', version: '2', topK: 0 },
    );
    const fromEnv = parseQueueCommand(['submit', '-f', 'x'], { IMESH_AMQP_URL: 'amqps://b', IMESH_QUEUE_NAME: 'jobs' });
    assert.deepEqual([fromEnv.kind === 'submit' && fromEnv.amqpUrl, fromEnv.kind === 'submit' && fromEnv.queue], ['amqps://b', 'jobs']);
  });

  it('parses queue stats, with the retry queues of the worker\'s policy from the same variables', () => {
    assert.deepEqual(parseQueueCommand(['queue', 'stats']), { kind: 'queue-stats', ...LOCAL, json: false, retry: { maxAttempts: 5, initialDelayMs: 1000, maxDelayMs: 30_000 } });
    assert.deepEqual(parseQueueCommand(['queue', 'stats', '--json', '--queue', 'q'], { IMESH_RETRY_MAX_ATTEMPTS: '3', IMESH_RETRY_INITIAL_DELAY_MS: '200' }), {
      kind: 'queue-stats',
      amqpUrl: LOCAL.amqpUrl,
      queue: 'q',
      json: true,
      retry: { maxAttempts: 3, initialDelayMs: 200, maxDelayMs: 30_000 },
    });
    assert.deepEqual(parseQueueCommand(['queue', '--help']), { kind: 'queue-help' });
  });

  it('refuses what it cannot run, naming the option; a bad URL is shown without its password', () => {
    assert.throws(() => parseQueueCommand(['submit']), usageError(/"submit" needs --file FILE/));
    assert.throws(() => parseQueueCommand(['submit', 'some text']), usageError(/reads its texts from --file/));
    assert.throws(() => parseQueueCommand(['submit', '-f', 'x', '--texts-per-message', '0']), usageError(/--texts-per-message must be an integer >= 1/));
    assert.throws(() => parseQueueCommand(['submit', '-f', 'x', '--max-in-flight', 'many']), usageError(/--max-in-flight must be an integer >= 1/));
    assert.throws(() => parseQueueCommand(['submit', '-f', 'x', '--json']), usageError(/--json is an option of "queue stats" only/));
    assert.throws(() => parseQueueCommand(['submit', '-f', 'x', '--amqp-url', 'http://u:secret@h']), (error: unknown) => usageError(/amqp:\/\/ or amqps:\/\//)(error) && !String(error).includes('secret'));
    assert.throws(() => parseQueueCommand(['queue']), usageError(/"queue" needs a subcommand: stats/));
    assert.throws(() => parseQueueCommand(['queue', 'purge']), usageError(/unknown queue subcommand "purge"/));
    assert.throws(() => parseQueueCommand(['queue', 'stats', '--top-k', '1']), usageError(/--top-k is an option of "submit" only/));
    assert.throws(() => parseQueueCommand(['queue', 'stats'], { IMESH_RETRY_MAX_ATTEMPTS: 'x' }), usageError(/IMESH_RETRY_MAX_ATTEMPTS must be an integer >= 1/));
    assert.match(QUEUE_USAGE, /amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5672/);
  });
});

describe('formatStats', () => {
  it('aligns one row per queue, a missing one as absent', () => {
    assert.equal(
      formatStats([
        { name: 'q', role: 'requests', exists: true, messages: 12, consumers: 2 },
        { name: 'q.dead', role: 'dead-letter', exists: true, messages: 3, consumers: 0 },
        { name: 'q.retry.1000ms', role: 'retry', exists: false },
      ]),
      'queue           role          ready  consumers\n' +
        'q               requests         12          2\n' +
        'q.dead          dead-letter       3          0\n' +
        'q.retry.1000ms  retry        absent\n',
    );
  });
});

import assert from 'node:assert/strict';
import { UsageError } from '@inference-mesh/tool-kit';
import { parseCommand, USAGE } from './cli-args';

const usageError = (pattern: RegExp) => (error: unknown) => error instanceof UsageError && pattern.test(error.message);

describe('parseCommand', () => {
  it('parses classify with texts and every classify option', () => {
    assert.deepEqual(
      parseCommand(['classify', 'good day', 'bad day', '--model', 'sentiment', '--version', '2', '--top-k', '3', '--deadline-ms', '500']),
      {
        kind: 'classify',
        connection: { target: '127.0.0.1:50051' },
        input: { texts: ['good day', 'bad day'] },
        model: 'sentiment',
        version: '2',
        topK: 3,
        deadlineMs: 500,
      },
    );
  });

  it('parses classify --file with a batch size, "-" for stdin, and texts after --', () => {
    assert.deepEqual(parseCommand(['classify', '--file', '-', '--batch-size', '8']), {
      kind: 'classify',
      connection: { target: '127.0.0.1:50051' },
      input: { file: '-' },
      batchSize: 8,
    });
    assert.deepEqual(parseCommand(['classify', '-f', 'in.txt', '--top-k', '0', '--skip-invalid', '--timing']), {
      kind: 'classify',
      connection: { target: '127.0.0.1:50051' },
      input: { file: 'in.txt' },
      topK: 0,
      skipInvalid: true,
      timing: true,
    });
    const dashed = parseCommand(['classify', '--', '-not-an-option']);
    assert.ok(dashed.kind === 'classify' && 'texts' in dashed.input);
    assert.deepEqual(dashed.input, { texts: ['-not-an-option'] });
  });

  it('takes the target from --target, else IMESH_TARGET, else the default; TLS from --ca/--cert/--key', () => {
    assert.deepEqual(parseCommand(['health'], { IMESH_TARGET: 'gw:443' }), { kind: 'health', connection: { target: 'gw:443' } });
    assert.deepEqual(parseCommand(['health', '--target', 'other:1'], { IMESH_TARGET: 'gw:443' }), {
      kind: 'health',
      connection: { target: 'other:1' },
    });
    assert.deepEqual(parseCommand(['health'], { IMESH_TARGET: '' }), { kind: 'health', connection: { target: '127.0.0.1:50051' } });
    assert.deepEqual(parseCommand(['--ca', 'ca.pem', 'health']), {
      kind: 'health',
      connection: { target: '127.0.0.1:50051', tls: { rootCertsPath: 'ca.pem' } },
    });
    assert.deepEqual(parseCommand(['health', '--cert', 'c.pem', '--key', 'k.pem']), {
      kind: 'health',
      connection: { target: '127.0.0.1:50051', tls: { certChainPath: 'c.pem', privateKeyPath: 'k.pem' } },
    });
  });

  it('answers --help on any command', () => {
    assert.deepEqual(parseCommand(['--help']), { kind: 'help' });
    assert.deepEqual(parseCommand(['classify', '-h']), { kind: 'help' });
    assert.match(USAGE, /^Usage: imesh <command> \[options\]/);
  });

  it('refuses bad usage with a UsageError that says what is wrong', () => {
    const cases: [string[], RegExp][] = [
      [[], /no command/],
      [['classify'], /needs TEXT\.\.\. or --file/],
      [['classify', 'x', '--file', 'in.txt'], /either TEXT\.\.\. or --file/],
      [['classify', '--file', ''], /--file needs a file name/],
      [['classify', 'x', '--batch-size', '4'], /--batch-size applies to --file only/],
      [['classify', 'x', '--skip-invalid'], /--skip-invalid applies to --file only/],
      [['bench', '--skip-invalid'], /--skip-invalid is not an option of "bench"/],
      [['bench', '--timing'], /--timing is not an option of "bench"/],
      [['health', '--timing'], /--timing is not an option of "health"/],
      [['classify', 'x', '--top-k', '-1'], /--top-k/],
      [['classify', 'x', '--top-k', '1.5'], /--top-k must be an integer >= 0/],
      [['classify', 'x', '--deadline-ms', '0'], /--deadline-ms must be an integer >= 1/],
      [['classify', '-f', 'in.txt', '--batch-size', 'lots'], /--batch-size must be an integer >= 1/],
      [['classify', 'x', '--model'], /--model/],
      [['classify', 'x', '--colour'], /Unknown option '--colour'/],
      [['health', '--model', 'm'], /--model is not an option of "health"/],
      [['health', 'extra'], /takes no arguments/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['health', '--cert', 'c.pem'], /--cert and --key must be given together/],
      [['health', '--target', ''], /--target must not be empty/],
      [['classify', 'x', '--stream'], /--stream is an option of "bench" only/],
      [['bench', '--concurrency', '0'], /--concurrency must be positive integers separated by commas/],
      [['bench', '--duration-s', 'soon'], /--duration-s must be a number of seconds/],
      [['bench', '--top-k', '2'], /--top-k is not an option of "bench"/],
      [['bench', 'extra'], /"bench" takes no arguments/],
    ];
    for (const [argv, pattern] of cases) {
      assert.throws(() => parseCommand(argv), usageError(pattern), `imesh ${argv.join(' ')}`);
    }
  });

  it('parses bench with its defaults and every bench option', () => {
    assert.deepEqual(parseCommand(['bench'], {}), {
      kind: 'bench',
      connection: { target: '127.0.0.1:50051' },
      concurrency: [1, 8, 64],
      warmupMs: 1000,
      durationMs: 5000,
      stream: false,
    });
    assert.deepEqual(
      parseCommand(['bench', '--concurrency', '2, 16', '--duration-s', '0.5', '--warmup-s', '0', '--stream', '-f', 'texts.txt', '--model', 'm', '--version', '3'], {}),
      {
        kind: 'bench',
        connection: { target: '127.0.0.1:50051' },
        concurrency: [2, 16],
        warmupMs: 0,
        durationMs: 500,
        stream: true,
        file: 'texts.txt',
        model: 'm',
        version: '3',
      },
    );
  });
});

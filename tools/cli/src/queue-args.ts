import { DEFAULT_AMQP_URL, DEFAULT_QUEUE_NAME, DEFAULT_RETRY_POLICY, redactUrl, type RetryPolicy } from '@inference-mesh/client/queue';
import { definedOnly, optionalInteger, optionTable, parseStrict, UsageError } from '@inference-mesh/tool-kit';

export const QUEUE_USAGE = `Usage: imesh submit --file FILE [options]
       imesh queue stats [--json] [options]

Asynchronous inference through RabbitMQ (the queue-worker consumes the queue and classifies through the gateway).

  submit --file FILE       publish FILE's texts (one per line, "-" reads stdin, as classify --file) as messages of
                           --texts-per-message texts and print each text's result as classify --file does, in input
                           order (results arrive in any order: they are held until the lines before them are
                           printed); progress (texts done, texts/s) on stderr. Empty lines are not sent (the gateway
                           refuses an empty text, which would dead-letter its whole message): each gets an error
                           line. A message without a result within --timeout-ms (dead-lettered, no worker) gets an
                           error line per text. Exit status 1 when any line got an error line.
  queue stats              messages ready and consumers of the request queue, its dead-letter queue (<queue>.dead)
                           and its retry queues (<queue>.retry.<delay>ms, from IMESH_RETRY_MAX_ATTEMPTS,
                           IMESH_RETRY_INITIAL_DELAY_MS and IMESH_RETRY_MAX_DELAY_MS as the worker reads them);
                           unacked messages are not counted

Options:
  --amqp-url URL           the broker (default: $IMESH_AMQP_URL, else ${redactUrl(DEFAULT_AMQP_URL)})
  --queue NAME             the request queue (default: $IMESH_QUEUE_NAME, else ${DEFAULT_QUEUE_NAME})
  -f, --file FILE          submit: the texts
  --texts-per-message N    submit: texts per message (default 32; one per text would make the broker the bottleneck)
  --max-in-flight N        submit: messages published and not yet printed, at most (default 256)
  --timeout-ms N           submit: wait for each message's result at most this long (default 120000)
  --model NAME, --version VERSION, --top-k N   submit: as for classify
  --json                   queue stats: one JSON object instead of a table
  -h, --help               print this help
`;

export interface BrokerArgs {
  readonly amqpUrl: string;
  readonly queue: string;
}

export interface SubmitCommand extends BrokerArgs {
  readonly kind: 'submit';
  readonly file: string;
  readonly textsPerMessage: number;
  readonly maxInFlight: number;
  readonly timeoutMs: number;
  readonly model?: string;
  readonly version?: string;
  /** Present when --top-k was given: the output then carries "scores". */
  readonly topK?: number;
}

export interface QueueStatsCommand extends BrokerArgs {
  readonly kind: 'queue-stats';
  readonly json: boolean;
  /** Which retry queues to look at: the worker's policy, from the same variables. */
  readonly retry: RetryPolicy;
}

export type QueueCommand = SubmitCommand | QueueStatsCommand | { readonly kind: 'queue-help' };

export const SUBMIT_DEFAULTS = { textsPerMessage: 32, maxInFlight: 256, timeoutMs: 120_000 } as const;

const OPTIONS = optionTable({
  text: ['amqp-url', 'queue', 'file', 'texts-per-message', 'max-in-flight', 'timeout-ms', 'model', 'version', 'top-k'],
  flags: ['help', 'json'],
  short: { help: 'h', file: 'f' },
});

const SUBMIT_ONLY = ['file', 'texts-per-message', 'max-in-flight', 'timeout-ms', 'model', 'version', 'top-k'] as const;

/** `imesh submit ...` and `imesh queue ...`, the command name included; throws UsageError. */
export function parseQueueCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): QueueCommand {
  const { values, positionals } = parseStrict(argv, OPTIONS);
  if (values.help) return { kind: 'queue-help' };
  const [name, ...rest] = positionals;
  const broker = parseBroker(values, env);
  if (name === 'submit') {
    if (rest.length > 0) throw new UsageError(`"submit" reads its texts from --file, got ${JSON.stringify(rest[0])}`);
    if (values.json) throw new UsageError('--json is an option of "queue stats" only');
    const { file } = values;
    if (file === undefined) throw new UsageError('"submit" needs --file FILE ("-" for stdin)');
    if (file === '') throw new UsageError('--file needs a file name, or "-" for stdin');
    return {
      kind: 'submit',
      ...broker,
      file,
      textsPerMessage: optionalInteger(values['texts-per-message'], '--texts-per-message', 1) ?? SUBMIT_DEFAULTS.textsPerMessage,
      maxInFlight: optionalInteger(values['max-in-flight'], '--max-in-flight', 1) ?? SUBMIT_DEFAULTS.maxInFlight,
      timeoutMs: optionalInteger(values['timeout-ms'], '--timeout-ms', 1) ?? SUBMIT_DEFAULTS.timeoutMs,
      ...definedOnly({ model: values.model, version: values.version, topK: optionalInteger(values['top-k'], '--top-k', 0) }),
    };
  }
  if (name !== 'queue') throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  if (rest[0] !== 'stats' || rest.length > 1) throw new UsageError(rest.length === 0 ? '"queue" needs a subcommand: stats' : `unknown queue subcommand ${JSON.stringify(rest.join(' '))}: expected stats`);
  const misplaced = SUBMIT_ONLY.find((option) => values[option] !== undefined);
  if (misplaced) throw new UsageError(`--${misplaced} is an option of "submit" only`);
  return { kind: 'queue-stats', ...broker, json: values.json === true, retry: retryPolicyFromEnv(env) };
}

function parseBroker(values: { 'amqp-url'?: string; queue?: string }, env: Readonly<Record<string, string | undefined>>): BrokerArgs {
  const amqpUrl = values['amqp-url'] ?? (env['IMESH_AMQP_URL'] || DEFAULT_AMQP_URL);
  if (!/^amqps?:\/\//.test(amqpUrl)) {
    // Only the scheme: what follows may hold a password.
    throw new UsageError(`--amqp-url (or IMESH_AMQP_URL) must be an amqp:// or amqps:// URL, got one starting ${JSON.stringify(amqpUrl.split('//')[0])}`);
  }
  const queue = values.queue ?? (env['IMESH_QUEUE_NAME'] || DEFAULT_QUEUE_NAME);
  if (queue === '') throw new UsageError('--queue must not be empty');
  return { amqpUrl, queue };
}

function retryPolicyFromEnv(env: Readonly<Record<string, string | undefined>>): RetryPolicy {
  const read = (name: string, fallback: number) => optionalInteger(env[name] || undefined, name, 1) ?? fallback;
  return {
    maxAttempts: read('IMESH_RETRY_MAX_ATTEMPTS', DEFAULT_RETRY_POLICY.maxAttempts),
    initialDelayMs: read('IMESH_RETRY_INITIAL_DELAY_MS', DEFAULT_RETRY_POLICY.initialDelayMs),
    maxDelayMs: read('IMESH_RETRY_MAX_DELAY_MS', DEFAULT_RETRY_POLICY.maxDelayMs),
  };
}

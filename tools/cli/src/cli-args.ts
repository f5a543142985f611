import { DEFAULT_TARGET, type TlsOptions } from '@inference-mesh/client';
import { definedOnly, optionalInteger, optionTable, parseStrict, positiveIntegerList, seconds, UsageError } from '@inference-mesh/tool-kit';

export const USAGE = `Usage: imesh <command> [options]

Commands:
  classify TEXT...         classify the texts in one call; prints one JSON line per text
  classify --file FILE     classify FILE, one text per line, streamed ("-" reads stdin)
  health                   health of the gateway and the services behind it;
                           exit status 0 only if all are SERVING
  bench                    load the gateway: closed-loop callers, one text per request;
                           prints texts/s and p50/p95/p99 per concurrency level, and the
                           mean timing breakdown of its answers
  canary set|status        move traffic between model versions, judge the canary
                           (imesh canary --help)
  submit --file FILE       classify FILE through the RabbitMQ queue the queue-worker consumes;
                           prints classify --file's lines in input order (imesh queue --help)
  queue stats              messages ready and consumers of the request, dead-letter and retry queues

Classify options:
  -f, --file FILE          read the texts from FILE, one per line; empty lines are sent too
  --model NAME             model to use (default: the server's)
  --version VERSION        pin a model version (default: the server chooses)
  --top-k N                also print the N best label scores ("scores"); 0 prints every label
  --deadline-ms N          deadline in milliseconds (TEXT...: default 30000;
                           --file: none by default, and it bounds the whole run)
  --batch-size N           texts per request with --file (default 32)
  --skip-invalid           with --file: leave out the lines the server refuses (empty, not UTF-8) instead of
                           printing an error line for each; their count goes to stderr (exit status 1 still)
  --timing                 add "timing" to each line: where the request's time went in the mesh (ms)

Bench options:
  --concurrency A,B,..     concurrent callers per level (default 1,8,64)
  --duration-s S           measured seconds per level (default 5), after --warmup-s S (default 1)
  --stream                 send over one ClassifyStream instead of unary calls
  -f, --file FILE          texts to cycle through, one per line (default: a few built-in sentences)
  --model NAME, --version VERSION   as for classify

Global options:
  --target HOST:PORT       the gateway (default: $IMESH_TARGET, else ${DEFAULT_TARGET})
  --ca FILE                use TLS, trusting the CA certificates in FILE
  --cert FILE --key FILE   use TLS with this client certificate and key
  -h, --help               print this help

Output: {"text": ..., "label": ..., "score": ..., "model": ..., "model_version": ...} per text,
plus "truncated": true / "degraded": true when so. With --timing, "timing": {"total_ms", "admission_ms",
"coalesce_ms", "tokenizer", "model", "postprocess"}: the gateway's time for the request the text rode in
(shared by that request's texts), each hop's "client_ms" (seen by the gateway) and "server_ms" (the service's
own), and the model's "queue_ms" and "compute_ms" (ONNX Runtime). With --file, a line the server refuses on its own gets
{"text": ..., "line": N, "error": {"code": ..., "message": ...}} in its place, and the rest go on.
Exit status: 0 done, 1 an error from the server (with --file: some lines refused) or while reading the input,
2 bad usage.
`;

export interface ConnectionArgs {
  readonly target: string;
  /** Absent: plaintext. */
  readonly tls?: TlsOptions;
}

export type ClassifyInput = { readonly texts: readonly string[] } | { readonly file: string };

export interface ClassifyCommand {
  readonly kind: 'classify';
  readonly connection: ConnectionArgs;
  readonly input: ClassifyInput;
  readonly model?: string;
  readonly version?: string;
  /** Present when --top-k was given: the output then carries "scores". */
  readonly topK?: number;
  readonly deadlineMs?: number;
  readonly batchSize?: number;
  /** --file only: leave refused lines out of the output (counted on stderr) instead of an error line each. */
  readonly skipInvalid?: true;
  /** --timing: each line carries the timing breakdown of its request. */
  readonly timing?: true;
}

export interface HealthCommand {
  readonly kind: 'health';
  readonly connection: ConnectionArgs;
}

export interface HelpCommand {
  readonly kind: 'help';
}

export interface BenchCommand {
  readonly kind: 'bench';
  readonly connection: ConnectionArgs;
  readonly concurrency: readonly number[];
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly stream: boolean;
  /** Absent: built-in sentences. */
  readonly file?: string;
  readonly model?: string;
  readonly version?: string;
}

export type Command = ClassifyCommand | HealthCommand | BenchCommand | HelpCommand;

const OPTIONS = optionTable({
  text: ['target', 'ca', 'cert', 'key', 'file', 'model', 'version', 'top-k', 'deadline-ms', 'batch-size', 'concurrency', 'duration-s', 'warmup-s'],
  flags: ['help', 'stream', 'skip-invalid', 'timing'],
  short: { help: 'h', file: 'f' },
});

const BENCH_ONLY = ['concurrency', 'duration-s', 'warmup-s', 'stream'] as const;

const CLASSIFY_ONLY = ['file', 'model', 'version', 'top-k', 'deadline-ms', 'batch-size', 'skip-invalid', 'timing'] as const;

/** Parses `imesh`'s arguments (without `node` and the script); throws UsageError for anything it cannot run. */
export function parseCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): Command {
  const { values, positionals } = parseStrict(argv, OPTIONS);
  if (values.help) return { kind: 'help' };

  const [name, ...rest] = positionals;
  if (name === undefined) throw new UsageError('no command given');
  const connection = parseConnection(values, env);

  if (name === 'bench') return parseBench(values, rest, connection);
  const benchOnly = BENCH_ONLY.find((option) => values[option] !== undefined);
  if (benchOnly) throw new UsageError(`--${benchOnly} is an option of "bench" only`);

  if (name === 'health') {
    const misplaced = CLASSIFY_ONLY.find((option) => values[option] !== undefined);
    if (misplaced) throw new UsageError(`--${misplaced} is not an option of "health"`);
    if (rest.length > 0) throw new UsageError(`"health" takes no arguments, got ${JSON.stringify(rest[0])}`);
    return { kind: 'health', connection };
  }
  if (name !== 'classify') throw new UsageError(`unknown command ${JSON.stringify(name)}`);

  const { file } = values;
  if (file !== undefined && rest.length > 0) throw new UsageError('give either TEXT... or --file, not both');
  if (file === undefined && rest.length === 0) throw new UsageError('"classify" needs TEXT... or --file FILE');
  if (file === '') throw new UsageError('--file needs a file name, or "-" for stdin');
  const batchSize = optionalInteger(values['batch-size'], '--batch-size', 1);
  if (batchSize !== undefined && file === undefined) throw new UsageError('--batch-size applies to --file only');
  if (values['skip-invalid'] && file === undefined) throw new UsageError('--skip-invalid applies to --file only');

  return {
    kind: 'classify',
    connection,
    input: file === undefined ? { texts: rest } : { file },
    ...definedOnly({
      model: values.model,
      version: values.version,
      topK: optionalInteger(values['top-k'], '--top-k', 0),
      deadlineMs: optionalInteger(values['deadline-ms'], '--deadline-ms', 1),
      batchSize,
      skipInvalid: values['skip-invalid'] ? (true as const) : undefined,
      timing: values.timing ? (true as const) : undefined,
    }),
  };
}

function parseBench(
  values: { [K in keyof typeof OPTIONS]?: string | boolean },
  rest: readonly string[],
  connection: ConnectionArgs,
): BenchCommand {
  if (rest.length > 0) throw new UsageError(`"bench" takes no arguments, got ${JSON.stringify(rest[0])}`);
  for (const option of ['top-k', 'deadline-ms', 'batch-size', 'skip-invalid', 'timing'] as const) {
    if (values[option] !== undefined) throw new UsageError(`--${option} is not an option of "bench"`);
  }
  const concurrency = positiveIntegerList((values.concurrency as string | undefined) ?? '1,8,64', '--concurrency');
  const secondsOr = (text: string | boolean | undefined, name: string, fallback: number, min: number): number =>
    text === undefined ? fallback : seconds(String(text), name, min);
  const file = values.file as string | undefined;
  if (file === '') throw new UsageError('--file needs a file name');
  return {
    kind: 'bench',
    connection,
    concurrency,
    warmupMs: secondsOr(values['warmup-s'], '--warmup-s', 1, 0) * 1000,
    durationMs: secondsOr(values['duration-s'], '--duration-s', 5, 0.01) * 1000,
    stream: values.stream === true,
    ...definedOnly({ file, model: values.model as string | undefined, version: values.version as string | undefined }),
  };
}

function parseConnection(
  values: { target?: string; ca?: string; cert?: string; key?: string },
  env: Readonly<Record<string, string | undefined>>,
): ConnectionArgs {
  const target = values.target ?? (env['IMESH_TARGET'] || DEFAULT_TARGET);
  if (target === '') throw new UsageError('--target must not be empty');
  const { ca, cert, key } = values;
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--cert and --key must be given together');
  if (ca === undefined && cert === undefined) return { target };
  return { target, tls: definedOnly({ rootCertsPath: ca, certChainPath: cert, privateKeyPath: key }) };
}

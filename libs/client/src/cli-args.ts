import { parseArgs } from 'node:util';
import { DEFAULT_TARGET, type TlsOptions } from './pipeline-client';

export const USAGE = `Usage: imesh <command> [options]

Commands:
  classify TEXT...         classify the texts in one call; prints one JSON line per text
  classify --file FILE     classify FILE, one text per line, streamed ("-" reads stdin)
  health                   health of the gateway and the services behind it;
                           exit status 0 only if all are SERVING
  canary set|status        move traffic between model versions, judge the canary
                           (imesh canary --help)

Classify options:
  -f, --file FILE          read the texts from FILE, one per line; empty lines are sent too
  --model NAME             model to use (default: the server's)
  --version VERSION        pin a model version (default: the server chooses)
  --top-k N                also print the N best label scores ("scores"); 0 prints every label
  --deadline-ms N          deadline in milliseconds (TEXT...: default 30000;
                           --file: none by default, and it bounds the whole run)
  --batch-size N           texts per request with --file (default 32)

Global options:
  --target HOST:PORT       the gateway (default: $IMESH_TARGET, else ${DEFAULT_TARGET})
  --ca FILE                use TLS, trusting the CA certificates in FILE
  --cert FILE --key FILE   use TLS with this client certificate and key
  -h, --help               print this help

Output: {"text": ..., "label": ..., "score": ..., "model": ..., "model_version": ...} per text,
plus "truncated": true / "degraded": true when so.
Exit status: 0 done, 1 an error from the server or while reading the input, 2 bad usage.
`;

/** A command line that cannot be run as given: the CLI prints the message and the usage, and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

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
}

export interface HealthCommand {
  readonly kind: 'health';
  readonly connection: ConnectionArgs;
}

export interface HelpCommand {
  readonly kind: 'help';
}

export type Command = ClassifyCommand | HealthCommand | HelpCommand;

const OPTIONS = {
  target: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  file: { type: 'string', short: 'f' },
  model: { type: 'string' },
  version: { type: 'string' },
  'top-k': { type: 'string' },
  'deadline-ms': { type: 'string' },
  'batch-size': { type: 'string' },
} as const;

const CLASSIFY_ONLY = ['file', 'model', 'version', 'top-k', 'deadline-ms', 'batch-size'] as const;

/** Parses `imesh`'s arguments (without `node` and the script); throws UsageError for anything it cannot run. */
export function parseCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): Command {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0] ?? String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };

  const [name, ...rest] = positionals;
  if (name === undefined) throw new UsageError('no command given');
  const connection = parseConnection(values, env);

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
    }),
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

function optionalInteger(text: string | undefined, name: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Keeps `{ topK: undefined }` out of the command, so that tests and callers compare what was actually given. */
function definedOnly<T extends object>(object: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

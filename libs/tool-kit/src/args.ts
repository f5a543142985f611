import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command line that cannot be run as given: the tool prints the message and its usage, and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

type Alias = { readonly short?: string };

/** What optionTable builds: the option table node:util parseArgs takes, typed so that each value keeps its type. */
export type OptionTable<Text extends string, Flag extends string, List extends string> = {
  readonly [Name in Text]: { readonly type: 'string' } & Alias;
} & { readonly [Name in Flag]: { readonly type: 'boolean' } & Alias } & {
  readonly [Name in List]: { readonly type: 'string'; readonly multiple: true } & Alias;
};

/**
 * A parseArgs option table from option names: `text` options take a value, `flags` take none, `lists` take a value
 * each time they are given; `short` names one-letter aliases.
 */
export function optionTable<const Text extends string, const Flag extends string = never, const List extends string = never>(names: {
  readonly text: readonly Text[];
  readonly flags?: readonly Flag[];
  readonly lists?: readonly List[];
  readonly short?: Partial<Record<NoInfer<Text | Flag | List>, string>>;
}): OptionTable<Text, Flag, List> {
  const table: Record<string, { type: 'string' | 'boolean'; multiple?: true; short?: string }> = {};
  for (const name of names.text) table[name] = { type: 'string' };
  for (const name of names.flags ?? []) table[name] = { type: 'boolean' };
  for (const name of names.lists ?? []) table[name] = { type: 'string', multiple: true };
  for (const [name, short] of Object.entries(names.short ?? {})) if (typeof short === 'string') table[name]!.short = short;
  return table as unknown as OptionTable<Text, Flag, List>;
}

type StrictConfig<T extends OptionsConfig> = { args: string[]; options: T; allowPositionals: true; strict: true };

/** node:util parseArgs with positionals allowed and unknown options refused; its first message line becomes a UsageError. */
export function parseStrict<T extends OptionsConfig>(argv: readonly string[], options: T): ReturnType<typeof parseArgs<StrictConfig<T>>> {
  try {
    return parseArgs<StrictConfig<T>>({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0] ?? String(error));
  }
}

/** A whole number given as digits, at least `min`; undefined when the option was not given. */
export function optionalInteger(text: string | undefined, name: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** A comma-separated list of positive integers (duplicates dropped, order kept), e.g. concurrency levels. */
export function positiveIntegerList(text: string, name: string): number[] {
  const parts = text.split(',').map((part) => part.trim());
  const values = parts.map(Number);
  if (parts.some((part) => part === '') || values.some((value) => !Number.isInteger(value) || value < 1 || value > 100_000)) {
    throw new UsageError(`${name} must be positive integers separated by commas, got ${JSON.stringify(text)}`);
  }
  return [...new Set(values)];
}

/** A number of seconds from `min` to an hour. */
export function seconds(text: string, name: string, min: number): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < min || value > 3600) {
    throw new UsageError(`${name} must be a number of seconds from ${min} to 3600, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Keeps `{ topK: undefined }` out of a parsed command, so that tests and callers compare what was actually given. */
export function definedOnly<T extends object>(object: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

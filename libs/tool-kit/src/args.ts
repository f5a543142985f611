import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command line that cannot be run as given: the tool prints the message and its usage, and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

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

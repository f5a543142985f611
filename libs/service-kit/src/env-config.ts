/** A bad configuration value; the message names every offending environment variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function isConfigError(error: unknown): error is ConfigError {
  return error instanceof ConfigError;
}

interface IntegerBounds {
  readonly min?: number;
  readonly max?: number;
}

/**
 * Reads typed values from environment variables. Problems are collected rather than thrown one at a time, so
 * `done()` can report every bad variable in one message: the operator fixes them all in one go.
 */
export class EnvReader {
  private readonly problems: string[] = [];

  constructor(private readonly env: Readonly<Record<string, string | undefined>>) {}

  string(name: string, fallback: string): string {
    const raw = this.raw(name);
    return raw ?? fallback;
  }

  integer(name: string, fallback: number, bounds: IntegerBounds = {}): number {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    const value = /^-?[0-9]+$/.test(raw) ? Number(raw) : NaN;
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = bounds;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      this.problems.push(`${name}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  }

  /** A decimal number within bounds, e.g. a ratio. */
  number(name: string, fallback: number, bounds: { readonly min: number; readonly max: number }): number {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    const value = /^-?([0-9]+\.?[0-9]*|\.[0-9]+)$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isFinite(value) || value < bounds.min || value > bounds.max) {
      this.problems.push(`${name}=${JSON.stringify(raw)}: expected a number from ${bounds.min} to ${bounds.max}`);
      return fallback;
    }
    return value;
  }

  /** A TCP port; 0 asks the OS for a free one. */
  port(name: string, fallback: number): number {
    return this.integer(name, fallback, { min: 0, max: 65535 });
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    this.problems.push(`${name}=${JSON.stringify(raw)}: expected true or false`);
    return fallback;
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.problems.push(`${name}=${JSON.stringify(raw)}: expected one of ${allowed.join(', ')}`);
    return fallback;
  }

  /** A comma-separated list of integers, e.g. `8,16,32`; empty when unset. */
  integerList(name: string, bounds: IntegerBounds = {}): number[] {
    const raw = this.raw(name);
    if (raw === undefined) return [];
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = bounds;
    const values = raw.split(',').map((part) => (/^\s*-?[0-9]+\s*$/.test(part) ? Number(part) : NaN));
    if (values.some((v) => !Number.isSafeInteger(v) || v < min || v > max)) {
      this.problems.push(`${name}=${JSON.stringify(raw)}: expected a comma-separated list of integers from ${min} to ${max}`);
      return [];
    }
    return values;
  }

  /** Whether the variable is set (and not blank). */
  has(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  /** Records a cross-field problem found by the caller. */
  fail(message: string): void {
    this.problems.push(message);
  }

  /** Throws a ConfigError listing every problem met so far. */
  done(): void {
    if (this.problems.length > 0) {
      throw new ConfigError(`invalid configuration:\n  ${this.problems.join('\n  ')}`);
    }
  }

  private raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }
}

/** Runs `read` over `env` and then reports every bad variable at once (a ConfigError), as each service starts. */
export function parseConfig<Config>(env: Readonly<Record<string, string | undefined>>, read: (env: EnvReader) => Config): Config {
  const reader = new EnvReader(env);
  const config = read(reader);
  reader.done();
  return config;
}

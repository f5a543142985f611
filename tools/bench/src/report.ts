import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname } from 'node:path';

/** A table as both the console and Markdown show it: right-aligned numbers, left-aligned text. */
export interface Table {
  readonly headers: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
  /** Per column: 'l' or 'r'; default: 'r' for every column but the first. */
  readonly align?: ReadonlyArray<'l' | 'r'>;
}

function alignOf(table: Table, column: number): 'l' | 'r' {
  return table.align?.[column] ?? (column === 0 ? 'l' : 'r');
}

export function consoleTable(table: Table): string {
  const widths = table.headers.map((header, c) => Math.max(header.length, ...table.rows.map((row) => (row[c] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => (alignOf(table, c) === 'l' ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [line(table.headers), widths.map((w) => '-'.repeat(w)).join('  '), ...table.rows.map(line)].join('\n');
}

export function markdownTable(table: Table): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|');
  const rule = table.headers.map((_, c) => (alignOf(table, c) === 'l' ? '---' : '---:'));
  return [table.headers, rule, ...table.rows].map((row) => `| ${row.map(escape).join(' | ')} |`).join('\n');
}

/** A level-two heading and its table, as the report lines of a suite. */
export function markdownSection(title: string, table: Table): string {
  return `## ${title}\n\n${markdownTable(table)}\n`;
}

/** The line a report gives its failures: 'No errors.', or the count and each problem. */
export function problemsParagraph(errors: number, problems: readonly string[]): string {
  return errors === 0 && problems.length === 0 ? 'No errors.' : `**${errors} failed requests; problems:**\n\n${problems.map((p) => `- ${p}`).join('\n')}`;
}

/** Fixed decimals, '-' for a missing or non-finite value. */
export function num(value: number | undefined, decimals = 0): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(decimals);
}

/** Thousands separated, no decimals: 12,345. */
export function count(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '-' : Math.round(value).toLocaleString('en-US');
}

export function mib(bytes: number | undefined): string {
  return bytes === undefined ? '-' : (bytes / (1024 * 1024)).toFixed(0);
}

/** Writes next to the target and renames, so a reader never sees half a file (`*.tmp` is git-ignored). */
export function writeFileAtomically(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, content);
  renameSync(temporary, path);
}

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cpuCount: number;
  readonly totalMemoryBytes: number;
  readonly platform: string;
  readonly osRelease: string;
  readonly node: string;
  readonly onnxruntimeNode: string;
  readonly grpcJs: string;
  /** 1, 5 and 15 minute load averages when the run started: other work on a shared machine shows here. */
  readonly loadAverageAtStart: readonly number[];
}

export function machineInfo(): MachineInfo {
  const cores = cpus();
  return {
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    cpuCount: cores.length,
    totalMemoryBytes: totalmem(),
    platform: platform(),
    osRelease: release(),
    node: process.version,
    onnxruntimeNode: packageVersion('onnxruntime-node'),
    grpcJs: packageVersion('@grpc/grpc-js'),
    loadAverageAtStart: loadavg().map((l) => Number(l.toFixed(2))),
  };
}

function packageVersion(name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** JSON.stringify replacer: NaN and infinities become null (JSON has no such numbers); 4 significant decimals. */
export function jsonNumbers(_key: string, value: unknown): unknown {
  if (typeof value !== 'number') return value;
  if (!Number.isFinite(value)) return null;
  return Number.isInteger(value) ? value : Number(value.toFixed(4));
}

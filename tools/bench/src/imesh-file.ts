import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface ImeshFileRun {
  readonly seconds: number;
  /** Why the run failed: its exit, or a line count other than the file's. */
  readonly error?: string;
  /** With `keepOutput`: stdout's lines, one per text. */
  readonly lines?: readonly string[];
}

/**
 * Runs the `imesh` CLI over a file of `lines` texts (`classify --file`, `submit --file`) to the end: resolves with
 * its wall time, or why it failed. Output is counted, not kept, unless asked: 10,000 lines are cheap, but the
 * bench measures the CLI, not its own parsing.
 */
export async function runImeshOverFile(repoRoot: string, args: readonly string[], lines: number, { keepOutput = false } = {}): Promise<ImeshFileRun> {
  const cli = join(repoRoot, 'tools', 'cli', 'bin', 'imesh.js');
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [cli, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let newlines = 0;
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) newlines++;
    if (keepOutput) chunks.push(chunk);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-2000)));
  // Generous: 20 texts/s would be a hundred times slower than this machine runs it.
  const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(120_000, lines * 50));
  const how = await new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(error.message));
    child.once('close', (code, signal) => resolve(signal ? `signal ${signal}` : `exit code ${code}`));
  });
  clearTimeout(timer);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (how !== 'exit code 0') return { seconds, error: `${how}: ${stderr.trim().split('\n').slice(-3).join(' | ')}` };
  if (newlines !== lines) return { seconds, error: `${newlines} output lines for ${lines} texts` };
  return { seconds, ...(keepOutput && { lines: Buffer.concat(chunks).toString('utf8').split('\n', lines) }) };
}

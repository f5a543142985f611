import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Debian's interpreter, which has python3-torch; the `python3` on PATH may be another one without it. */
const TORCH_PYTHON = '/usr/bin/python3';

/**
 * Exports the BERT-base-shaped synthetic model into `versionDir` unless it is already there. It is ~370 MB, so it
 * is built on the machine that benchmarks rather than committed.
 */
export async function ensureSyntheticModel(repoRoot: string, versionDir: string, log: (line: string) => void): Promise<void> {
  if (existsSync(join(versionDir, 'model.onnx'))) return;
  const script = join(repoRoot, 'tools', 'model', 'export_synthetic.py');
  log(`exporting the synthetic BERT-base-shaped model to ${versionDir} (once; about 20 s) ...`);
  const code = await new Promise<number | string>((resolve) => {
    const child = spawn(TORCH_PYTHON, [script, '--out', versionDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => text.split('\n').filter(Boolean).forEach((line) => log(`    ${line}`)));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-2000)));
    child.on('error', (error) => resolve(`${TORCH_PYTHON} could not run: ${error.message}`));
    child.on('exit', (exitCode) => resolve(exitCode === 0 ? 0 : `exit code ${exitCode}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
  });
  if (code !== 0) {
    throw new Error(
      `exporting the synthetic model failed (${code}). It needs Debian's torch and onnx: ` +
        'apt-get install -y python3-torch python3-onnx',
    );
  }
}

// `npx imesh ...` from the checkout, as the README says, for the tests that drive the CLI against a real mesh.
import { REPO_ROOT } from '@inference-mesh/launcher';
import { spawn } from 'node:child_process';

export interface ImeshRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `npx imesh ARGS` with `stdin` piped in (closed at once when empty) and collects what it printed. */
export function runImesh(args: readonly string[], stdin = ''): Promise<ImeshRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['--no-install', 'imesh', ...args], { cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    // Warnings npx adds (a user's npm config, say) are not imesh's output.
    child.on('close', (code) => resolve({ code, stdout, stderr: stderr.replace(/^npm warn .*\n/gm, '') }));
    child.stdin.end(stdin);
  });
}

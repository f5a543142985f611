// Building and running the project's real images with podman, for deploy-images.test.ts. No registry is reachable
// here, so the base images the Dockerfile names are local stand-ins (docker/stand-in-base.sh); the Dockerfile
// itself is built unchanged.
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { REPO_ROOT } from './deploy-support';

/** What a podman command printed, or why it failed with all of its output. */
interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

export class Podman {
  private readonly env: NodeJS.ProcessEnv;

  private constructor(configDir: string) {
    // crun refuses this machine's cgroup setup and podman's default ulimits cannot be set in it (README,
    // "Images"): runc, and the images' own limits.
    const config = join(configDir, 'containers.conf');
    writeFileSync(config, '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n');
    this.env = { ...process.env, CONTAINERS_CONF: config };
  }

  /** Throws, saying what to install, when podman, runc or mmdebstrap are missing (.ci/run installs them). */
  static create(): Podman {
    const missing = ['podman', 'runc', 'mmdebstrap'].filter((tool) => !onPath(tool));
    if (missing.length > 0) {
      throw new Error(`${missing.join(', ')} not on PATH: the image tests build and run the images with podman (Debian: apt-get install podman runc mmdebstrap; .ci/run installs them)`);
    }
    return new Podman(mkdtempSync(join(tmpdir(), 'imesh-podman-')));
  }

  run(args: readonly string[], timeoutMs = 60_000): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      execFile('podman', args, { env: this.env, cwd: REPO_ROOT, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`podman ${args.join(' ')}: ${error.message}\n${stderr.slice(-4000)}`));
        else resolve({ stdout, stderr });
      });
    });
  }

  /**
   * A long command (a base image, an image build) with its output kept and a line on stderr every `progressS`
   * seconds, so a CI log shows it is moving; rejects with the output's tail when it fails.
   */
  long(label: string, command: string, args: readonly string[], timeoutMs: number, progressS = 30): Promise<void> {
    const started = Date.now();
    const output: string[] = [];
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, { env: this.env, cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      const keep = (chunk: Buffer) => {
        output.push(chunk.toString('utf8'));
        if (output.length > 400) output.splice(0, output.length - 400);
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      const lastStep = () => output.join('').match(/STEP \d+\/\d+: [^\n]*/g)?.pop() ?? '';
      const progress = setInterval(() => process.stderr.write(`      ${label}: ${Math.round((Date.now() - started) / 1000)} s ${lastStep().slice(0, 100)}\n`), progressS * 1000);
      const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('close', (code, signal) => {
        clearInterval(progress);
        clearTimeout(killer);
        if (code === 0) resolve();
        else reject(new Error(`${label} failed (${signal ?? `exit ${code}`}) after ${Math.round((Date.now() - started) / 1000)} s:\n${output.join('').slice(-6000)}`));
      });
    });
  }

  /** The Dockerfile's `target`, built with the repository as the context, as `podman build` does it here. */
  build(target: string, tag: string, timeoutMs: number): Promise<void> {
    return this.long(`build ${target}`, 'podman', ['build', '--isolation', 'chroot', '--network', 'host', '-f', 'docker/Dockerfile', '--target', target, '-t', tag, '.'], timeoutMs);
  }

  /** Builds the stand-ins for the Dockerfile's base images, unless they exist. */
  standInBase(timeoutMs: number): Promise<void> {
    return this.long('stand-in base images', 'bash', ['docker/stand-in-base.sh'], timeoutMs);
  }

  async imageSizeBytes(tag: string): Promise<number> {
    const { stdout } = await this.run(['image', 'inspect', '--format', '{{.Size}}', tag]);
    return Number(stdout.trim());
  }

  async inspect(name: string, format: string): Promise<string> {
    return (await this.run(['inspect', '--format', format, name])).stdout.trim();
  }

  async logs(name: string): Promise<string> {
    return this.run(['logs', name]).then(
      ({ stdout, stderr }) => stdout + stderr,
      (error: Error) => error.message,
    );
  }

  async remove(name: string): Promise<void> {
    await this.run(['rm', '--force', '--ignore', name]).catch(() => undefined);
  }
}

function onPath(tool: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return dir !== '';
    } catch {
      return false;
    }
  });
}

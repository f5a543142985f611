import { PipelineClient } from '@inference-mesh/client';
import { freePort, MESH_SERVICES, type MeshService, REPO_ROOT } from '@inference-mesh/launcher';
import { SERVICE_NAMES } from '@inference-mesh/protos';
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';

const START_MESH = join(REPO_ROOT, 'tools', 'launcher', 'dist', 'start-mesh.js');
const MARKER_VARIABLE = 'IMESH_LAUNCHER_TEST_RUN';
let launched = 0;

/** Every service on a free port, metrics included; the gateway polls its downstreams often, so a test sees a change soon. */
const FREE_PORTS: Readonly<Record<string, string>> = {
  ...Object.fromEntries(MESH_SERVICES.flatMap((service) => [[portVariable(service), '0'], [`IMESH_${service.toUpperCase()}_METRICS_PORT`, '0']])),
  IMESH_HEALTH_POLL_INTERVAL_MS: '200',
};

/**
 * `npm start` as a user runs it: tools/launcher/dist/start-mesh.js in a process group of its own, with its
 * output kept. Each service's pid is read from the launcher's SERVING list (and from its restart lines).
 */
class Launcher {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stdout = '';
  private stderr = '';

  /** In every service's environment: finds what this launcher started, whatever became of the launcher. */
  readonly marker = `launcher-test-${process.pid}-${++launched}`;

  constructor(env: Readonly<Record<string, string>>) {
    this.child = spawn(process.execPath, [START_MESH], {
      env: { ...process.env, ...env, [MARKER_VARIABLE]: this.marker },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get output(): string {
    return `${this.stdout}${this.stderr}`;
  }

  /** Resolves with the first match of `pattern` in the output; rejects, with the output, on timeout or exit. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let ended = false;
    void this.exited.then(() => (ended = true));
    for (;;) {
      const match = pattern.exec(this.output);
      if (match) return match;
      if (ended) throw new Error(`the launcher exited before printing ${pattern}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${this.output}`);
      await sleep(50);
    }
  }

  async waitUntilServing(): Promise<void> {
    await this.waitFor(/Ctrl-C stops everything/, 45_000);
  }

  /** Each service's address and pid as the SERVING list shows them. */
  served(): Record<MeshService, { address: string; pid: number }> {
    const listed = [...this.stdout.matchAll(/^ {2}(\w+) +(\S+) {2}\(pid (\d+)\)$/gm)];
    return Object.fromEntries(listed.map(([, service, address, pid]) => [service, { address: address!, pid: Number(pid) }])) as Record<
      MeshService,
      { address: string; pid: number }
    >;
  }

  /** Every service pid the launcher has printed, restarted ones included. */
  pids(): number[] {
    return [...this.output.matchAll(/\(pid (\d+)\)/g)].map(([, pid]) => Number(pid));
  }

  /** The service processes this launcher started that are still running. */
  services(): number[] {
    return processesWithEnvironment(`${MARKER_VARIABLE}=${this.marker}`).filter((pid) => pid !== this.child.pid);
  }

  /** Whatever was left alive: the launcher's group, then every service it started. */
  kill(): void {
    for (const target of [-this.child.pid!, ...this.services()]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }
}

describe('npm start: the launcher leaves no service behind, restarts one that crashes, and says what is wrong', function () {
  this.timeout(60_000);
  /** Launchers started by the running test (killed after it) or by a suite's `before` (killed after the suite). */
  const launchers: { launcher: Launcher; forSuite: boolean }[] = [];
  const held: Server[] = [];
  const launch = (env: Readonly<Record<string, string>> = {}, forSuite = false) => {
    const launcher = new Launcher({ ...FREE_PORTS, ...env });
    launchers.push({ launcher, forSuite });
    return launcher;
  };
  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      for (const { launcher } of launchers) process.stderr.write(`--- launcher output\n${launcher.output.slice(-4_000)}\n`);
    }
    for (const { launcher } of launchers.filter((entry) => !entry.forSuite)) launcher.kill();
  });
  after(async () => {
    for (const { launcher } of launchers.splice(0)) launcher.kill();
    await Promise.all(held.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  });

  describe('one mesh for a crash and then a SIGKILL of the launcher', () => {
    let launcher: Launcher;
    before(async function () {
      launcher = launch({}, true);
      await launcher.waitUntilServing();
    });
    after(() => launcher?.kill());

    it('prints every service with its pid, and the --target to use when the gateway is not on the default port', () => {
      const served = launcher.served();
      assert.deepEqual(Object.keys(served).sort(), [...MESH_SERVICES].sort());
      assert.match(launcher.output, new RegExp(`npx imesh classify --target ${escape(served.gateway.address)} "`));
    });

    it('restarts a downstream killed with SIGKILL on the same port: the gateway says NOT_SERVING meanwhile, then it serves again', async () => {
      const { tokenizer, gateway } = launcher.served();
      const client = new PipelineClient({ target: gateway.address, defaultDeadlineMs: 5_000 });
      const tokenizerHealth = () => client.health(SERVICE_NAMES.tokenizer).catch((error: unknown) => String(error));
      try {
        assert.equal(await tokenizerHealth(), 'SERVING');
        process.kill(tokenizer.pid, 'SIGKILL');
        const seen: string[] = [];
        const deadline = Date.now() + 20_000;
        while (seen.at(-1) !== 'SERVING' || !seen.includes('NOT_SERVING')) {
          assert.ok(Date.now() < deadline, `the tokenizer did not come back: health answers ${JSON.stringify(seen)}\n${launcher.output}`);
          const status = await tokenizerHealth();
          if (status !== seen.at(-1)) seen.push(status);
          await sleep(50);
        }
        const [, pid] = await launcher.waitFor(new RegExp(`tokenizer restarted: ${escape(tokenizer.address)} {2}\\(pid (\\d+)\\)`), 5_000);
        assert.notEqual(Number(pid), tokenizer.pid);
        assert.match(launcher.output, new RegExp(`tokenizer \\(pid ${tokenizer.pid}\\) exited unexpectedly \\(SIGKILL\\); restarting it in 1 s`));
        const answer = await client.classify(['a gorgeous, witty, seductive movie.']);
        assert.equal(answer.results[0]!.label, 'positive', 'the mesh serves again through the restarted tokenizer');
        assert.equal(launcher.child.exitCode, null, 'the launcher kept running');
      } finally {
        client.close();
      }
    });

    it('restarts the gateway too, on the same port', async () => {
      const { gateway } = launcher.served();
      process.kill(gateway.pid, 'SIGKILL');
      await launcher.waitFor(new RegExp(`gateway restarted: ${escape(gateway.address)} {2}\\(pid \\d+\\)`), 20_000);
      const client = new PipelineClient({ target: gateway.address, defaultDeadlineMs: 5_000 });
      try {
        assert.equal((await client.classify(['an ugly, boring waste of two hours.'])).results[0]!.label, 'negative');
      } finally {
        client.close();
      }
    });

    it('a second mesh on the same ports: one message per taken port, naming it and its variable; the first mesh serves on', async () => {
      const served = launcher.served();
      const ports = Object.fromEntries(MESH_SERVICES.map((service) => [portVariable(service), served[service].address.split(':').pop()!]));
      const second = launch(ports);
      const { code } = await withTimeout(second.exited, 45_000, 'the second launcher did not give up on taken ports');
      assert.equal(code, 1, second.output);
      for (const service of ['tokenizer', 'model', 'postprocess'] as const) {
        const message = `${service}: port ${ports[portVariable(service)]} is already in use (another mesh running?): stop it or set ${portVariable(service)}`;
        assert.equal(second.output.split(message).length - 1, 1, `said once:\n${second.output}`);
      }
      assert.deepEqual(second.services(), [], 'the second mesh left nothing running');
      const client = new PipelineClient({ target: served.gateway.address, defaultDeadlineMs: 5_000 });
      try {
        assert.equal((await client.classify(['a gorgeous, witty, seductive movie.'])).results[0]!.label, 'positive');
      } finally {
        client.close();
      }
    });

    it('SIGKILL of the launcher: every service (the restarted ones included) is gone within 2 s', async () => {
      const pids = launcher.pids();
      assert.ok(pids.length >= 4, `the four services, and any restarted: ${pids}`);
      process.kill(launcher.child.pid!, 'SIGKILL');
      await launcher.exited;
      const left = await aliveAfter(pids, 2_000);
      assert.deepEqual(left, [], 'services still running 2 s after the launcher was killed');
      assert.deepEqual(launcher.services(), [], 'nothing else it started is running either');
    });
  });

  it('a supervisor\'s stop (SIGTERM to the group, SIGKILL soon after) leaves no service behind 2 s later, even one still draining', async () => {
    // Every service keeps serving 5 s after its SIGTERM: the gateway, stopped first, is mid-drain when the launcher dies.
    const launcher = launch({ IMESH_SHUTDOWN_GRACE_MS: '5000' });
    await launcher.waitUntilServing();
    const pids = launcher.pids();
    process.kill(-launcher.child.pid!, 'SIGTERM');
    await sleep(300);
    process.kill(launcher.child.pid!, 'SIGKILL');
    await launcher.exited;
    assert.deepEqual(await aliveAfter(pids, 2_000), [], 'services still running 2 s after the launcher was killed');
    assert.deepEqual(launcher.services(), []);
  });

  it('SIGHUP to the process group (a closed terminal) stops every service and the launcher, cleanly', async () => {
    const launcher = launch();
    await launcher.waitUntilServing();
    const pids = launcher.pids();
    process.kill(-launcher.child.pid!, 'SIGHUP');
    const { code, signal } = await withTimeout(launcher.exited, 20_000, 'the launcher did not stop after SIGHUP');
    assert.deepEqual([code, signal], [0, null]);
    assert.match(launcher.output, /SIGHUP: stopping the services \.\.\.\nstopped\./);
    assert.deepEqual(await aliveAfter(pids, 1_000), []);
    assert.deepEqual(launcher.services(), []);
  });

  it('a taken gateway port: one message naming the port and the variable, the downstreams stopped, exit code 1', async () => {
    const port = await freePort();
    held.push(await listen(port));
    const launcher = launch({ IMESH_GATEWAY_PORT: String(port) });
    const { code } = await withTimeout(launcher.exited, 45_000, 'the launcher did not give up on a taken port');
    const message = `gateway: port ${port} is already in use (another mesh running?): stop it or set IMESH_GATEWAY_PORT`;
    assert.equal(code, 1, launcher.output);
    assert.equal(launcher.output.split(message).length - 1, 1, `said once:\n${launcher.output}`);
    assert.doesNotMatch(launcher.output, /No address added/);
    assert.deepEqual(launcher.services(), [], 'the downstreams it had started are stopped');
  });

  it('bad values: every service reports its own, once, as the user wrote it, and nothing is left running', async () => {
    const launcher = launch({ IMESH_GATEWAY_PORT: 'abc', IMESH_MODEL_PORT: '-5' });
    const { code } = await withTimeout(launcher.exited, 45_000, 'the launcher did not give up on bad values');
    assert.equal(code, 1, launcher.output);
    for (const problem of ['IMESH_GATEWAY_PORT="abc": expected an integer', 'IMESH_MODEL_PORT="-5": expected an integer']) {
      assert.equal(launcher.output.split(problem).length - 1, 1, `${problem} said once:\n${launcher.output}`);
    }
    assert.doesNotMatch(launcher.output, /"NaN"/);
    assert.deepEqual(launcher.services(), [], 'the services that had started are stopped');
  });
});

function portVariable(service: MeshService): string {
  return `IMESH_${service.toUpperCase()}_PORT`;
}

/** The pids in `pids` still running (zombies count as gone) once `withinMs` has passed, polled meanwhile. */
async function aliveAfter(pids: readonly number[], withinMs: number): Promise<number[]> {
  const deadline = Date.now() + withinMs;
  let alive = pids.filter(isRunning);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50);
    alive = alive.filter(isRunning);
  }
  return alive;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // An exited child nobody has reaped yet (its parent died, and PID 1 in a container may not reap) is a zombie.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Running processes (Linux /proc, zombies left out) whose environment holds `entry`, e.g. `NAME=value`. */
function processesWithEnvironment(entry: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'utf8').split('\0').includes(entry) && isRunning(Number(name))) found.push(Number(name));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

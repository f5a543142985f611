import type { TlsOptions } from '@inference-mesh/client';
import { launchService, terminate, type MeshService, type ServiceProcess } from '@inference-mesh/launcher';
import { FaultProxy } from './fault-proxy';

/**
 * Real service processes for one fault-injection suite, started one by one (several model replicas, a second
 * gateway, proxies in between) and all stopped after it. Logs are kept: a failed test prints the last ones, and
 * tests count log lines (e.g. the gateway's debug line for each retry).
 */
export class ProcessGroup {
  readonly logs: { service: MeshService; line: string }[] = [];
  private readonly started: ServiceProcess[] = [];
  private readonly proxies: FaultProxy[] = [];

  async launch(service: MeshService, env: Readonly<Record<string, string>> = {}, tls?: TlsOptions): Promise<ServiceProcess> {
    const launched = await launchService(service, '127.0.0.1', 0, env, (name, line) => this.logs.push({ service: name, line }), 120_000, tls);
    this.started.push(launched);
    return launched;
  }

  async proxy(target: string): Promise<FaultProxy> {
    const proxy = await FaultProxy.start(target);
    this.proxies.push(proxy);
    return proxy;
  }

  /** How many log lines of `service` match `pattern`, from index `from` of `logs` on (e.g. the length before a fault). */
  count(service: MeshService, pattern: RegExp, from = 0): number {
    let count = 0;
    for (let i = from; i < this.logs.length; i++) if (this.logs[i]!.service === service && pattern.test(this.logs[i]!.line)) count++;
    return count;
  }

  async stopAll(): Promise<void> {
    const order = [...this.started].sort((a, b) => Number(b.service === 'gateway') - Number(a.service === 'gateway'));
    for (const { process } of order) await terminate(process, 10_000);
    for (const proxy of this.proxies) await proxy.kill();
  }
}

/** A ProcessGroup for the enclosing mocha suite. */
export function useProcessGroup(): ProcessGroup {
  const group = new ProcessGroup();
  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      const tail = group.logs.slice(-60).map(({ service, line }) => `${service}: ${line}`);
      process.stderr.write(`--- service logs (last 60 lines)\n${tail.join('\n')}\n`);
    }
  });
  after(async function () {
    this.timeout(60_000);
    await group.stopAll();
  });
  return group;
}

/** One line of the README's reliability table, printed by each fault test. */
export function report(scenario: string, figures: { sent: number; succeeded: number; failed: number; ms: number }, note = ''): void {
  process.stdout.write(
    `      [reliability] ${scenario} | sent ${figures.sent} | succeeded ${figures.succeeded} | failed ${figures.failed} | ${(figures.ms / 1000).toFixed(1)} s${note ? ` | ${note}` : ''}\n`,
  );
}

import type * as grpc from '@grpc/grpc-js';
import { HealthChecker, type ServingStatus } from '@inference-mesh/service-kit';

/** Asks one downstream for its overall health (service ""); resolves, never rejects. */
export type HealthProbe = (deadlineMs: number) => Promise<ServingStatus>;

/**
 * Mirrors each downstream's health into the gateway's own health service under the downstream's service
 * name, so `imesh health` (or any grpc.health.v1 client) sees the whole pipeline through the gateway alone.
 * The gateway's own status does not depend on them: a gateway whose tokenizer is down still answers, fast,
 * with UNAVAILABLE, which is better than being taken out of its load balancer.
 */
export class DownstreamHealthMirror {
  private timer: NodeJS.Timeout | undefined;
  private readonly last = new Map<string, ServingStatus>();

  constructor(
    private readonly probes: ReadonlyMap<string, HealthProbe>,
    private readonly publish: (serviceName: string, status: ServingStatus) => void,
    private readonly intervalMs: number,
  ) {}

  /** Probes once now, then every interval. */
  start(): Promise<void> {
    const round = this.probeAll();
    this.timer = setInterval(() => void this.probeAll(), this.intervalMs);
    this.timer.unref();
    return round;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async probeAll(): Promise<void> {
    const deadlineMs = Date.now() + Math.min(this.intervalMs, 1_000);
    await Promise.all(
      [...this.probes].map(async ([serviceName, probe]) => {
        const status = await probe(deadlineMs);
        if (this.last.get(serviceName) !== status) {
          this.last.set(serviceName, status);
          this.publish(serviceName, status);
        }
      }),
    );
  }
}

/** A probe over gRPC health Check; anything but SERVING (including no answer) reads as NOT_SERVING. */
export function grpcHealthProbe(target: string, options: grpc.ChannelOptions, credentials?: grpc.ChannelCredentials): HealthProbe {
  const checker = new HealthChecker(target, options, credentials);
  return async (deadlineMs) => ((await checker.check('', deadlineMs)) === 'SERVING' ? 'SERVING' : 'NOT_SERVING');
}

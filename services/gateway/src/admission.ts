import { status } from '@grpc/grpc-js';
import { ServiceError } from '@inference-mesh/service-kit';
import { GATEWAY_SHED_SOURCE, type GatewayMetrics } from './gateway-metrics';

/**
 * The gateway's own bulkhead: at most `limit` pipeline requests in flight, the next refused at once with
 * RESOURCE_EXHAUSTED (no queue: a caller learns now that it should back off, instead of waiting behind work the
 * gateway cannot do in time). RESOURCE_EXHAUSTED, not UNAVAILABLE, so neither our SDK, Envoy nor a mesh's
 * outlier detection counts it as the gateway failing.
 */
export class AdmissionGate {
  private inFlight = 0;

  constructor(
    private readonly limit: number,
    private readonly metrics?: GatewayMetrics,
  ) {}

  get current(): number {
    return this.inFlight;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.inFlight >= this.limit) {
      this.metrics?.recordShed(GATEWAY_SHED_SOURCE);
      throw new ServiceError(status.RESOURCE_EXHAUSTED, `the gateway is at capacity (${this.limit} requests in flight); retry later with backoff`);
    }
    this.inFlight++;
    this.metrics?.addInFlight(1);
    try {
      return await work();
    } finally {
      this.inFlight--;
      this.metrics?.addInFlight(-1);
    }
  }
}

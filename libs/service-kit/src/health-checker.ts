import * as grpc from '@grpc/grpc-js';
import { checkHealth, type HealthStatus } from '@inference-mesh/protos';

/** What a grpc.health.v1 Check says, plus UNREACHABLE: the check itself failed (no connection, deadline). */
export type HealthAnswer = HealthStatus | 'UNREACHABLE';

/** A grpc.health.v1 client for one target (protos' checkHealth on a channel of its own); `check` never rejects. */
export class HealthChecker {
  private readonly client: grpc.Client;

  constructor(target: string, options: grpc.ChannelOptions = {}, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()) {
    this.client = new grpc.Client(target, credentials, options);
  }

  /** `deadlineMs` is absolute (epoch milliseconds). */
  check(service: string, deadlineMs: number): Promise<HealthAnswer> {
    return checkHealth(this.client, service, { deadline: deadlineMs }).catch((): HealthAnswer => 'UNREACHABLE');
  }

  close(): void {
    this.client.close();
  }
}

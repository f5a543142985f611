import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

/** What a grpc.health.v1 Check says, plus the two ways it can fail to say it. */
export type HealthAnswer = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN' | 'SERVICE_UNKNOWN' | 'UNREACHABLE';

interface HealthStub extends grpc.Client {
  Check(
    request: { service: string },
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: { status: string | number }) => void,
  ): grpc.ClientUnaryCall;
}

const HealthStub = grpc.makeGenericClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'Health');
const STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

/** A grpc.health.v1 client for one target; `check` resolves with the answer and never rejects. */
export class HealthChecker {
  private readonly stub: HealthStub;

  constructor(target: string, options: grpc.ChannelOptions = {}, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()) {
    this.stub = new HealthStub(target, credentials, options) as unknown as HealthStub;
  }

  check(service: string, deadlineMs: number): Promise<HealthAnswer> {
    return new Promise((resolve) => {
      this.stub.Check({ service }, { deadline: deadlineMs }, (error, response) => {
        if (error) resolve(error.code === grpc.status.NOT_FOUND ? 'SERVICE_UNKNOWN' : 'UNREACHABLE');
        else resolve(typeof response!.status === 'number' ? (STATUS_NAMES[response!.status] ?? 'UNKNOWN') : (response!.status as HealthAnswer));
      });
    });
  }

  close(): void {
    this.stub.close();
  }
}

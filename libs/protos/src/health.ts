import { Metadata, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

/** What a grpc.health.v1 Check answers; SERVICE_UNKNOWN is a server that does not know the name (NOT_FOUND). */
export type HealthStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN' | 'SERVICE_UNKNOWN';

interface HealthCheckResponse {
  readonly status?: unknown;
}

const checkMethod = healthService['Check'];
const KNOWN_STATUSES: ReadonlySet<unknown> = new Set<HealthStatus>(['SERVING', 'NOT_SERVING', 'UNKNOWN', 'SERVICE_UNKNOWN']);
/** The enum's numbers, for a response decoded without `enums: String`. */
const STATUS_NAMES: readonly HealthStatus[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

export interface HealthCheckOptions {
  /** Absolute, epoch milliseconds; absent: none. */
  readonly deadline?: number | undefined;
  /** Aborting cancels the call; it then rejects with CANCELLED. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * The one grpc.health.v1 `Check` client of the mesh (the SDK's health calls and the services' health checks use
 * it), over any grpc-js channel: a client of another service shares its connection. NOT_FOUND is an answer,
 * SERVICE_UNKNOWN; any other failure rejects with grpc-js's ServiceError.
 */
export function checkHealth(client: Client, serviceName: string, options: HealthCheckOptions = {}): Promise<HealthStatus> {
  if (!checkMethod) throw new Error('grpc-health-check has no Check method definition');
  const { deadline, signal } = options;
  return new Promise<HealthStatus>((resolve, reject) => {
    const call = client.makeUnaryRequest<object, HealthCheckResponse>(
      checkMethod.path,
      checkMethod.requestSerialize,
      checkMethod.responseDeserialize as (bytes: Buffer) => HealthCheckResponse,
      { service: serviceName },
      new Metadata(),
      deadline === undefined ? {} : { deadline },
      (error: ServiceError | null, response?: HealthCheckResponse) => {
        signal?.removeEventListener('abort', onAbort);
        if (error?.code === status.NOT_FOUND) resolve('SERVICE_UNKNOWN');
        else if (error) reject(error);
        else resolve(toHealthStatus(response?.status));
      },
    );
    const onAbort = () => call.cancel();
    if (signal?.aborted) call.cancel();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function toHealthStatus(value: unknown): HealthStatus {
  if (typeof value === 'number') return STATUS_NAMES[value] ?? 'UNKNOWN';
  return KNOWN_STATUSES.has(value) ? (value as HealthStatus) : 'UNKNOWN';
}

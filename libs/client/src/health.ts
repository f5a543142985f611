import { Metadata, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { SERVICE_NAMES } from '@inference-mesh/protos';
import { service as healthService } from 'grpc-health-check';
import { toPipelineError } from './errors';
import type { HealthStatus } from './types';

/** What the gateway reports health for: the whole server, its own service, and the downstreams it mirrors. */
export const GATEWAY_HEALTH_SERVICES = [
  '',
  SERVICE_NAMES.pipeline,
  SERVICE_NAMES.tokenizer,
  SERVICE_NAMES.inference,
  SERVICE_NAMES.postprocess,
] as const;

const checkMethod = healthService['Check'];

interface HealthCheckResponse {
  readonly status?: unknown;
}

const KNOWN_STATUSES: ReadonlySet<unknown> = new Set<HealthStatus>(['SERVING', 'NOT_SERVING', 'UNKNOWN', 'SERVICE_UNKNOWN']);

/**
 * `grpc.health.v1.Health/Check` over the client's own channel. NOT_FOUND (the server does not know the name)
 * is an answer, SERVICE_UNKNOWN, not a failure; every other error status rejects.
 */
export function checkHealth(
  client: Client,
  serviceName: string,
  deadline: number | undefined,
  signal: AbortSignal | undefined,
): Promise<HealthStatus> {
  if (!checkMethod) throw new Error('grpc-health-check has no Check method definition');
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
        else if (error) reject(toPipelineError(error));
        else resolve(KNOWN_STATUSES.has(response?.status) ? (response?.status as HealthStatus) : 'UNKNOWN');
      },
    );
    const onAbort = () => call.cancel();
    if (signal?.aborted) call.cancel();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

import type { Client } from '@grpc/grpc-js';
import { checkHealth as check, SERVICE_NAMES } from '@inference-mesh/protos';
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

/** `grpc.health.v1.Health/Check` over the client's own channel; failures reject as PipelineErrors. */
export function checkHealth(client: Client, serviceName: string, deadline: number | undefined, signal: AbortSignal | undefined): Promise<HealthStatus> {
  return check(client, serviceName, { deadline, signal }).catch((error: unknown) => {
    throw toPipelineError(error);
  });
}

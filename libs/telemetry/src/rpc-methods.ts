import { status as Status } from '@grpc/grpc-js';
import type { Attributes } from '@opentelemetry/api';

// OpenTelemetry RPC semantic conventions (semantic-conventions 1.38, still "experimental" there, so copied here
// rather than imported from the package's unstable `incubating` entry point, as OpenTelemetry advises).
export const RPC_SERVER_DURATION = 'rpc.server.duration';
export const RPC_CLIENT_DURATION = 'rpc.client.duration';
export const ATTR_RPC_SYSTEM = 'rpc.system';
export const ATTR_RPC_SERVICE = 'rpc.service';
export const ATTR_RPC_METHOD = 'rpc.method';
export const ATTR_RPC_GRPC_STATUS_CODE = 'rpc.grpc.status_code';

/** Milliseconds (the conventions' unit for rpc.*.duration), from a loopback hop to a slow batch. */
export const RPC_DURATION_BUCKETS_MS = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000];

/** Status codes that make a server span an error (the conventions leave client-caused codes unset). */
const SERVER_ERROR_CODES: ReadonlySet<number> = new Set([
  Status.UNKNOWN,
  Status.DEADLINE_EXCEEDED,
  Status.UNIMPLEMENTED,
  Status.INTERNAL,
  Status.UNAVAILABLE,
  Status.DATA_LOSS,
]);

export function isServerError(code: number): boolean {
  return SERVER_ERROR_CODES.has(code);
}

/** Health checks and reflection are polled all the time; a span each would bury the pipeline's traces. */
const UNTRACED_SERVICES: ReadonlySet<string> = new Set(['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection']);

/** What telemetry needs of one gRPC method, computed once per method rather than once per call. */
export interface RpcMethod {
  /** `package.Service/Method`, the conventions' span name. */
  readonly spanName: string;
  readonly traced: boolean;
  readonly attributes: Attributes;
  /** The metric attributes for a call that ended with `code`; the same object every time. */
  withStatus(code: number): Attributes;
}

/**
 * Methods by path (`/package.Service/Method`). The paths come from the services a server registers or the stubs a
 * client was built from (grpc-js answers unknown paths before interceptors run), so the table stays small.
 */
export class RpcMethods {
  private readonly byPath = new Map<string, RpcMethod>();

  get(path: string): RpcMethod {
    let method = this.byPath.get(path);
    if (!method) {
      method = describe(path);
      this.byPath.set(path, method);
    }
    return method;
  }
}

function describe(path: string): RpcMethod {
  const slash = path.lastIndexOf('/');
  const service = path.slice(path.startsWith('/') ? 1 : 0, slash > 0 ? slash : undefined) || 'unknown';
  const method = slash >= 0 ? path.slice(slash + 1) : path;
  const attributes: Attributes = { [ATTR_RPC_SYSTEM]: 'grpc', [ATTR_RPC_SERVICE]: service, [ATTR_RPC_METHOD]: method };
  const byStatus = new Map<number, Attributes>();
  return {
    spanName: `${service}/${method}`,
    traced: !UNTRACED_SERVICES.has(service),
    attributes,
    withStatus(code) {
      let withCode = byStatus.get(code);
      if (!withCode) {
        withCode = { ...attributes, [ATTR_RPC_GRPC_STATUS_CODE]: code };
        byStatus.set(code, withCode);
      }
      return withCode;
    },
  };
}

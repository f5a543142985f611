// The downstream targets as configured (IMESH_*_TARGET): checked when the configuration is read, turned into
// grpc-js targets when the gateway connects. Apart from the connections (downstreams.ts), so that reading the
// configuration needs nothing that connects.
import * as grpc from '@grpc/grpc-js';

/** The scheme of comma-separated replica lists, resolved by ReplicaListResolver below. */
const REPLICA_LIST_SCHEME = 'imesh-replicas';

/**
 * A static list of `host:port` replicas as one grpc-js target. grpc-js has `ipv4:`/`ipv6:` lists for literal
 * addresses only; this resolver takes names too (each connection resolves its name when it connects).
 */
class ReplicaListResolver implements grpc.experimental.Resolver {
  private readonly endpoints: grpc.experimental.Endpoint[];
  private reported = false;

  constructor(
    target: grpc.experimental.GrpcUri,
    private readonly listener: grpc.experimental.ResolverListener,
  ) {
    this.endpoints = parseReplicaList(target.path).map(({ host, port }) => ({ addresses: [{ host, port }] }));
  }

  updateResolution(): void {
    // A static list never changes: report it once per (re)start, like grpc-js's own ipv4: resolver.
    if (this.reported) return;
    this.reported = true;
    process.nextTick(() => this.listener(grpc.experimental.statusOrFromValue(this.endpoints), {}, null, ''));
  }

  destroy(): void {
    this.reported = false;
  }

  static getDefaultAuthority(target: grpc.experimental.GrpcUri): string {
    // The first replica names the authority (TLS checks it): replicas share one certificate and name.
    return target.path.split(',')[0]!.trim();
  }
}

let resolverRegistered = false;

function parseReplicaList(list: string): { host: string; port: number }[] {
  return list.split(',').map((entry) => {
    const parsed = grpc.experimental.splitHostPort(entry.trim());
    if (!parsed || parsed.port === undefined || !parsed.host) throw new Error(`not host:port: ${JSON.stringify(entry)}`);
    return { host: parsed.host, port: parsed.port };
  });
}

/** Why a target cannot be used, or undefined when it can. */
export function targetProblem(target: string): string | undefined {
  if (target.trim() === '') return 'empty: expected host:port, dns:///name:port or host:port,host:port';
  if (!target.includes(',')) return undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target) || target.startsWith('dns:') || target.startsWith('unix:')) {
    return 'a list takes plain host:port entries; for a name that resolves to every replica use dns:///name:port alone';
  }
  try {
    parseReplicaList(target);
    return undefined;
  } catch (error) {
    return `a list of replicas must be host:port,host:port (${(error as Error).message})`;
  }
}

/** The grpc-js target for a configured one: lists get the replica-list scheme, everything else is passed on. */
export function channelTarget(target: string): string {
  if (!target.includes(',')) return target;
  if (!resolverRegistered) {
    grpc.experimental.registerResolver(REPLICA_LIST_SCHEME, ReplicaListResolver);
    resolverRegistered = true;
  }
  return `${REPLICA_LIST_SCHEME}:${target.split(',').map((entry) => entry.trim()).join(',')}`;
}

import type { handleUnaryCall, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { unaryHandler, type UnaryHandler } from './handlers';
import type { Logger } from './logger';
import type { ServerConfig } from './server-config';
import { ServiceServer } from './service-server';

/** The plain async handlers for a generated `...ServiceHandlers` interface whose methods are all unary. */
export type UnaryHandlersOf<Handlers> = {
  [Method in keyof Handlers as string extends Method ? never : Method]: Handlers[Method] extends handleUnaryCall<infer Request, infer Response>
    ? UnaryHandler<Request, Response>
    : never;
};

export interface GrpcServiceOptions<Handlers> {
  /** The full proto name of the service (e.g. SERVICE_NAMES.tokenizer): its health check name. */
  readonly name: string;
  /** The loaded proto package that defines the service; it feeds server reflection too. */
  readonly packageDefinition: PackageDefinition;
  /** One handler per method: plain functions that unit tests drive without a server. */
  readonly handlers: UnaryHandlersOf<Handlers>;
  readonly server: ServerConfig;
  readonly logger: Logger;
}

/**
 * The server of a service that answers one gRPC service of unary calls: each handler adapted by unaryHandler
 * (logged as `<Service>/<Method>`), then listening, then SERVING. Load whatever the handlers need before calling
 * this, so that health never says SERVING before the service can answer. Resolves with the server, whose `port`
 * is the bound one and whose `shutdown()` stops it in order.
 */
export async function startGrpcService<Handlers extends UntypedServiceImplementation>(
  options: GrpcServiceOptions<Handlers>,
): Promise<ServiceServer> {
  const { name, packageDefinition, logger } = options;
  const definition = packageDefinition[name];
  if (!definition || 'format' in definition) throw new Error(`the package definition has no service ${JSON.stringify(name)}`);
  const shortName = name.slice(name.lastIndexOf('.') + 1);
  const implementation: UntypedServiceImplementation = {};
  for (const [method, handle] of Object.entries(options.handlers as Record<string, UnaryHandler<unknown, unknown>>)) {
    implementation[method] = unaryHandler(`${shortName}/${method}`, logger, handle);
  }
  const server = new ServiceServer(options.server, logger);
  server.addService(name, definition as ServiceDefinition, implementation, packageDefinition);
  await server.start();
  server.setServing(true);
  return server;
}

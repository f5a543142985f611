/**
 * The floor of a hop: a bare grpc-js unary call, raw bytes both ways (no proto-loader, no interceptors, no
 * metadata), one method per hop of the mesh answering with that hop's response size. Run as its own process by
 * the overhead suite (`node echo-server.js '{"Encode":123,...}'`); the suite's client uses `echoClient`.
 */
import * as grpc from '@grpc/grpc-js';
import { serveForBench } from './child-server';

const identity = (bytes: Buffer): Buffer => bytes;

export function echoServiceDefinition(methods: readonly string[]): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  for (const method of methods) {
    definition[method] = {
      path: `/bench.Echo/${method}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
      originalName: method,
    };
  }
  return definition;
}

/** A client of the echo server: `call(method, request)` resolves with the response's length. */
export function echoClient(address: string, methods: readonly string[]): { call(method: string, request: Buffer): Promise<number>; close(): void } {
  const Client = grpc.makeGenericClientConstructor(echoServiceDefinition(methods), 'Echo');
  const client = new Client(address, grpc.credentials.createInsecure());
  return {
    call: (method, request) =>
      new Promise((resolve, reject) => {
        client.makeUnaryRequest(`/bench.Echo/${method}`, identity, identity, request, (error: grpc.ServiceError | null, response?: Buffer) =>
          error ? reject(error) : resolve(response!.length),
        );
      }),
    close: () => client.close(),
  };
}

async function main(): Promise<void> {
  const responseBytes = JSON.parse(process.argv[2] ?? '{}') as Record<string, number>;
  const server = new grpc.Server();
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const [method, bytes] of Object.entries(responseBytes)) {
    const response = Buffer.alloc(bytes, 0x2a);
    handlers[method] = (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, response);
  }
  server.addService(echoServiceDefinition(Object.keys(responseBytes)), handlers);
  await serveForBench(server);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}

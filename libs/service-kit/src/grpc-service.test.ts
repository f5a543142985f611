import * as grpc from '@grpc/grpc-js';
import { loadPostprocessProto, SERVICE_NAMES, type postprocess } from '@inference-mesh/protos';
import { strict as assert } from 'node:assert';
import { invalidArgument } from './errors';
import { startGrpcService } from './grpc-service';
import { HealthChecker } from './health-checker';
import { createLogger } from './logger';
import type { ServerConfig } from './server-config';

const logger = createLogger('test', 'error', () => {});
const server: ServerConfig = { host: '127.0.0.1', port: 0, maxMessageBytes: 1 << 20, shutdownGraceMs: 0, drainTimeoutMs: 1_000, logLevel: 'error' };

describe('startGrpcService', () => {
  it('serves the handlers once listening, SERVING under the service name, with thrown errors as their status', async () => {
    const { grpc: proto, packageDefinition } = loadPostprocessProto();
    const started = await startGrpcService<postprocess.PostprocessServiceHandlers>({
      name: SERVICE_NAMES.postprocess,
      packageDefinition,
      handlers: {
        Postprocess: async (request) => {
          if (request.rows === 0) throw invalidArgument('rows must be at least 1');
          return { predictions: [{ label: `rows ${request.rows}` }] };
        },
      },
      server,
      logger,
    });
    const target = `127.0.0.1:${started.port}`;
    const health = new HealthChecker(target);
    const client = new proto.inference_mesh.postprocess.v1.PostprocessService(target, grpc.credentials.createInsecure());
    const call = (rows: number) =>
      new Promise<{ error: grpc.ServiceError | null; response?: postprocess.PostprocessResponse__Output }>((resolve) =>
        client.Postprocess({ rows }, { deadline: Date.now() + 5_000 }, (error, response) => resolve({ error, ...(response && { response }) })),
      );
    try {
      for (const name of ['', SERVICE_NAMES.postprocess]) assert.equal(await health.check(name, Date.now() + 5_000), 'SERVING', JSON.stringify(name));
      assert.equal((await call(2)).response?.predictions[0]?.label, 'rows 2');
      const refused = await call(0);
      assert.deepEqual([refused.error?.code, refused.error?.details], [grpc.status.INVALID_ARGUMENT, 'rows must be at least 1']);
    } finally {
      client.close();
      health.close();
      await started.shutdown();
    }
  });

  it('refuses a name the package does not define as a service, before listening', async () => {
    const { packageDefinition } = loadPostprocessProto();
    for (const name of ['inference_mesh.postprocess.v1.NoSuchService', 'inference_mesh.postprocess.v1.PostprocessRequest']) {
      await assert.rejects(
        startGrpcService({ name, packageDefinition, handlers: {}, server, logger }),
        { message: `the package definition has no service ${JSON.stringify(name)}` },
      );
    }
  });
});

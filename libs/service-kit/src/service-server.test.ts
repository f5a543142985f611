import * as grpc from '@grpc/grpc-js';
import { loadPostprocessProto, SERVICE_NAMES } from '@inference-mesh/protos';
import { strict as assert } from 'node:assert';
import { invalidArgument } from './errors';
import { unaryHandler } from './handlers';
import { createLogger } from './logger';
import { createServer, type Server } from 'node:net';
import { PortInUseError, ServiceServer } from './service-server';
import { HealthChecker } from './health-checker';

const logger = createLogger('test', 'error', () => {});
const check = (health: HealthChecker, service: string) => health.check(service, Date.now() + 5_000);

describe('ServiceServer', () => {
  it('reports NOT_SERVING until ready, maps handler errors to status, and drains on shutdown', async () => {
    const proto = loadPostprocessProto();
    let release!: () => void;
    const server = new ServiceServer({ host: '127.0.0.1', port: 0, maxMessageBytes: 1 << 20, shutdownGraceMs: 300, drainTimeoutMs: 5_000, logLevel: 'error' }, logger);
    server.addService(SERVICE_NAMES.postprocess, proto.grpc.inference_mesh.postprocess.v1.PostprocessService.service, {
      Postprocess: unaryHandler('Postprocess', logger, async (request: { rows: number }) => {
        if (request.rows === 0) throw invalidArgument('rows must be at least 1');
        if (request.rows === 2) throw new Error('a bug');
        if (request.rows === 3) await new Promise<void>((resolve) => (release = resolve));
        return { predictions: [] };
      }),
    }, proto.packageDefinition);
    const port = await server.start();
    const target = `127.0.0.1:${port}`;
    const health = new HealthChecker(target);
    const client = new proto.grpc.inference_mesh.postprocess.v1.PostprocessService(target, grpc.credentials.createInsecure());
    const postprocess = (rows: number) =>
      new Promise<grpc.ServiceError | null>((resolve) => client.Postprocess({ rows }, (error) => resolve(error)));
    try {
      assert.equal(await check(health, ''), 'NOT_SERVING');
      server.setServing(true);
      assert.equal(await check(health, ''), 'SERVING');
      assert.equal(await check(health, SERVICE_NAMES.postprocess), 'SERVING');
      assert.equal(await check(health, 'no.such.Service'), 'SERVICE_UNKNOWN');

      const invalid = await postprocess(0);
      assert.deepEqual([invalid?.code, invalid?.details], [grpc.status.INVALID_ARGUMENT, 'rows must be at least 1']);
      const bug = await postprocess(2);
      assert.equal(bug?.code, grpc.status.INTERNAL);
      assert.doesNotMatch(bug!.details, /a bug/, 'internal details stay in the log');

      const inFlight = postprocess(3);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const stopped = server.shutdown();
      assert.equal(await check(health, ''), 'NOT_SERVING', 'during the grace, health says NOT_SERVING but still answers');
      release();
      assert.equal(await inFlight, null, 'the in-flight call finishes during the drain');
      await stopped;
    } finally {
      health.close();
      client.close();
      await server.shutdown();
    }
  });

  it('sends GOAWAY to a connection older than maxConnectionAgeMs, so the client connects (and resolves) again; calls keep working', async function () {
    this.timeout(15_000);
    const proto = loadPostprocessProto();
    const aged = async (maxConnectionAgeMs: number): Promise<grpc.connectivityState[]> => {
      const server = new ServiceServer({ host: '127.0.0.1', port: 0, maxMessageBytes: 1 << 20, shutdownGraceMs: 0, drainTimeoutMs: 1_000, logLevel: 'error', maxConnectionAgeMs }, logger);
      server.addService(SERVICE_NAMES.postprocess, proto.grpc.inference_mesh.postprocess.v1.PostprocessService.service, {
        Postprocess: unaryHandler('Postprocess', logger, async () => ({ predictions: [] })),
      }, proto.packageDefinition);
      const port = await server.start();
      server.setServing(true);
      const client = new proto.grpc.inference_mesh.postprocess.v1.PostprocessService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
      const call = () => new Promise<grpc.ServiceError | null>((resolve) => client.Postprocess({ rows: 1 }, (error) => resolve(error)));
      const channel = client.getChannel();
      const states: grpc.connectivityState[] = [];
      let watching = true;
      const watch = (): void => {
        const state = channel.getConnectivityState(false);
        states.push(state);
        channel.watchConnectivityState(state, Date.now() + 2_000, (error) => watching && error === undefined && watch());
      };
      try {
        assert.equal(await call(), null);
        watch();
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        assert.equal(await call(), null, 'a call after the GOAWAY succeeds');
        return states;
      } finally {
        watching = false;
        client.close();
        await server.shutdown();
      }
    };
    const withAge = await aged(200);
    assert.ok(withAge.includes(grpc.connectivityState.IDLE), `the aged connection was closed: states ${withAge.map((s) => grpc.connectivityState[s]).join(' -> ')}`);
    assert.deepEqual(await aged(0), [grpc.connectivityState.READY], '0: the connection stays');
  });

  it('cancels what is still running at the drain timeout, so shutdown ends within grace + drain', async () => {
    const proto = loadPostprocessProto();
    const server = new ServiceServer({ host: '127.0.0.1', port: 0, maxMessageBytes: 1 << 20, shutdownGraceMs: 100, drainTimeoutMs: 300, logLevel: 'error' }, logger);
    server.addService(SERVICE_NAMES.postprocess, proto.grpc.inference_mesh.postprocess.v1.PostprocessService.service, {
      // Never answers: a call stuck on a hung dependency.
      Postprocess: () => {},
    }, proto.packageDefinition);
    const port = await server.start();
    server.setServing(true);
    const client = new proto.grpc.inference_mesh.postprocess.v1.PostprocessService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const stuck = new Promise<grpc.ServiceError | null>((resolve) => client.Postprocess({ rows: 1 }, (error) => resolve(error)));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = Date.now();
      await server.shutdown();
      const tookMs = Date.now() - started;
      assert.ok(tookMs >= 390 && tookMs < 2_000, `shutdown took ${tookMs} ms for a 100 ms grace and a 300 ms drain`);
      const error = await stuck;
      assert.ok(error && [grpc.status.CANCELLED, grpc.status.UNAVAILABLE].includes(error.code), `the stuck call ended: ${error?.message}`);
    } finally {
      client.close();
    }
  });

  it('refuses a port another process holds with one message naming the port and the variable that moves it', async () => {
    const holder = await new Promise<Server>((resolve, reject) => {
      const server = createServer().once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    });
    const port = (holder.address() as { port: number }).port;
    const config = { host: '127.0.0.1', port, portVariable: 'IMESH_POSTPROCESS_PORT', maxMessageBytes: 1 << 20, shutdownGraceMs: 0, drainTimeoutMs: 100, logLevel: 'error' as const };
    const server = new ServiceServer(config, logger);
    try {
      await assert.rejects(server.start(), (error: unknown) => {
        assert.ok(error instanceof PortInUseError);
        assert.equal(error.message, `port ${port} is already in use (another mesh running?): stop it or set IMESH_POSTPROCESS_PORT`);
        return true;
      });
    } finally {
      await server.shutdown();
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});

import * as grpc from '@grpc/grpc-js';
import { loadTokenizerProto } from '@inference-mesh/protos';
import { strict as assert } from 'node:assert';
import { connectDownstreams } from './downstreams';

/**
 * The hop clients against a real grpc-js server whose Encode never answers: what reaches the server is what a
 * downstream service would see.
 */
describe('downstream calls carry the deadline and the cancellation to the server', () => {
  let server: grpc.Server;
  let target: string;
  const seen: { deadline: grpc.Deadline; cancelled: Promise<void> }[] = [];

  before(async () => {
    server = new grpc.Server();
    server.addService(loadTokenizerProto().grpc.inference_mesh.tokenizer.v1.TokenizerService.service, {
      Encode: (call: grpc.ServerUnaryCall<unknown, unknown>) => {
        seen.push({ deadline: call.getDeadline(), cancelled: new Promise((resolve) => call.on('cancelled', () => resolve())) });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
    );
    target = `127.0.0.1:${port}`;
  });
  after(() => server.forceShutdown());

  it('sends the attempt deadline, and an abort cancels the call on the server', async () => {
    const downstreams = connectDownstreams({ tokenizer: target, model: target, postprocess: target }, { maxMessageBytes: 1 << 20 });
    try {
      const controller = new AbortController();
      const deadlineMs = Date.now() + 20_000;
      const pending = downstreams.encode({ texts: [Buffer.from('x')] }, { deadlineMs, signal: controller.signal });
      for (let waited = 0; waited < 5_000 && seen.length === 0; waited += 5) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(seen.length, 1, 'the call reached the server');
      const serverDeadline = seen[0]!.deadline;
      const serverDeadlineMs = serverDeadline instanceof Date ? serverDeadline.getTime() : serverDeadline;
      assert.ok(Math.abs(serverDeadlineMs - deadlineMs) < 1_000, `server deadline ${serverDeadlineMs} vs ${deadlineMs}`);
      controller.abort();
      // Attached before waiting on the server, so the client's rejection is never unhandled in between.
      const rejected = assert.rejects(pending, (error: grpc.ServiceError) => error.code === grpc.status.CANCELLED);
      await seen[0]!.cancelled;
      await rejected;
    } finally {
      downstreams.close();
    }
  });

  it('fails with DEADLINE_EXCEEDED when the deadline passes', async () => {
    const downstreams = connectDownstreams({ tokenizer: target, model: target, postprocess: target }, { maxMessageBytes: 1 << 20 });
    try {
      const pending = downstreams.encode({ texts: [Buffer.from('x')] }, { deadlineMs: Date.now() + 100, signal: new AbortController().signal });
      await assert.rejects(pending, (error: grpc.ServiceError) => error.code === grpc.status.DEADLINE_EXCEEDED);
    } finally {
      downstreams.close();
    }
  });
});

/** A list of replicas against two real servers: calls are spread over both, and a dead one is routed around. */
describe('a comma-separated list of replicas', () => {
  const servers: grpc.Server[] = [];
  const ports: number[] = [];

  before(async () => {
    for (const name of ['A', 'B']) {
      const server = new grpc.Server();
      server.addService(loadTokenizerProto().grpc.inference_mesh.tokenizer.v1.TokenizerService.service, {
        Encode: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, { modelVersion: name }),
      });
      ports.push(
        await new Promise<number>((resolve, reject) =>
          server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
        ),
      );
      servers.push(server);
    }
  });
  after(() => servers.forEach((server) => server.forceShutdown()));

  it('balances per call over every replica (names and addresses alike) and skips one that went away', async () => {
    const downstreams = connectDownstreams(
      { tokenizer: `localhost:${ports[0]}, 127.0.0.1:${ports[1]}`, model: '127.0.0.1:1', postprocess: '127.0.0.1:1' },
      { maxMessageBytes: 1 << 20 },
    );
    const encode = () => downstreams.encode({ texts: [] }, { deadlineMs: Date.now() + 5_000, signal: new AbortController().signal });
    try {
      // round_robin connects to both; until then calls may all land on the first one ready.
      const served = new Map<string, number>();
      for (let i = 0; i < 200 && served.size < 2; i++) {
        const { modelVersion } = await encode();
        served.set(modelVersion, (served.get(modelVersion) ?? 0) + 1);
      }
      assert.deepEqual([...served.keys()].sort(), ['A', 'B']);
      const next = new Map<string, number>();
      for (let i = 0; i < 10; i++) {
        const { modelVersion } = await encode();
        next.set(modelVersion, (next.get(modelVersion) ?? 0) + 1);
      }
      assert.deepEqual(Object.fromEntries(next), { A: 5, B: 5 }, 'with both ready, calls alternate');

      servers[0]!.forceShutdown();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const after = await Promise.all(Array.from({ length: 10 }, () => encode().then((r) => r.modelVersion)));
      assert.deepEqual(after, Array(10).fill('B'));
    } finally {
      downstreams.close();
    }
  });
});

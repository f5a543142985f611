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
      while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const serverDeadline = seen[0]!.deadline;
      const serverDeadlineMs = serverDeadline instanceof Date ? serverDeadline.getTime() : serverDeadline;
      assert.ok(Math.abs(serverDeadlineMs - deadlineMs) < 1_000, `server deadline ${serverDeadlineMs} vs ${deadlineMs}`);
      controller.abort();
      await seen[0]!.cancelled;
      await assert.rejects(pending, (error: grpc.ServiceError) => error.code === grpc.status.CANCELLED);
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

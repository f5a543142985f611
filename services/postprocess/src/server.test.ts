import * as grpc from '@grpc/grpc-js';
import { loadPostprocessProto, SERVICE_NAMES, type postprocess } from '@inference-mesh/protos';
import { createLogger, EnvReader, HealthChecker, type ServiceServer } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { readPostprocessConfig } from './config';
import { startPostprocessServer } from './server';

type Callback<T> = (error: grpc.ServiceError | null, response?: T) => void;


/** Runs one unary call with a 5 s deadline. */
function call<T>(start: (options: grpc.CallOptions, callback: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    start({ deadline: Date.now() + 5_000 }, (error, response) => (error ? reject(error) : resolve(response as T)));
  });
}

function fp32(values: readonly number[]): Buffer {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((value, i) => bytes.writeFloatLE(value, i * 4));
  return bytes;
}

describe('postprocess service over gRPC', function () {
  this.timeout(20_000);
  let server: ServiceServer;
  let client: postprocess.PostprocessServiceClient;
  let health: HealthChecker;

  before(async () => {
    const env = new EnvReader({ IMESH_HOST: '127.0.0.1', IMESH_POSTPROCESS_PORT: '0', IMESH_DRAIN_TIMEOUT_MS: '1000' });
    const config = readPostprocessConfig(env);
    env.done();
    server = await startPostprocessServer(config, createLogger('postprocess', 'error', () => {}));
    const address = `127.0.0.1:${server.port}`;
    const { grpc: proto } = loadPostprocessProto();
    client = new proto.inference_mesh.postprocess.v1.PostprocessService(address, grpc.credentials.createInsecure());
    health = new HealthChecker(address);
  });

  after(async () => {
    client?.close();
    health?.close();
    await server?.shutdown();
  });

  it('reports SERVING for the server and the postprocess service once loaded', async () => {
    for (const name of ['', SERVICE_NAMES.postprocess]) {
      assert.equal(await health.check(name, Date.now() + 5_000), 'SERVING', `health of ${JSON.stringify(name)}`);
    }
  });

  it('labels a batch of logits', async () => {
    const response = await call<postprocess.PostprocessResponse__Output>((options, callback) =>
      client.Postprocess({ rows: 2, numLabels: 2, logits: fp32([1000, 1001, 0.5, -0.5]), topK: 0 }, options, callback),
    );
    assert.deepEqual(response.predictions.map((p) => p.label), ['positive', 'negative']);
    assert.deepEqual(
      response.predictions.map((p) => p.scores.map((s) => s.label)),
      [['positive', 'negative'], ['negative', 'positive']],
    );
    // Scores travel as proto float: compare at FP32 precision.
    assert.ok(Math.abs(response.predictions[0]!.score - Math.E / (1 + Math.E)) < 1e-6);
    assert.ok(Math.abs(response.predictions[1]!.scores[1]!.score - 1 / (1 + Math.E)) < 1e-6);
  });

  it('answers INVALID_ARGUMENT naming num_labels when it does not match the model', async () => {
    await assert.rejects(
      call((options, callback) => client.Postprocess({ rows: 1, numLabels: 3, logits: fp32([0, 1, 2]) }, options, callback)),
      (error: grpc.ServiceError) => {
        assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
        assert.equal(error.details, 'num_labels is 3 but model "sentiment" version 2 has 2 labels');
        return true;
      },
    );
  });
});

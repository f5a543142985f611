import * as grpc from '@grpc/grpc-js';
import { loadTokenizerProto, SERVICE_NAMES, type tokenizer } from '@inference-mesh/protos';
import { createLogger, EnvReader, HealthChecker, type ServiceServer } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { readTokenizerConfig } from './config';
import { startTokenizerServer } from './server';

type Callback<T> = (error: grpc.ServiceError | null, response?: T) => void;


/** Runs one unary call with a 5 s deadline. */
function call<T>(start: (options: grpc.CallOptions, callback: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    start({ deadline: Date.now() + 5_000 }, (error, response) => (error ? reject(error) : resolve(response as T)));
  });
}

describe('tokenizer service over gRPC', function () {
  this.timeout(20_000);
  let server: ServiceServer;
  let client: tokenizer.TokenizerServiceClient;
  let health: HealthChecker;

  before(async () => {
    const env = new EnvReader({
      IMESH_HOST: '127.0.0.1',
      IMESH_TOKENIZER_PORT: '0',
      IMESH_MAX_BATCH_TEXTS: '8',
      IMESH_DRAIN_TIMEOUT_MS: '1000',
    });
    const config = readTokenizerConfig(env);
    env.done();
    server = await startTokenizerServer(config, createLogger('tokenizer', 'error', () => {}));
    const address = `127.0.0.1:${server.port}`;
    const { grpc: proto } = loadTokenizerProto();
    client = new proto.inference_mesh.tokenizer.v1.TokenizerService(address, grpc.credentials.createInsecure());
    health = new HealthChecker(address);
  });

  after(async () => {
    client?.close();
    health?.close();
    await server?.shutdown();
  });

  it('reports SERVING for the server and the tokenizer service once loaded', async () => {
    for (const name of ['', SERVICE_NAMES.tokenizer]) {
      assert.equal(await health.check(name, Date.now() + 5_000), 'SERVING', `health of ${JSON.stringify(name)}`);
    }
  });

  it('encodes a batch', async () => {
    const response = await call<tokenizer.EncodeResponse__Output>((options, callback) =>
      client.Encode({ texts: [Buffer.from('a gorgeous , witty movie .'), Buffer.from('bad')] }, options, callback),
    );
    assert.equal(response.rows, 2);
    assert.equal(response.modelVersion, '2');
    assert.equal(response.maxLength, 128);
    assert.ok(response.sequenceLength >= 3);
    assert.equal(response.inputIds.byteLength, 2 * response.sequenceLength * 8);
    assert.equal(response.attentionMask.byteLength, 2 * response.sequenceLength * 8);
    assert.equal(response.inputIds.readBigInt64LE(0), 2n, '[CLS] first');
    assert.deepEqual(response.truncatedRows, []);
    assert.match(response.tokenizerFingerprint, /^sha256:[0-9a-f]{64}$/);
  });

  it('answers INVALID_ARGUMENT, naming the text, for invalid UTF-8', async () => {
    await assert.rejects(
      call((options, callback) => {
        client.Encode({ texts: [Buffer.from('good'), Buffer.from([0xff, 0xfe])] }, options, callback);
      }),
      (error: grpc.ServiceError) => {
        assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
        assert.equal(error.details, 'texts[1] is not valid UTF-8');
        return true;
      },
    );
  });
});

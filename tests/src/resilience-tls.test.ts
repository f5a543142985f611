import * as grpc from '@grpc/grpc-js';
import { isPipelineError, PipelineClient, type TlsOptions } from '@inference-mesh/client';
import type { ServiceProcess } from '@inference-mesh/launcher';
import { loadInferenceProto } from '@inference-mesh/protos';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { report, useProcessGroup } from './resilience-fixture';
import { generateCertificates, type TestCertificates } from './test-certs';

const TEXT = ['a gorgeous, witty, seductive movie.'];

/**
 * The mesh with mutual TLS and no service mesh: every service serves TLS and asks for a client certificate from
 * the mesh's CA (IMESH_TLS_CERT/KEY/CA); the gateway calls its downstreams over mutual TLS with the same files.
 * Certificates are made for the test with openssl. Issue 6, scenario 7.
 */
describe('resilience: mutual TLS without a mesh', function () {
  this.timeout(180_000);
  const group = useProcessGroup();
  let certs: TestCertificates;
  let gateway: ServiceProcess;
  let model: ServiceProcess;
  let rightClient: TlsOptions;

  before(async function () {
    this.timeout(180_000);
    certs = generateCertificates();
    const env = { IMESH_TLS_CERT: certs.trusted.cert, IMESH_TLS_KEY: certs.trusted.key, IMESH_TLS_CA: certs.trusted.caCert };
    rightClient = { rootCertsPath: certs.trusted.caCert, certChainPath: certs.trusted.cert, privateKeyPath: certs.trusted.key };
    const [tokenizer, realModel, postprocess] = await Promise.all([
      group.launch('tokenizer', env, rightClient),
      group.launch('model', env, rightClient),
      group.launch('postprocess', env, rightClient),
    ]);
    model = realModel!;
    gateway = await group.launch(
      'gateway',
      { ...env, IMESH_TOKENIZER_TARGET: tokenizer!.address, IMESH_MODEL_TARGET: model.address, IMESH_POSTPROCESS_TARGET: postprocess!.address },
      rightClient,
    );
  });
  after(() => certs?.remove());

  async function attempt(tls: TlsOptions | undefined): Promise<string> {
    const client = new PipelineClient({ target: gateway.address, ...(tls && { tls }), defaultDeadlineMs: 5_000 });
    try {
      const response = await client.classify(TEXT);
      return `OK ${response.results[0]!.label}`;
    } catch (error) {
      return isPipelineError(error) ? error.codeName : String(error);
    } finally {
      client.close();
    }
  }

  it('7. plaintext and wrong-CA clients are refused; the right client works, over mutual TLS through every hop', async () => {
    const started = Date.now();
    const outcomes: Record<string, string> = {
      'right client': await attempt(rightClient),
      plaintext: await attempt(undefined),
      'trusts another CA': await attempt({ rootCertsPath: certs.stranger.caCert, certChainPath: certs.trusted.cert, privateKeyPath: certs.trusted.key }),
      'no client certificate': await attempt({ rootCertsPath: certs.trusted.caCert }),
      'certificate from another CA': await attempt({ rootCertsPath: certs.trusted.caCert, certChainPath: certs.stranger.cert, privateKeyPath: certs.stranger.key }),
    };
    // A downstream refuses a plaintext client too: nothing reaches the model except through mutual TLS.
    const Inference = loadInferenceProto().grpc.inference.GRPCInferenceService;
    const direct = (credentials: grpc.ChannelCredentials) => {
      const stub = new Inference(model.address, credentials) as unknown as grpc.Client & {
        ServerLive: (request: object, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null) => void) => void;
      };
      return new Promise<string>((resolve) =>
        stub.ServerLive({}, { deadline: Date.now() + 5_000 }, (error) => {
          stub.close();
          resolve(error ? grpc.status[error.code]! : 'OK');
        }),
      );
    };
    outcomes['plaintext to the model'] = await direct(grpc.credentials.createInsecure());
    outcomes['gateway\'s certificate to the model'] = await direct(
      grpc.credentials.createSsl(readFileSync(certs.trusted.caCert), readFileSync(certs.trusted.key), readFileSync(certs.trusted.cert)),
    );
    // The gateway's health mirror reaches every downstream over mutual TLS as well.
    const healthClient = new PipelineClient({ target: gateway.address, tls: rightClient });
    let health = await healthClient.healthAll();
    for (let i = 0; i < 50 && Object.values(health).some((s) => s !== 'SERVING'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      health = await healthClient.healthAll();
    }
    healthClient.close();
    assert.deepEqual(new Set(Object.values(health)), new Set(['SERVING']), JSON.stringify(health));
    const values = Object.values(outcomes);
    const succeeded = values.filter((v) => v.startsWith('OK')).length;
    report('7 mutual TLS', { sent: values.length, succeeded, failed: values.length - succeeded, ms: Date.now() - started }, JSON.stringify(outcomes));
    assert.deepEqual(outcomes, {
      'right client': 'OK positive',
      plaintext: 'UNAVAILABLE',
      'trusts another CA': 'UNAVAILABLE',
      'no client certificate': 'UNAVAILABLE',
      'certificate from another CA': 'UNAVAILABLE',
      'plaintext to the model': 'UNAVAILABLE',
      'gateway\'s certificate to the model': 'OK',
    });
  });
});

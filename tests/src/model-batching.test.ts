import * as grpc from '@grpc/grpc-js';
import { launchService, REPO_ROOT, type ServiceProcess } from '@inference-mesh/launcher';
import { loadVersion } from '@inference-mesh/model-tools';
import { readSst2 } from '@inference-mesh/model-tools';
import { loadInferenceProto, type inference } from '@inference-mesh/protos';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { Tensor } from 'onnxruntime-node';

type InferClient = grpc.Client & {
  ModelInfer(request: inference.ModelInferRequest, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: inference.ModelInferResponse__Output) => void): void;
};

interface Encoded {
  readonly ids: Buffer;
  readonly mask: Buffer;
  readonly length: number;
}

function request(text: Encoded): inference.ModelInferRequest {
  return {
    modelName: 'sentiment',
    modelVersion: '2',
    inputs: [
      { name: 'input_ids', datatype: 'INT64', shape: [1, text.length] },
      { name: 'attention_mask', datatype: 'INT64', shape: [1, text.length] },
    ],
    rawInputContents: [text.ids, text.mask],
  };
}

async function startModel(env: Record<string, string>): Promise<{ service: ServiceProcess; client: InferClient }> {
  const service = await launchService('model', '127.0.0.1', 0, { IMESH_LOG_LEVEL: 'warn', ...env }, undefined, 60_000);
  const Client = loadInferenceProto().grpc.inference.GRPCInferenceService;
  return { service, client: new Client(service.address, grpc.credentials.createInsecure()) as unknown as InferClient };
}

function infer(client: InferClient, body: inference.ModelInferRequest, deadlineMs = 30_000): Promise<inference.ModelInferResponse__Output> {
  return new Promise((resolve, reject) =>
    client.ModelInfer(body, { deadline: Date.now() + deadlineMs }, (error, response) => (error ? reject(error) : resolve(response!))),
  );
}

async function stop(service: ServiceProcess | undefined): Promise<void> {
  if (!service || service.process.exitCode !== null) return;
  const exited = new Promise((resolve) => service.process.once('exit', resolve));
  service.process.kill('SIGTERM');
  await exited;
}

describe('the model service\'s dynamic batcher, with the real model', function () {
  this.timeout(120_000);
  const texts: Encoded[] = [];
  const alone: Float32Array[] = [];

  before(async () => {
    // 64 texts of varied lengths, each encoded and run on its own in this process: the reference.
    const { encoder, session } = await loadVersion(join(REPO_ROOT, 'models', 'sentiment', '2'));
    for (const row of readSst2('dev').slice(0, 64)) {
      const batch = await encoder.encode([row.text]);
      texts.push({ ids: batch.inputIds, mask: batch.attentionMask, length: batch.sequenceLength });
      const int64 = (bytes: Buffer) => new Tensor('int64', new BigInt64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8), [1, batch.sequenceLength]);
      const outputs = await session.run({ input_ids: int64(batch.inputIds), attention_mask: int64(batch.attentionMask) });
      alone.push(Float32Array.from(outputs.logits!.data as Float32Array));
    }
    await session.release();
  });

  describe('under 64 concurrent single-row callers', () => {
    let model: Awaited<ReturnType<typeof startModel>> | undefined;
    before(async () => {
      model = await startModel({ IMESH_MODEL_MAX_QUEUE_DELAY_US: '20000' });
    });
    after(async () => {
      model?.client.close();
      await stop(model?.service);
    });

    it('merges them into batches larger than one and answers each as if it ran alone', async () => {
      const responses = await Promise.all(texts.map((text) => infer(model!.client, request(text))));
      const batchSizes = responses.map((r) => Number(r.parameters.imesh_batch_size?.int64Param));
      const batchIds = new Set(responses.map((r) => Number(r.parameters.imesh_batch_id?.int64Param)));
      assert.ok(Math.max(...batchSizes) > 1, `batch sizes ${batchSizes.join(',')}`);
      assert.ok(batchIds.size < texts.length / 4, `${batchIds.size} batches for ${texts.length} requests`);
      responses.forEach((response, i) => {
        assert.deepEqual(response.outputs[0]!.shape, [1, 2]);
        const raw = response.rawOutputContents[0]!;
        const logits = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
        for (let j = 0; j < 2; j++) {
          assert.ok(Math.abs(logits[j]! - alone[i]![j]!) < 1e-4, `text ${i}, logit ${j}: ${logits[j]} batched vs ${alone[i]![j]} alone`);
        }
      });
    });
  });

  describe('with a long queue delay and a small queue', () => {
    let model: Awaited<ReturnType<typeof startModel>> | undefined;
    before(async () => {
      // Triton's rule (wait the delay even when idle), so that requests sit in the queue long enough to expire there.
      model = await startModel({ IMESH_MODEL_MAX_QUEUE_DELAY_US: '300000', IMESH_MODEL_MAX_QUEUE_SIZE: '4', IMESH_MODEL_CUT_WHEN_IDLE: 'false' });
    });
    after(async () => {
      model?.client.close();
      await stop(model?.service);
    });

    it('refuses requests past the queue size at once with RESOURCE_EXHAUSTED, and serves the rest', async () => {
      const started = Date.now();
      // Two batches may be in flight and four requests queued; a burst of 40 overflows that at once.
      const outcomes = await Promise.all(
        texts.slice(0, 40).map((text) =>
          infer(model!.client, request(text)).then(
            () => ({ code: grpc.status.OK, ms: Date.now() - started, details: '' }),
            (error: grpc.ServiceError) => ({ code: error.code, ms: Date.now() - started, details: error.details }),
          ),
        ),
      );
      const refused = outcomes.filter((o) => o.code === grpc.status.RESOURCE_EXHAUSTED);
      const served = outcomes.filter((o) => o.code === grpc.status.OK);
      assert.equal(served.length + refused.length, 40, JSON.stringify(outcomes));
      assert.ok(served.length >= 4 && refused.length >= 1, JSON.stringify(outcomes));
      assert.match(refused[0]!.details, /queue is full/);
      assert.ok(Math.max(...refused.map((o) => o.ms)) < 250, 'refused before the queue delay ends, not after');
    });

    it('drops a request whose deadline passes while queued, without harming its batch-mates', async () => {
      const patient = infer(model!.client, request(texts[0]!));
      const hasty = infer(model!.client, request(texts[1]!), 50);
      await assert.rejects(hasty, (error: grpc.ServiceError) => error.code === grpc.status.DEADLINE_EXCEEDED);
      const response = await patient;
      assert.equal(Number(response.parameters.imesh_batch_size?.int64Param), 1, 'the expired request never joined a batch');
    });
  });
});

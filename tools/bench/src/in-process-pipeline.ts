import { readModelConfig } from '@inference-mesh/model-repository';
import {
  ModelMetrics,
  ModelRegistry,
  readBatchingOverrides,
  readExecutionConfig,
  startOrtLoader,
  versionAttributes,
  VersionExecutor,
} from '@inference-mesh/model-service';
import { rankLogits, type RankedRow } from '@inference-mesh/ranking';
import { createLogger, EnvReader } from '@inference-mesh/service-kit';
import { Tensor } from 'onnxruntime-node';
import { encoderFor } from './inputs';

/** One answer per text, in order, and which of them were cut to the model's maximum length. */
export interface InProcessAnswer {
  readonly rows: RankedRow[];
  readonly truncatedRows: readonly number[];
}

/**
 * The best a single process can do with the mesh's own parts: the tokenizer's BatchEncoder, the model service's
 * ONNX Runtime worker and dynamic batcher (VersionExecutor, configured from the same IMESH_MODEL_* variables), and
 * the postprocess service's softmax/top-k, called directly with no RPC between them. The mesh is measured against it.
 */
export class InProcessPipeline {
  private constructor(
    private readonly classifyTexts: (texts: readonly string[], topK: number) => Promise<InProcessAnswer>,
    private readonly release: () => Promise<void>,
  ) {}

  static async start(repositoryRoot: string, model: string, version: string, env: NodeJS.ProcessEnv): Promise<InProcessPipeline> {
    const logger = createLogger('bench-in-process', 'warn');
    const reader = new EnvReader(env);
    const execution = readExecutionConfig(reader);
    const batchingOverrides = readBatchingOverrides(reader);
    reader.done();
    const loader = await startOrtLoader({ execution, logger });
    const registry = await ModelRegistry.load({ repositoryRoot, loadModel: loader.loadModel, logger, batchingOverrides, servedVersions: [version] });
    const ready = registry.resolveReady(model, version);
    const executor = new VersionExecutor(ready, versionAttributes(model, version), new ModelMetrics());
    const versionDir = ready.dir;
    const encoder = encoderFor(versionDir);
    const labels = readModelConfig(versionDir).labels;
    const outputName = ready.outputs.find((o) => o.name === 'logits')?.name ?? ready.outputs[0]!.name;
    const never = new AbortController().signal;

    const classifyTexts = async (texts: readonly string[], topK: number): Promise<InProcessAnswer> => {
      const encoded = await encoder.encode(texts);
      const dims = [encoded.rows, encoded.sequenceLength];
      const asInt64 = (bytes: Buffer) => new BigInt64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8);
      const feeds: Record<string, Tensor> = {};
      for (const input of ready.inputs) {
        const data =
          input.name === 'input_ids' ? asInt64(encoded.inputIds)
          : input.name === 'attention_mask' ? asInt64(encoded.attentionMask)
          : new BigInt64Array(encoded.rows * encoded.sequenceLength);
        feeds[input.name] = new Tensor('int64', data, dims);
      }
      const result = await executor.infer({ feeds, outputNames: [outputName], rows: encoded.rows, signal: never, deadlineMs: Infinity });
      const logits = result.outputs[outputName]!.data as Float32Array;
      const rows = rankLogits(new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength), encoded.rows, labels, topK);
      return { rows, truncatedRows: encoded.truncatedRows };
    };
    // The batcher's timers and the ONNX Runtime worker do not hold the event loop open (a service's gRPC server
    // does); without this, a request waiting on them while nothing else is pending would end the process.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    return new InProcessPipeline(classifyTexts, async () => {
      clearInterval(keepAlive);
      await executor.close();
      await registry.release();
      await loader.close();
    });
  }

  async classify(text: string, topK = 0): Promise<RankedRow[]> {
    return (await this.classifyTexts([text], topK)).rows;
  }

  /** Several texts as one batch, as one request of a PipelineService server carries them. */
  classifyBatch(texts: readonly string[], topK = 0): Promise<InProcessAnswer> {
    return this.classifyTexts(texts, topK);
  }

  close(): Promise<void> {
    return this.release();
  }
}

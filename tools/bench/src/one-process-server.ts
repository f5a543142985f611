/**
 * The obvious alternative to the mesh: one grpc-js process serving the same PipelineService (unary Classify and
 * ClassifyStream) from the project's own parts, the tokenizer's BatchEncoder, the model service's batcher and
 * ONNX Runtime worker, and rankLogits, with no RPC between them (InProcessPipeline). Cross-request batching follows
 * IMESH_MODEL_BATCHING as the model service reads it. Run by the overhead suite as
 * `node one-process-server.js REPOSITORY MODEL VERSION`.
 */
import * as grpc from '@grpc/grpc-js';
import { loadPipelineProto, type pipeline } from '@inference-mesh/protos';
import { randomUUID } from 'node:crypto';
import { serveForBench } from './child-server';
import { InProcessPipeline } from './in-process-pipeline';

class RequestRefused extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(message);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function textsOf(request: pipeline.ClassifyRequest__Output): string[] {
  if (request.texts.length === 0) throw new RequestRefused(grpc.status.INVALID_ARGUMENT, 'no texts');
  return request.texts.map((bytes, index) => {
    try {
      const text = utf8.decode(bytes);
      if (text === '') throw new Error('empty');
      return text;
    } catch {
      throw new RequestRefused(grpc.status.INVALID_ARGUMENT, `text ${index} is empty or not UTF-8`);
    }
  });
}

async function main(): Promise<void> {
  const [repository, model, version] = process.argv.slice(2);
  if (!repository || !model || !version) throw new Error('usage: one-process-server.js REPOSITORY MODEL VERSION');
  const inProcess = await InProcessPipeline.start(repository, model, version, process.env);

  const classify = async (request: pipeline.ClassifyRequest__Output): Promise<pipeline.ClassifyResult[]> => {
    const answer = await inProcess.classifyBatch(textsOf(request), request.options?.topK ?? 0);
    const truncated = new Set(answer.truncatedRows);
    return answer.rows.map((row, index) => ({ ...row, modelName: model, modelVersion: version, truncated: truncated.has(index), degraded: false }));
  };
  const statusOf = (error: unknown): { code: grpc.status; details: string } =>
    error instanceof RequestRefused ? { code: error.code, details: error.message } : { code: grpc.status.INTERNAL, details: String(error) };

  const handlers: pipeline.PipelineServiceHandlers = {
    Classify: (call, callback) => {
      classify(call.request).then(
        (results) => callback(null, { requestId: call.request.requestId || randomUUID(), results }),
        (error: unknown) => callback(statusOf(error)),
      );
    },
    ClassifyStream: (call) => {
      let pending = 0;
      let ended = false;
      const endWhenDone = () => {
        if (ended && pending === 0) call.end();
      };
      call.on('data', (request: pipeline.ClassifyRequest__Output) => {
        pending++;
        const requestId = request.requestId || randomUUID();
        classify(request)
          .then(
            (results) => call.write({ requestId, results }),
            (error: unknown) => {
              const { code, details } = statusOf(error);
              call.write({ requestId, error: { code, message: details } });
            },
          )
          .finally(() => {
            pending--;
            endWhenDone();
          });
      });
      call.on('end', () => {
        ended = true;
        endWhenDone();
      });
      call.on('error', () => undefined);
    },
  };
  const server = new grpc.Server();
  server.addService(loadPipelineProto().grpc.inference_mesh.pipeline.v1.PipelineService.service, handlers);
  await serveForBench(server, () => inProcess.close());
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

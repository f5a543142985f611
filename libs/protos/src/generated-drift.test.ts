import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadInferenceProto, loadPipelineProto, loadPostprocessProto, loadTokenizerProto } from './index';

function listFiles(root: string, dir = root): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(root, path) : [relative(root, path)];
  });
}

describe('libs/protos', () => {
  it('has generated types that match protos/ (run `npm run gen -w @inference-mesh/protos` after editing a .proto)', function () {
    this.timeout(60_000);
    const committed = join(__dirname, '..', 'src', 'generated');
    const fresh = mkdtempSync(join(tmpdir(), 'protos-gen-'));
    execFileSync(process.execPath, [join(__dirname, '..', 'scripts', 'generate.js'), fresh], { stdio: 'pipe' });
    const files = listFiles(fresh).sort();
    assert.deepEqual(listFiles(committed).sort(), files);
    for (const file of files) {
      assert.equal(readFileSync(join(committed, file), 'utf8'), readFileSync(join(fresh, file), 'utf8'), file);
    }
  });

  it('loads every service with its methods', () => {
    assert.deepEqual(Object.keys(loadInferenceProto().grpc.inference.GRPCInferenceService.service), [
      'ServerLive', 'ServerReady', 'ModelReady', 'ServerMetadata', 'ModelMetadata', 'ModelInfer',
    ]);
    assert.deepEqual(Object.keys(loadPipelineProto().grpc.inference_mesh.pipeline.v1.PipelineService.service), ['Classify', 'ClassifyStream']);
    assert.deepEqual(Object.keys(loadTokenizerProto().grpc.inference_mesh.tokenizer.v1.TokenizerService.service), ['Encode']);
    assert.deepEqual(Object.keys(loadPostprocessProto().grpc.inference_mesh.postprocess.v1.PostprocessService.service), ['Postprocess']);
  });
});

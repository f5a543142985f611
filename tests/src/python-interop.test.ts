import { REPO_ROOT } from '@inference-mesh/launcher';
import { classifyBatch, loadVersion } from '@inference-mesh/model-tools';
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { useMesh } from './mesh-fixture';

const run = promisify(execFile);
/** Debian's interpreter, where python3-grpcio and python3-grpc-tools (installed by .ci/run) live. */
const PYTHON = process.env.IMESH_PYTHON ?? '/usr/bin/python3';

interface InteropOutput {
  live: boolean;
  ready: boolean;
  server_name: string;
  model_ready: boolean;
  metadata: { platform: string; versions: string[]; inputs: [string, string, number[]][]; outputs: [string, string, number[]][] };
  raw: { id: string; model_version: string; output: [string, string, number[]]; logits: number[] };
  typed_logits: number[];
  bad_infer: [string, string] | 'OK';
  classify: { request_id: string; results: [string, number, string, string][] };
  stream: [string, string][];
  bad_classify: [string, string] | 'OK';
}

describe('interop: Python C-core gRPC client (grpcio) against the gateway and the model service', function () {
  this.timeout(120_000);
  const fixture = useMesh();
  const texts = ['a gorgeous, witty, seductive movie.', 'the plot is a tedious, joyless mess.'];
  let output: InteropOutput;
  let expectedLogits: Float32Array;

  before(async () => {
    const { encoder, session } = await loadVersion(join(REPO_ROOT, 'models', 'sentiment', '1'));
    const batch = await encoder.encode(texts);
    const asRows = (bytes: Buffer) => {
      const values = Array.from(new BigInt64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8), Number);
      return Array.from({ length: batch.rows }, (_, r) => values.slice(r * batch.sequenceLength, (r + 1) * batch.sequenceLength));
    };
    expectedLogits = (await classifyBatch(encoder, session, texts)).logits;
    await session.release();
    const testCase = JSON.stringify({ texts, input_ids: asRows(batch.inputIds), attention_mask: asRows(batch.attentionMask) });
    const { stdout } = await run(PYTHON, [
      join(REPO_ROOT, 'tests', 'python', 'interop_client.py'),
      join(REPO_ROOT, 'protos'),
      mkdtempSync(join(tmpdir(), 'imesh-pyproto-')),
      fixture.mesh.gateway,
      fixture.mesh.services.model.address,
      testCase,
    ]);
    output = JSON.parse(stdout) as InteropOutput;
  });

  it('reads liveness, readiness and metadata as the KServe v2 protocol defines them', () => {
    assert.deepEqual([output.live, output.ready, output.model_ready], [true, true, true]);
    assert.ok(output.server_name.length > 0);
    assert.deepEqual(output.metadata, {
      platform: 'onnxruntime_onnx',
      versions: ['1'],
      inputs: [
        ['input_ids', 'INT64', [-1, -1]],
        ['attention_mask', 'INT64', [-1, -1]],
      ],
      outputs: [['logits', 'FP32', [-1, 2]]],
    });
  });

  it('gets from ModelInfer (raw and typed contents) the logits onnxruntime gives in-process', () => {
    assert.deepEqual(output.raw.output, ['logits', 'FP32', [2, 2]]);
    assert.equal(output.raw.id, 'py-raw');
    assert.equal(output.raw.model_version, '1');
    output.raw.logits.forEach((value, i) => assert.ok(Math.abs(value - expectedLogits[i]!) < 1e-5, `logit ${i}`));
    assert.deepEqual(output.typed_logits, output.raw.logits);
  });

  it('gets INVALID_ARGUMENT for a raw input whose size does not match its shape', () => {
    assert.notEqual(output.bad_infer, 'OK');
    assert.equal(output.bad_infer[0], 'INVALID_ARGUMENT');
  });

  it('classifies through the gateway, unary and streaming, and gets INVALID_ARGUMENT for bad UTF-8', () => {
    assert.equal(output.classify.request_id, 'py-1');
    assert.deepEqual(output.classify.results.map(([label, , model, version]) => [label, model, version]), [
      ['positive', 'sentiment', '1'],
      ['negative', 'sentiment', '1'],
    ]);
    assert.deepEqual(output.stream, [
      ['s0', 'positive'],
      ['s1', 'negative'],
    ]);
    assert.deepEqual(output.bad_classify, ['INVALID_ARGUMENT', 'texts[0] is not valid UTF-8']);
  });
});

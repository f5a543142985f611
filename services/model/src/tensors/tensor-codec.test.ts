import { strict as assert } from 'node:assert';
import { status } from '@grpc/grpc-js';
import { Tensor } from 'onnxruntime-node';
import type { Datatype } from './datatypes';
import { decodeInferRequest, encodeInferResponse, requireModelName, type ModelSignature } from './tensor-codec';
import { assertServiceError, inferInput, inferRequest, int64Bytes, tensorContents } from '../test-support';

const TEXT: ModelSignature = {
  label: 'toy/3',
  inputs: [
    { name: 'input_ids', datatype: 'INT64', shape: [-1, -1] },
    { name: 'attention_mask', datatype: 'INT64', shape: [-1, -1] },
  ],
  outputs: [
    { name: 'logits', datatype: 'FP32', shape: [-1, 2] },
    { name: 'pooled', datatype: 'FP32', shape: [-1, 4] },
  ],
};
const LIMITS = { maxBatchSize: 4 };

/** One input `x` of `datatype` and `shape`, one output. */
function single(datatype: Datatype, shape: number[]): ModelSignature {
  return { label: 'one/1', inputs: [{ name: 'x', datatype, shape }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }] };
}

/** A valid raw request for TEXT: 2 rows of 3 tokens. */
function rawTextRequest(overrides: Parameters<typeof inferRequest>[0] = {}) {
  return inferRequest({
    inputs: [inferInput('input_ids', 'INT64', [2, 3]), inferInput('attention_mask', 'INT64', [2, 3])],
    rawInputContents: [int64Bytes([2, 10, 3, 2, 11, 3]), int64Bytes([1, 1, 1, 1, 1, 0])],
    ...overrides,
  });
}

const invalid = (action: () => unknown, ...patterns: RegExp[]) => assertServiceError(action, status.INVALID_ARGUMENT, ...patterns);

describe('tensor-codec', () => {
  describe('raw inputs', () => {
    it('turns raw INT64 bytes into int64 tensors of the request shape, viewing aligned bytes in place', () => {
      const request = rawTextRequest();
      const decoded = decodeInferRequest(request, TEXT, LIMITS);
      const ids = decoded.feeds['input_ids']!;
      assert.equal(ids.type, 'int64');
      assert.deepEqual(ids.dims, [2, 3]);
      assert.deepEqual([...(ids.data as BigInt64Array)], [2n, 10n, 3n, 2n, 11n, 3n]);
      assert.equal((ids.data as BigInt64Array).buffer, request.rawInputContents[0]!.buffer, 'no copy');
      assert.deepEqual([...(decoded.feeds['attention_mask']!.data as BigInt64Array)], [1n, 1n, 1n, 1n, 1n, 0n]);
      assert.equal(decoded.batchSize, 2);
    });

    it('copies unaligned bytes once and reads the same values', () => {
      const unaligned = int64Bytes([2, 10, 3, 2, 11, 3], 3);
      assert.equal(unaligned.byteOffset % 8, 3);
      const request = rawTextRequest({ rawInputContents: [unaligned, int64Bytes([1, 1, 1, 1, 1, 1], 5)] });
      const ids = decodeInferRequest(request, TEXT, LIMITS).feeds['input_ids']!;
      assert.notEqual((ids.data as BigInt64Array).buffer, unaligned.buffer);
      assert.deepEqual([...(ids.data as BigInt64Array)], [2n, 10n, 3n, 2n, 11n, 3n]);
    });

    it('reads FP16 as raw 16-bit words', () => {
      const raw = Buffer.from([0x00, 0x3c, 0x00, 0xc0]); // 1.0, -2.0
      const decoded = decodeInferRequest(
        inferRequest({ inputs: [inferInput('x', 'FP16', [2])], rawInputContents: [raw] }),
        single('FP16', [-1]),
        LIMITS,
      );
      assert.equal(decoded.feeds['x']!.type, 'float16');
      assert.deepEqual([...(decoded.feeds['x']!.data as Uint16Array)], [0x3c00, 0xc000]);
    });

    it('refuses a raw_input_contents count other than the inputs count', () => {
      invalid(
        () => decodeInferRequest(rawTextRequest({ rawInputContents: [int64Bytes([1, 2, 3, 4, 5, 6])] }), TEXT, LIMITS),
        /raw_input_contents has 1 entries but inputs has 2/,
      );
    });

    it('refuses a raw byte size other than product(shape) x element size, stating both', () => {
      invalid(
        () => decodeInferRequest(rawTextRequest({ rawInputContents: [int64Bytes([1, 2, 3, 4, 5, 6]), Buffer.alloc(20)] }), TEXT, LIMITS),
        /raw_input_contents\[1\] \(attention_mask\) has 20 bytes/,
        /shape \[2,3\] of INT64 needs 48/,
      );
    });

    it('refuses typed contents next to raw_input_contents', () => {
      const request = rawTextRequest();
      request.inputs[1] = inferInput('attention_mask', 'INT64', [2, 3], { int64Contents: [1, 1, 1, 1, 1, 1] });
      invalid(() => decodeInferRequest(request, TEXT, LIMITS), /inputs\[1\] \(attention_mask\) sets contents\.int64_contents while raw_input_contents is used/);
    });
  });

  describe('typed contents', () => {
    const cases: [Datatype, Parameters<typeof tensorContents>[0], string, unknown[]][] = [
      ['INT64', { int64Contents: [5, -7] }, 'int64', [5n, -7n]],
      ['INT32', { intContents: [5, -7] }, 'int32', [5, -7]],
      ['INT16', { intContents: [300, -300] }, 'int16', [300, -300]],
      ['INT8', { intContents: [5, -7] }, 'int8', [5, -7]],
      ['UINT8', { uintContents: [5, 255] }, 'uint8', [5, 255]],
      ['UINT16', { uintContents: [5, 65535] }, 'uint16', [5, 65535]],
      ['UINT32', { uintContents: [5, 70000] }, 'uint32', [5, 70000]],
      ['UINT64', { uint64Contents: [5, 2 ** 40] }, 'uint64', [5n, 2n ** 40n]],
      ['FP32', { fp32Contents: [0.5, -2] }, 'float32', [0.5, -2]],
      ['FP64', { fp64Contents: [0.1, -2] }, 'float64', [0.1, -2]],
      ['BOOL', { boolContents: [true, false] }, 'bool', [1, 0]],
    ];
    for (const [datatype, contents, ortType, values] of cases) {
      it(`accepts ${datatype} from its typed field`, () => {
        const decoded = decodeInferRequest(inferRequest({ inputs: [inferInput('x', datatype, [2], contents)] }), single(datatype, [-1]), LIMITS);
        const tensor = decoded.feeds['x']!;
        assert.equal(tensor.type, ortType);
        assert.deepEqual([...(tensor.data as ArrayLike<unknown> & Iterable<unknown>)], values);
      });
    }

    it('gives the same tensor from int64_contents as from raw bytes', () => {
      const typed = inferRequest({
        inputs: [
          inferInput('input_ids', 'INT64', [2, 3], { int64Contents: [2, 10, 3, 2, 11, 3] }),
          inferInput('attention_mask', 'INT64', [2, 3], { int64Contents: [1, 1, 1, 1, 1, 0] }),
        ],
      });
      const fromTyped = decodeInferRequest(typed, TEXT, LIMITS).feeds;
      const fromRaw = decodeInferRequest(rawTextRequest(), TEXT, LIMITS).feeds;
      for (const name of ['input_ids', 'attention_mask']) {
        assert.deepEqual([...(fromTyped[name]!.data as BigInt64Array)], [...(fromRaw[name]!.data as BigInt64Array)]);
        assert.deepEqual(fromTyped[name]!.dims, fromRaw[name]!.dims);
      }
    });

    it('refuses a typed element count other than product(shape)', () => {
      invalid(
        () => decodeInferRequest(inferRequest({ inputs: [inferInput('x', 'INT64', [2, 3], { int64Contents: [1, 2, 3, 4, 5] })] }), single('INT64', [-1, -1]), LIMITS),
        /inputs\[0\] \(x\): contents\.int64_contents has 5 elements; shape \[2,3\] needs 6/,
      );
    });

    it('refuses an input without data', () => {
      invalid(
        () => decodeInferRequest(inferRequest({ inputs: [inferInput('x', 'INT64', [1, 2])] }), single('INT64', [-1, -1]), LIMITS),
        /inputs\[0\] \(x\) has no data: set contents\.int64_contents or raw_input_contents/,
      );
    });

    it('refuses contents in the field of another datatype', () => {
      invalid(
        () => decodeInferRequest(inferRequest({ inputs: [inferInput('x', 'INT64', [2], { fp32Contents: [1, 2] })] }), single('INT64', [-1]), LIMITS),
        /datatype INT64 takes contents\.int64_contents, but contents\.fp32_contents is set/,
      );
    });

    it('refuses values out of range of a narrow integer type', () => {
      invalid(
        () => decodeInferRequest(inferRequest({ inputs: [inferInput('x', 'INT8', [2], { intContents: [1, 300] })] }), single('INT8', [-1]), LIMITS),
        /contents\.int_contents\[1\] = 300 is out of range for INT8/,
      );
    });

    it('refuses typed FP16, which has no typed field', () => {
      invalid(
        () => decodeInferRequest(inferRequest({ inputs: [inferInput('x', 'FP16', [2], { fp32Contents: [1, 2] })] }), single('FP16', [-1]), LIMITS),
        /FP16 has no typed contents field; send it in raw_input_contents/,
      );
    });
  });

  describe('request checks', () => {
    it('requires model_name', () => {
      invalid(() => requireModelName({ modelName: '' }), /model_name is required/);
      invalid(() => decodeInferRequest(rawTextRequest({ modelName: '' }), TEXT, LIMITS), /model_name is required/);
    });

    it('refuses an unknown input name, listing the inputs', () => {
      const request = rawTextRequest();
      request.inputs[1] = inferInput('mask', 'INT64', [2, 3]);
      invalid(() => decodeInferRequest(request, TEXT, LIMITS), /inputs\[1\]\.name "mask" is not an input of toy\/3; its inputs are input_ids, attention_mask/);
    });

    it('refuses a request missing a required input', () => {
      const request = inferRequest({ inputs: [inferInput('input_ids', 'INT64', [2, 3])], rawInputContents: [int64Bytes([1, 2, 3, 4, 5, 6])] });
      invalid(() => decodeInferRequest(request, TEXT, LIMITS), /missing input "attention_mask": toy\/3 needs input_ids, attention_mask/);
    });

    it('refuses a duplicate input', () => {
      const request = inferRequest({
        inputs: [inferInput('input_ids', 'INT64', [1, 1]), inferInput('input_ids', 'INT64', [1, 1])],
        rawInputContents: [int64Bytes([1]), int64Bytes([1])],
      });
      invalid(() => decodeInferRequest(request, TEXT, LIMITS), /inputs\[1\]\.name "input_ids" repeats inputs\[0\]/);
    });

    it('refuses a wrong datatype, naming expected and got', () => {
      const request = rawTextRequest();
      request.inputs[0] = inferInput('input_ids', 'INT32', [2, 3]);
      invalid(() => decodeInferRequest(request, TEXT, LIMITS), /inputs\[0\] \(input_ids\): datatype expected INT64, got "INT32"/);
    });

    it('refuses a shape of another rank', () => {
      const request = rawTextRequest();
      request.inputs[0] = inferInput('input_ids', 'INT64', [6]);
      invalid(() => decodeInferRequest(request, TEXT, LIMITS), /inputs\[0\] \(input_ids\): shape \[6\] has rank 1; the model expects rank 2 \[-1,-1\]/);
    });

    it('refuses a fixed dimension other than the model\'s', () => {
      const signature = single('FP32', [-1, 3]);
      const request = inferRequest({ inputs: [inferInput('x', 'FP32', [2, 4], { fp32Contents: new Array(8).fill(0) })] });
      invalid(() => decodeInferRequest(request, signature, LIMITS), /shape \[2,4\] has dimension 1 = 4; the model expects 3/);
    });

    it('refuses negative dimensions', () => {
      const request = rawTextRequest();
      request.inputs[0] = inferInput('input_ids', 'INT64', [-2, -3]);
      invalid(() => decodeInferRequest(request, TEXT, LIMITS), /inputs\[0\] \(input_ids\): shape \[-2,-3\] has a negative or invalid dimension 0/);
    });

    it('refuses batch sizes that differ across inputs', () => {
      const request = inferRequest({
        inputs: [inferInput('input_ids', 'INT64', [2, 3]), inferInput('attention_mask', 'INT64', [3, 2])],
        rawInputContents: [int64Bytes([1, 2, 3, 4, 5, 6]), int64Bytes([1, 1, 1, 1, 1, 1])],
      });
      invalid(() => decodeInferRequest(request, TEXT, LIMITS), /inputs\[1\] \(attention_mask\): batch size 3 differs from inputs\[0\] \(input_ids\)'s 2/);
    });

    it('refuses a batch over the limit, stating the limit, and an empty batch', () => {
      const over = inferRequest({
        inputs: [inferInput('input_ids', 'INT64', [5, 1]), inferInput('attention_mask', 'INT64', [5, 1])],
        rawInputContents: [int64Bytes([1, 1, 1, 1, 1]), int64Bytes([1, 1, 1, 1, 1])],
      });
      invalid(() => decodeInferRequest(over, TEXT, LIMITS), /batch size 5 exceeds the maximum of 4; split the request/);
      assert.equal(decodeInferRequest(over, TEXT, { maxBatchSize: 5 }).batchSize, 5);
      const empty = inferRequest({
        inputs: [inferInput('input_ids', 'INT64', [0, 3]), inferInput('attention_mask', 'INT64', [0, 3])],
        rawInputContents: [Buffer.alloc(0), Buffer.alloc(0)],
      });
      invalid(() => decodeInferRequest(empty, TEXT, LIMITS), /batch size 0; send at least one row/);
    });

    it('has no batch size when the first dimension is fixed', () => {
      const decoded = decodeInferRequest(
        inferRequest({ inputs: [inferInput('x', 'FP32', [9, 2], { fp32Contents: new Array(18).fill(1) })] }),
        single('FP32', [9, 2]),
        LIMITS,
      );
      assert.equal(decoded.batchSize, undefined);
    });
  });

  describe('outputs', () => {
    it('returns every output in model order when none is requested', () => {
      assert.deepEqual(decodeInferRequest(rawTextRequest(), TEXT, LIMITS).outputNames, ['logits', 'pooled']);
    });

    it('returns the requested outputs in request order', () => {
      const request = rawTextRequest({ outputs: [{ name: 'pooled', parameters: {} }, { name: 'logits', parameters: {} }] });
      assert.deepEqual(decodeInferRequest(request, TEXT, LIMITS).outputNames, ['pooled', 'logits']);
    });

    it('refuses an unknown or repeated output name', () => {
      invalid(
        () => decodeInferRequest(rawTextRequest({ outputs: [{ name: 'probabilities', parameters: {} }] }), TEXT, LIMITS),
        /outputs\[0\]\.name "probabilities" is not an output of toy\/3; its outputs are logits, pooled/,
      );
      invalid(
        () => decodeInferRequest(rawTextRequest({ outputs: [{ name: 'logits', parameters: {} }, { name: 'logits', parameters: {} }] }), TEXT, LIMITS),
        /outputs\[1\]\.name "logits" is requested twice/,
      );
    });

    it('encodes outputs as little-endian raw contents in the requested order, echoing the id and the served version', () => {
      const logits = new Tensor('float32', Float32Array.from([0.5, -1.25, 3, 4]), [2, 2]);
      const pooled = new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), [2, 4]);
      const response = encodeInferResponse({ id: 'req-7', modelName: 'toy', modelVersion: '3' }, ['pooled', 'logits'], { logits, pooled });
      assert.equal(response.id, 'req-7');
      assert.equal(response.modelName, 'toy');
      assert.equal(response.modelVersion, '3');
      assert.deepEqual(response.outputs, [
        { name: 'pooled', datatype: 'FP32', shape: [2, 4] },
        { name: 'logits', datatype: 'FP32', shape: [2, 2] },
      ]);
      const raw = response.rawOutputContents as Buffer[];
      assert.equal(raw.length, 2);
      assert.equal(raw[1]!.byteLength, 16);
      assert.deepEqual([0, 1, 2, 3].map((i) => raw[1]!.readFloatLE(i * 4)), [0.5, -1.25, 3, 4]);
      assert.equal(raw[0]!.readFloatLE(28), 8);
    });

    it('fails loudly when the model did not produce a requested output', () => {
      assert.throws(() => encodeInferResponse({ id: '', modelName: 'toy', modelVersion: '3' }, ['logits'], {}), /returned no output logits/);
    });
  });
});

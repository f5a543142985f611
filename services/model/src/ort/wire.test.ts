import { strict as assert } from 'node:assert';
import { Tensor } from 'onnxruntime-node';
import { fromWire, fromWireError, toWire, toWireError } from './wire';

describe('ort/wire', () => {
  it('lists a buffer a tensor spans whole for transfer, once, and posts the tensor data as is', () => {
    const data = Float32Array.of(1, 2, 3, 4);
    const a = new Tensor('float32', data, [2, 2]);
    const { wire, transfer } = toWire({ a, again: a });
    assert.deepEqual(transfer, [data.buffer], 'one buffer, listed once though two feeds share it');
    assert.equal(wire['a']!.data, data);
    assert.deepEqual(wire['a']!.dims, [2, 2]);
    assert.equal(wire['a']!.type, 'float32');
  });

  it('copies a view into a larger buffer to a buffer of its own, and transfers the copy', () => {
    const message = new BigInt64Array([0n, 5n, 6n, 7n, 0n]);
    const view = message.subarray(1, 4);
    const { wire, transfer } = toWire({ ids: new Tensor('int64', view, [1, 3]) });
    const sent = wire['ids']!.data as BigInt64Array;
    assert.notEqual(sent.buffer, message.buffer);
    assert.deepEqual(Array.from(sent), [5n, 6n, 7n]);
    assert.equal(sent.buffer.byteLength, 3 * 8, 'only the view\'s bytes');
    assert.deepEqual(transfer, [sent.buffer]);
  });

  it('shares SharedArrayBuffer data instead of transferring it', () => {
    const shared = new Float32Array(new SharedArrayBuffer(8));
    const { transfer } = toWire({ s: new Tensor('float32', shared, [2]) });
    assert.deepEqual(transfer, []);
  });

  it('rebuilds ORT tensors from what was posted, and errors with their name and message', () => {
    const data = Uint8Array.of(1, 0, 1);
    const [tensor] = Object.values(fromWire({ b: { type: 'bool', data, dims: [3] } }));
    assert.ok(tensor instanceof Tensor);
    assert.equal(tensor.type, 'bool');
    assert.deepEqual(tensor.dims, [3]);
    assert.equal(tensor.data, data);
    const error = new RangeError('out of range');
    const rebuilt = fromWireError(structuredClone(toWireError(error)));
    assert.equal(rebuilt.name, 'RangeError');
    assert.equal(rebuilt.message, 'out of range');
    assert.equal(fromWireError(toWireError('plain')).message, 'plain');
  });
});

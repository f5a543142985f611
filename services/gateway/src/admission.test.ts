import { status } from '@grpc/grpc-js';
import { isServiceError } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { AdmissionGate } from './admission';

describe('AdmissionGate', () => {
  it('refuses the request over the limit at once with RESOURCE_EXHAUSTED, and frees the slot when work ends either way', async () => {
    const gate = new AdmissionGate(2);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const first = gate.run(() => held);
    const second = gate.run(() => Promise.reject(new Error('failed')));
    await assert.rejects(second, /failed/);
    const third = gate.run(() => held);
    assert.equal(gate.current, 2);
    await assert.rejects(gate.run(async () => 'never'), (error: unknown) =>
      isServiceError(error) && error.code === status.RESOURCE_EXHAUSTED && /at capacity \(2 requests in flight\)/.test(error.message),
    );
    release();
    await Promise.all([first, third]);
    assert.equal(gate.current, 0);
    assert.equal(await gate.run(async () => 'ok'), 'ok');
  });
});

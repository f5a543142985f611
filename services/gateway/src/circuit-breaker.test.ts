import { strict as assert } from 'node:assert';
import { CircuitBreaker, type CircuitState } from './circuit-breaker';

describe('CircuitBreaker', () => {
  let nowMs: number;
  let changes: CircuitState[];
  const breaker = (consecutiveFailures = 3) =>
    new CircuitBreaker({ consecutiveFailures, halfOpenAfterMs: 1_000, now: () => nowMs, onStateChange: (state) => changes.push(state) });

  beforeEach(() => {
    nowMs = 0;
    changes = [];
  });

  function fail(b: CircuitBreaker, times: number): void {
    for (let i = 0; i < times; i++) b.record(b.tryAcquire()!, 'failure');
  }

  it('opens on consecutive failures only; a success in between resets the count', () => {
    const b = breaker();
    fail(b, 2);
    b.record(b.tryAcquire()!, 'success');
    fail(b, 2);
    assert.equal(b.state, 'closed');
    fail(b, 1);
    assert.equal(b.state, 'open');
    assert.equal(b.tryAcquire(), undefined, 'open: fail fast');
    assert.deepEqual(changes, ['open']);
  });

  it('lets one probe through after the delay, refuses the rest at once, and closes when the probe succeeds', () => {
    const b = breaker();
    fail(b, 3);
    nowMs = 999;
    assert.equal(b.tryAcquire(), undefined);
    nowMs = 1_000;
    const probe = b.tryAcquire();
    assert.deepEqual(probe, { probe: true });
    assert.equal(b.state, 'half-open');
    assert.equal(b.tryAcquire(), undefined, 'other callers fail fast during the probe');
    b.record(probe!, 'success');
    assert.equal(b.state, 'closed');
    assert.deepEqual(b.tryAcquire(), { probe: false });
    assert.deepEqual(changes, ['open', 'half-open', 'closed']);
  });

  it('opens again for another full delay when the probe fails', () => {
    const b = breaker();
    fail(b, 3);
    nowMs = 1_500;
    b.record(b.tryAcquire()!, 'failure');
    assert.equal(b.state, 'open');
    nowMs = 2_499;
    assert.equal(b.tryAcquire(), undefined);
    nowMs = 2_500;
    assert.equal(b.tryAcquire()?.probe, true);
  });

  it('ignores cancellations: they neither open it nor reset the count, and a cancelled probe hands the probe on', () => {
    const b = breaker();
    fail(b, 2);
    for (let i = 0; i < 10; i++) b.record(b.tryAcquire()!, 'ignored');
    assert.equal(b.state, 'closed');
    fail(b, 1);
    assert.equal(b.state, 'open', 'the two failures before the cancellations still counted');
    nowMs = 1_000;
    const probe = b.tryAcquire()!;
    b.record(probe, 'ignored');
    assert.equal(b.state, 'half-open', 'a cancelled probe proves nothing');
    const next = b.tryAcquire();
    assert.equal(next?.probe, true, 'the next call probes instead');
    b.record(next!, 'success');
    assert.equal(b.state, 'closed');
  });

  it('lets only the probe decide once open: late results of calls let through before are ignored', () => {
    const b = breaker(1);
    const early = b.tryAcquire()!;
    fail(b, 1);
    b.record(early, 'success');
    assert.equal(b.state, 'open');
  });
});

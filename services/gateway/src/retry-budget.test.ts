import { strict as assert } from 'node:assert';
import { RetryBudget } from './retry-budget';

describe('RetryBudget', () => {
  it('starts with the burst, then allows one retry per 1/ratio calls', () => {
    const budget = new RetryBudget({ ratio: 0.2, burst: 3 });
    let retries = 0;
    // A downstream that fails every call: each call asks for a retry.
    for (let call = 0; call < 100; call++) {
      budget.recordCall();
      if (budget.tryWithdraw()) retries++;
    }
    // 3 from the burst (topped up by the first deposits), then 0.2 per call.
    assert.ok(retries <= 3 + 0.2 * 100, `retries ${retries}`);
    assert.ok(retries >= 0.2 * 100, `retries ${retries}`);
    assert.ok((100 + retries) / 100 <= 1.2 + 3 / 100, 'calls plus retries stay within 1.2x the calls, plus the burst');
  });

  it('counts in exact fractions: five calls at 0.2 earn exactly one retry', () => {
    const budget = new RetryBudget({ ratio: 0.2, burst: 10 });
    let drained = 0;
    while (drained < 1000 && budget.tryWithdraw()) drained++;
    assert.equal(drained, 10, 'the burst, then nothing');
    for (let i = 0; i < 4; i++) budget.recordCall();
    assert.equal(budget.tryWithdraw(), false);
    budget.recordCall();
    assert.equal(budget.tryWithdraw(), true);
    assert.equal(budget.tryWithdraw(), false);
  });

  it('never holds more than the burst, however long it is quiet', () => {
    const budget = new RetryBudget({ ratio: 1, burst: 2 });
    for (let i = 0; i < 1000; i++) budget.recordCall();
    assert.equal(budget.available, 2);
  });

  it('allows no retries with a burst of 0 and ratio 0', () => {
    const budget = new RetryBudget({ ratio: 0, burst: 0 });
    budget.recordCall();
    assert.equal(budget.tryWithdraw(), false);
  });
});

import { strict as assert } from 'node:assert';
import { targetProblem } from './downstream-targets';

describe('a comma-separated list of replicas', () => {
  it('is refused by the configuration when malformed', () => {
    assert.match(targetProblem('a:1,b') ?? '', /host:port,host:port/);
    assert.equal(targetProblem('a:1, [::1]:2'), undefined);
    assert.equal(targetProblem('dns:///model:50053'), undefined);
  });
});

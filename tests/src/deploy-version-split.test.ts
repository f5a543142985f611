import { isPipelineError, PipelineClient } from '@inference-mesh/client';
import { strict as assert } from 'node:assert';
import { useMesh } from './mesh-fixture';

const TEXT = 'a gorgeous, witty, seductive movie.';

/** `calls` classify calls, `concurrency` at a time; the versions that served them. */
async function servedVersions(client: PipelineClient, calls: number, version?: string, concurrency = 8): Promise<Map<string, number>> {
  const served = new Map<string, number>();
  let started = 0;
  const worker = async () => {
    while (started < calls) {
      started++;
      const { results } = await client.classify([TEXT], { ...(version !== undefined && { version }), deadlineMs: 30_000 });
      const servedBy = results[0]!.modelVersion;
      served.set(servedBy, (served.get(servedBy) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return served;
}

describe('canary split without a mesh: the gateway\'s IMESH_MODEL_VERSION_WEIGHTS (four processes, real gRPC)', function () {
  this.timeout(300_000);

  describe('at 95/5', () => {
    const fixture = useMesh({ env: { IMESH_MODEL_VERSION_WEIGHTS: '1=95,2=5' } });
    let client: PipelineClient;
    before(() => {
      client = new PipelineClient({ target: fixture.mesh.gateway });
    });
    after(() => client.close());

    it('serves 10,000 unpinned calls at 95/5 within 1.5 points of the weights (a miss is about 7 standard deviations out)', async () => {
      const calls = 10_000;
      const served = await servedVersions(client, calls, undefined, 16);
      assert.deepEqual([...served.keys()].sort(), ['1', '2']);
      for (const [version, weight] of [['1', 95], ['2', 5]] as const) {
        const share = (served.get(version)! / calls) * 100;
        assert.ok(Math.abs(share - weight) <= 1.5, `version ${version} served ${share}% of the calls, expected ${weight} +/- 1.5`);
      }
    });

    it('keeps a pinned version pinned, every time', async () => {
      assert.deepEqual([...(await servedVersions(client, 100, '1'))], [['1', 100]]);
      assert.deepEqual([...(await servedVersions(client, 100, '2'))], [['2', 100]]);
    });
  });

  describe('a model service serving one version (IMESH_MODEL_VERSIONS, as the per-version Deployments do)', () => {
    const fixture = useMesh({ env: { IMESH_MODEL_VERSIONS: '1', IMESH_MODEL_VERSION_WEIGHTS: '1=100,2=0' } });
    let client: PipelineClient;
    before(() => {
      client = new PipelineClient({ target: fixture.mesh.gateway });
    });
    after(() => client.close());

    it('serves unpinned requests with its version, and names what it has when asked for another', async () => {
      assert.deepEqual([...(await servedVersions(client, 40))], [['1', 40]]);
      const error = await client.classify([TEXT], { version: '2' }).then(
        () => assert.fail('version 2 is not served here'),
        (e: unknown) => e,
      );
      assert.ok(isPipelineError(error));
      assert.equal(error.codeName, 'NOT_FOUND');
      assert.match(error.details, /model "sentiment" has no version "2"; available versions: 1/);
    });
  });
});

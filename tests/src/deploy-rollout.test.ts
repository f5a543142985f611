// k8s/rollout: the rollout controller (`imesh canary run`) as a Deployment, with the least RBAC it needs.
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { schemaProblems } from './deploy-schemas';
import { buildKustomization, buildOverlay, named, ofKind, REPO_ROOT, type Json } from './deploy-support';
import { runImesh } from './imesh-cli';

describe('k8s/rollout: the rollout controller as a Deployment', function () {
  this.timeout(60_000);
  const manifests = buildKustomization(join(REPO_ROOT, 'k8s', 'rollout'));
  const deployment = named(manifests, 'Deployment', 'canary-controller');
  const pod = deployment.spec.template.spec;
  const container: Json = pod.containers[0];

  it('validates against the schemas, in the mesh\'s namespace', () => {
    assert.deepEqual(schemaProblems(manifests), []);
    for (const { object } of manifests) assert.equal((object as Json).metadata.namespace, 'imesh', `${(object as Json).kind} ${(object as Json).metadata.name}`);
  });

  it('may get and patch the gateway\'s split ConfigMap and nothing else', () => {
    const [role] = ofKind(manifests, 'Role');
    assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['gateway-version-split'], verbs: ['get', 'patch'] }]);
    assert.equal(ofKind(manifests, 'ClusterRole').length, 0);
    const [binding] = ofKind(manifests, 'RoleBinding');
    assert.deepEqual([binding.roleRef.name, binding.subjects], [role.metadata.name, [{ kind: 'ServiceAccount', name: pod.serviceAccountName, namespace: 'imesh' }]]);
    assert.ok(named(buildOverlay('base'), 'ConfigMap', 'gateway-version-split'), 'the ConfigMap it patches is the one the gateways mount');
    assert.equal(pod.automountServiceAccountToken, true, 'the API token is how it reaches the ConfigMap');
  });

  it('runs `imesh canary run` from the service image once at a time, staying up after the end, with options the CLI has', async () => {
    assert.deepEqual([deployment.spec.replicas, deployment.spec.strategy.type], [1, 'Recreate']);
    assert.match(container.image, /^registry\.example\.com\/inference-mesh\/inference-mesh:0\.1\.0$/, 'the service image, from a registry by tag');
    const [script, ...args] = container.args as string[];
    assert.ok(existsSync(join(REPO_ROOT, script!)), `${script} is the CLI the image carries`);
    assert.deepEqual(args.slice(0, 2), ['canary', 'run']);
    assert.ok(args.includes('--keep-running'), 'a Deployment restarts what exits');
    const usage = (await runImesh(['canary', '--help'])).stdout;
    for (const option of args.filter((arg) => arg.startsWith('--'))) assert.ok(usage.includes(option), `${option} is an option of imesh canary run`);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(pod.securityContext.runAsNonRoot, true);
  });
});

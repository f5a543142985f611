// k8s/queue-worker: the RabbitMQ queue worker as a Deployment scaled from zero by KEDA on its queue's depth, its
// broker credentials from a Secret that the repository does not hold, and its Istio policies (k8s/queue-worker/istio/).
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { SERVICE_NAMES } from '@inference-mesh/protos';
import { parseConfig, readServerConfig, shutdownDeadlineMs } from '@inference-mesh/service-kit';
import { parse } from 'yaml';
import { buildQueueWorker, QUEUE_WORKER_DIR, QUEUE_WORKER_NAME, readQueueWorkerScaledObject } from './deploy-queue-worker';
import { schemaProblems, type Manifest } from './deploy-schemas';
import {
  buildOverlay,
  containerEnv,
  durationSeconds,
  named,
  NAMESPACE,
  ofKind,
  podLabels,
  readManifests,
  readYaml,
  REPO_ROOT,
  selects,
  SHUTDOWN_MARGIN_SECONDS,
  yamlFiles,
  type Json,
} from './deploy-support';

/** The worker's health services (services/queue-worker): "" while the process runs, this one while it consumes. */
const BROKER_HEALTH_SERVICE = SERVICE_NAMES.queueWorkerBroker;
const SECRET_NAME = 'queue-worker-broker';
const AMQP_URL_KEY = 'amqp-url';
const MANAGEMENT_URL_KEY = 'management-url';
const EXAMPLE_SECRET = 'k8s/queue-worker/examples/broker-secret.example.yaml';
const EXAMPLE_CLUSTER = 'k8s/queue-worker/examples/rabbitmq-cluster.yaml';
const ISTIO_DIR = join(QUEUE_WORKER_DIR, 'istio');

function onlyContainer(deployment: Json): Json {
  const containers = deployment.spec.template.spec.containers;
  assert.equal(containers.length, 1, `${deployment.metadata.name}: one container per pod (Istio adds its own)`);
  return containers[0];
}

function portNamed(container: Json, name: string): Json {
  const port = (container.ports ?? []).find((p: Json) => p.name === name);
  assert.ok(port, `${container.name}: no container port named ${name}`);
  return port;
}

/** The `kubectl ... create secret generic NAME --from-literal=KEY=...` commands a text documents: name and keys. */
function documentedSecretCommands(text: string): { name: string; keys: string[] }[] {
  const joined = text.replace(/\\\n\s*#?\s*/g, ' ');
  return [...joined.matchAll(/create secret generic (\S+)((?: +--from-literal=[^= ]+=\S+)+)/g)].map((m) => ({
    name: m[1]!,
    keys: [...m[2]!.matchAll(/--from-literal=([^= ]+)=/g)].map((k) => k[1]!).sort(),
  }));
}

describe('k8s/queue-worker: the queue worker, scaled from zero by KEDA on its RabbitMQ queue', function () {
  this.timeout(120_000);
  let manifests: Manifest[];
  let deployment: Json;
  let container: Json;
  let env: Map<string, string>;

  before(() => {
    manifests = buildQueueWorker();
    deployment = named(manifests, 'Deployment', QUEUE_WORKER_NAME);
    container = onlyContainer(deployment);
    env = containerEnv(manifests, container);
  });

  it('builds offline; every object validates against its schema (KEDA\'s for ScaledObject and TriggerAuthentication), in the mesh\'s namespace', () => {
    assert.deepEqual(schemaProblems(manifests), []);
    assert.deepEqual(
      manifests.map((m) => String(m.object['kind'])).sort(),
      ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'ScaledObject', 'ServiceAccount', 'TriggerAuthentication'],
    );
    for (const { object } of manifests) assert.equal((object as Json).metadata.namespace, NAMESPACE, `${String(object['kind'])} ${(object as Json).metadata.name}`);
    // The TriggerAuthentication entry of deploy-schemas.ts is a real schema: it refuses a misspelt field.
    const broken = structuredClone(named(manifests, 'TriggerAuthentication', SECRET_NAME));
    broken.spec.secretTargetRef[0].paramter = 'host';
    assert.match(schemaProblems([{ source: 'case', object: broken }]).join('\n'), /TriggerAuthentication queue-worker-broker: at \.spec\.secretTargetRef\[0\]\.paramter: .*'"?paramter"?' does not exist/);
  });

  it('commits no credentials: no Secret in the build or among its resources; the example Secret and the Istio policies are outside it', () => {
    assert.deepEqual(ofKind(manifests, 'Secret').map((s) => s.metadata.name), [], 'the kustomization applies no Secret (its password would be in the repository)');
    const kustomization = readYaml('k8s/queue-worker/kustomization.yaml');
    assert.equal(kustomization.secretGenerator, undefined, 'no secretGenerator either');
    const listed = new Set<string>(kustomization.resources);
    for (const file of yamlFiles(QUEUE_WORKER_DIR).map((path) => relative(QUEUE_WORKER_DIR, join(REPO_ROOT, path)))) {
      if (file === 'kustomization.yaml') continue;
      const outside = file.startsWith('examples/') || file.startsWith('istio/');
      assert.equal(listed.has(file), !outside, `k8s/queue-worker/${file}: ${outside ? 'must not be' : 'is not'} in its kustomization.yaml`);
    }
    // Nothing in the environment spells a broker URL out: it comes from the Secret only.
    for (const [name, value] of env) assert.doesNotMatch(value, /^(amqps?|https?):\/\/[^/]*@/, `${name} holds credentials`);
  });

  it('KEDA scales the worker Deployment on its queue\'s length from the management API, from zero on the first message', () => {
    const scaling = readQueueWorkerScaledObject(manifests);
    const scaledObject = named(manifests, 'ScaledObject', scaling.name);
    assert.deepEqual(
      [scaledObject.spec.scaleTargetRef.apiVersion, scaledObject.spec.scaleTargetRef.kind, scaling.target],
      ['apps/v1', 'Deployment', deployment.metadata.name],
      'the ScaledObject scales the worker Deployment',
    );
    assert.equal(deployment.spec.replicas, undefined, 'a replicas field would fight KEDA on every apply');
    assert.equal(scaling.mode, 'QueueLength');
    // Over AMQP only ready messages count: a worker busy with its prefetch would read as idle and be scaled away.
    assert.equal(scaling.protocol, 'http', 'the management API counts ready + unacked messages');
    assert.equal(scaling.queueName, env.get('IMESH_QUEUE_NAME'), 'KEDA counts the queue the worker consumes');
    assert.equal(scaling.vhostName, '/', 'the default vhost, as the AMQP URLs documented name');
    assert.equal(scaling.minReplicaCount, 0, 'no worker while the queue is empty');
    // Any threshold above 0 would leave a few messages unanswered, with no worker, until more arrived.
    assert.equal(scaling.activationValue, 0, 'the first message starts a worker');
    const prefetch = Number(env.get('IMESH_QUEUE_PREFETCH'));
    assert.ok(prefetch > 0, 'IMESH_QUEUE_PREFETCH is set');
    assert.ok(scaling.value >= prefetch, `value ${scaling.value}: at least one worker's prefetch (${prefetch}), or one busy worker's own unacked messages would call for more`);
    assert.ok(scaling.value > scaling.activationValue);
    assert.ok(scaling.maxReplicaCount >= 2 && scaling.maxReplicaCount <= 20, `maxReplicaCount ${scaling.maxReplicaCount}`);
    assert.ok(scaling.cooldownPeriod >= 60, `cooldownPeriod ${scaling.cooldownPeriod}: bursts minutes apart find a worker`);
    assert.ok(scaling.pollingInterval <= 30, `pollingInterval ${scaling.pollingInterval}: how long a first message waits for a worker to be asked for`);
    const [trigger] = scaledObject.spec.triggers;
    assert.equal(trigger.metadata.host, undefined, 'the host (with its credentials) comes from the TriggerAuthentication, never the manifest');
    assert.equal(trigger.metadata.hostFromEnv, undefined);
    assert.equal(trigger.metricType ?? 'AverageValue', 'AverageValue', 'value is per replica');
    assert.equal(trigger.authenticationRef.kind ?? 'TriggerAuthentication', 'TriggerAuthentication');
    assert.ok(named(manifests, 'TriggerAuthentication', scaling.authenticationRef), 'authenticationRef names the TriggerAuthentication of the build');
    assert.equal(ofKind(manifests, 'HorizontalPodAutoscaler').length, 0, 'KEDA makes the HPA; a second one would fight it');
  });

  it('one Secret holds both URLs: KEDA reads host from its management-url key, the worker IMESH_AMQP_URL from its amqp-url key, as the docs name them', () => {
    const authentication = named(manifests, 'TriggerAuthentication', readQueueWorkerScaledObject(manifests).authenticationRef);
    assert.deepEqual(authentication.spec.secretTargetRef, [{ parameter: 'host', name: SECRET_NAME, key: MANAGEMENT_URL_KEY }]);
    const amqpUrl = (container.env ?? []).find((v: Json) => v.name === 'IMESH_AMQP_URL');
    assert.equal(amqpUrl?.value, undefined, 'no literal URL');
    assert.deepEqual(amqpUrl?.valueFrom, { secretKeyRef: { name: SECRET_NAME, key: AMQP_URL_KEY } });
    // The example Secret (not applied) has exactly these keys, with URLs of the right schemes and ports.
    const [example, ...more] = readManifests(EXAMPLE_SECRET).map((m) => m.object as Json);
    assert.equal(more.length, 0);
    assert.deepEqual([example.kind, example.metadata.name, example.metadata.namespace], ['Secret', SECRET_NAME, NAMESPACE]);
    assert.deepEqual(Object.keys(example.stringData).sort(), [AMQP_URL_KEY, MANAGEMENT_URL_KEY]);
    assert.equal(example.data, undefined);
    const amqp = new URL(example.stringData[AMQP_URL_KEY]);
    const management = new URL(example.stringData[MANAGEMENT_URL_KEY]);
    assert.match(amqp.protocol, /^amqps?:$/);
    assert.match(management.protocol, /^https?:$/);
    assert.equal(management.port, '15672', 'the management API, not AMQP');
    assert.equal(management.pathname, '/', 'no vhost in the path (the trigger\'s vhostName names it); the trailing slash KEDA requires then');
    assert.equal(amqp.hostname, management.hostname, 'one broker');
    assert.deepEqual([example.stringData[AMQP_URL_KEY], example.stringData[MANAGEMENT_URL_KEY]].map((u: string) => /USER:PASSWORD@/.test(u)), [true, true], 'placeholders only');
    // The `kubectl create secret generic` commands of the kustomization's and the example's comments.
    for (const file of ['k8s/queue-worker/kustomization.yaml', EXAMPLE_SECRET]) {
      const commands = documentedSecretCommands(readFileSync(join(REPO_ROOT, file), 'utf8'));
      assert.ok(commands.length > 0, `${file} documents the kubectl command`);
      for (const command of commands) assert.deepEqual(command, { name: SECRET_NAME, keys: [AMQP_URL_KEY, MANAGEMENT_URL_KEY] }, file);
    }
  });

  it('runs services/queue-worker from the service image, pinned to a registry and tag, as non-root with a read-only root and its own ServiceAccount', () => {
    assert.equal(container.image, 'registry.example.com/inference-mesh/inference-mesh:0.1.0', 'the prod overlay\'s service image, by the same pin');
    const prodImages = readYaml('k8s/overlays/prod/kustomization.yaml').images.find((i: Json) => i.name === 'inference-mesh');
    assert.equal(container.image, `${prodImages.newName}:${prodImages.newTag}`, 'the same image and tag as the mesh\'s prod pods');
    // The service image carries the worker: compiled in the build stage, its dependencies (amqplib) in service-deps.
    const dockerfile = readFileSync(join(REPO_ROOT, 'docker', 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /npx tsc -b [^\n]*\bservices\/queue-worker\b/, 'docker/Dockerfile compiles services/queue-worker');
    const serviceDeps = /^FROM manifests AS service-deps$([\s\S]*?)^FROM /m.exec(dockerfile)?.[1] ?? '';
    assert.match(serviceDeps, /--workspace services\/queue-worker\b/, 'the service image installs the worker\'s dependencies');
    assert.deepEqual(container.args, ['services/queue-worker/dist/main.js']);
    assert.ok(existsSync(join(REPO_ROOT, container.args[0])), `${container.args[0]} is built from this repository`);
    const pod = deployment.spec.template.spec;
    assert.ok(selects(deployment.spec.selector.matchLabels, podLabels(deployment)), 'the selector matches its pod labels');
    assert.equal(pod.serviceAccountName, podLabels(deployment)['app']);
    assert.ok(named(manifests, 'ServiceAccount', pod.serviceAccountName));
    assert.equal(pod.automountServiceAccountToken, false, 'it does not call the Kubernetes API');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, 10001);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
    const { requests, limits } = container.resources;
    assert.ok(requests.cpu && requests.memory && limits.memory, JSON.stringify(container.resources));
    const constraints = pod.topologySpreadConstraints;
    assert.ok(constraints.some((c: Json) => c.topologyKey === 'kubernetes.io/hostname'));
    for (const constraint of constraints) assert.deepEqual(constraint.labelSelector.matchLabels, deployment.spec.selector.matchLabels, constraint.topologyKey);
  });

  it('probes: startup and liveness on grpc.health.v1 service "" of the worker\'s port, readiness on the Broker service (consuming)', () => {
    const health = portNamed(container, 'grpc-health');
    assert.equal(String(health.containerPort), env.get('IMESH_QUEUE_WORKER_PORT'), 'the port the worker serves health on');
    for (const probe of ['startupProbe', 'livenessProbe']) {
      assert.equal(container[probe].grpc.port, health.containerPort, probe);
      // A broker outage, which the worker rides out reconnecting, must not restart it.
      assert.ok(!container[probe].grpc.service, `${probe}: the process's own health, not the broker's`);
    }
    assert.deepEqual(container.readinessProbe.grpc, { port: health.containerPort, service: BROKER_HEALTH_SERVICE });
    const startup = container.startupProbe;
    assert.ok(startup.periodSeconds * startup.failureThreshold >= 60, 'startup allows a minute');
    const metrics = portNamed(container, 'metrics');
    assert.equal(String(metrics.containerPort), env.get('IMESH_QUEUE_WORKER_METRICS_PORT'), 'the port the worker serves /metrics on');
    const annotations = deployment.spec.template.metadata.annotations;
    assert.equal(Number(annotations['prometheus.io/port']), metrics.containerPort);
  });

  it('shutdown fits: the worker\'s own deadline (grace + drain + release) plus a margin within terminationGracePeriodSeconds; the sidecar outlives it', () => {
    // The worker's server settings as it reads them from the pod's variables (its defaults where unset), and
    // service-kit's shutdownDeadlineMs: the sum every service's shutdown keeps to, the worker's too.
    const server = parseConfig(Object.fromEntries(env), (reader) => readServerConfig(reader, 'queue-worker'));
    const deadlineSeconds = shutdownDeadlineMs(server) / 1000;
    // No Service routes to a worker, so no preStop sleep is needed; one, if added, delays SIGTERM and counts.
    const command: string[] | undefined = container.lifecycle?.preStop?.exec?.command;
    const preStopSeconds = command ? Number(command[1]) : 0;
    if (command) assert.equal(command[0], 'sleep');
    const terminationGrace = deployment.spec.template.spec.terminationGracePeriodSeconds;
    assert.ok(
      terminationGrace >= preStopSeconds + deadlineSeconds + SHUTDOWN_MARGIN_SECONDS,
      `terminationGracePeriodSeconds ${terminationGrace} < preStop ${preStopSeconds} s + deadline ${deadlineSeconds} s + a margin of ${SHUTDOWN_MARGIN_SECONDS} s`,
    );
    // Its last acks and the connection's close reach the broker through the sidecar: it stays for the whole deadline.
    const proxy = parse(deployment.spec.template.metadata.annotations['proxy.istio.io/config']);
    assert.ok(durationSeconds(proxy.terminationDrainDuration) >= preStopSeconds + deadlineSeconds, 'the sidecar would leave before the worker closed');
    assert.ok(durationSeconds(proxy.terminationDrainDuration) < terminationGrace, 'the sidecar drain outlasts the pod\'s grace');
    assert.equal(proxy.holdApplicationUntilProxyStarts, true, 'the first broker connection goes through the sidecar');
  });

  it('a PodDisruptionBudget that never blocks a drain at zero or one replica covers exactly the worker', () => {
    const [pdb, ...more] = ofKind(manifests, 'PodDisruptionBudget');
    assert.equal(more.length, 0);
    assert.ok(selects(pdb.spec.selector.matchLabels, podLabels(deployment)));
    assert.equal(pdb.spec.minAvailable, undefined, 'minAvailable would block every drain of a lone worker');
    assert.equal(pdb.spec.maxUnavailable, 1);
  });

  describe('with the mesh (the prod overlay and istio/)', () => {
    let prod: Manifest[];
    before(() => {
      prod = buildOverlay('prod');
    });

    it('calls the gateway by its Service name and gRPC port, as the gateway calls its downstreams', () => {
      const gateway = named(prod, 'Service', 'gateway');
      const grpc = gateway.spec.ports.find((p: Json) => p.name === 'grpc');
      assert.equal(env.get('IMESH_GATEWAY_TARGET'), `${gateway.metadata.name}:${grpc.port}`);
      assert.match(containerEnv(prod, onlyContainer(named(prod, 'Deployment', 'gateway'))).get('IMESH_TOKENIZER_TARGET')!, /^tokenizer:\d+$/, 'the same form of target');
      assert.ok(!ofKind(prod, 'Deployment').some((d) => d.metadata.name === QUEUE_WORKER_NAME), 'the overlays leave the worker to k8s/queue-worker');
    });

    it('the prod PodMonitors scrape the worker: its pod labels, its port named metrics, its path', () => {
      const monitors = ofKind(prod, 'PodMonitor');
      assert.ok(monitors.length > 0);
      for (const monitor of monitors) {
        assert.equal(monitor.spec.namespaceSelector, undefined, 'the worker is in the mesh\'s namespace');
        assert.ok(selects(monitor.spec.selector.matchLabels, podLabels(deployment)), `PodMonitor ${monitor.metadata.name} selects the worker's pods`);
      }
      const [app] = named(prod, 'PodMonitor', 'inference-mesh').spec.podMetricsEndpoints;
      portNamed(container, app.port);
      assert.equal(app.path, deployment.spec.template.metadata.annotations['prometheus.io/path']);
    });

    it('istio policies: the worker\'s ServiceAccount may call the gateway\'s gRPC port; the worker takes only GET /metrics, in plaintext on its metrics port', () => {
      const policies = yamlFiles(ISTIO_DIR).flatMap((file) => readManifests(file));
      assert.deepEqual(schemaProblems(policies), []);
      const objects = policies.map((m) => m.object as Json);
      for (const object of objects) assert.equal(object.metadata.namespace, NAMESPACE);
      const principal = `cluster.local/ns/${NAMESPACE}/sa/${deployment.spec.template.spec.serviceAccountName}`;
      const gatewayDeployment = named(prod, 'Deployment', 'gateway');
      const gatewayPort = String(portNamed(onlyContainer(gatewayDeployment), 'grpc').containerPort);
      const toGateway = objects.filter((o) => o.kind === 'AuthorizationPolicy' && selects(o.spec.selector?.matchLabels, podLabels(gatewayDeployment)));
      assert.deepEqual(
        toGateway.flatMap((o) => o.spec.rules.map((r: Json) => [o.spec.action, r.from.flatMap((f: Json) => f.source.principals), r.to.flatMap((t: Json) => t.operation.ports)])),
        [['ALLOW', [principal], [gatewayPort]]],
        'one rule: the worker\'s identity, the gateway\'s gRPC port',
      );
      const metricsPort = String(portNamed(container, 'metrics').containerPort);
      const own = objects.filter((o) => o.kind === 'AuthorizationPolicy' && selects(o.spec.selector?.matchLabels, podLabels(deployment)));
      assert.deepEqual(own.flatMap((o) => o.spec.rules.map((r: Json) => [r.from, r.to.map((t: Json) => t.operation)])), [[undefined, [{ ports: [metricsPort], methods: ['GET'], paths: ['/metrics'] }]]]);
      const [peer, ...more] = objects.filter((o) => o.kind === 'PeerAuthentication');
      assert.equal(more.length, 0);
      assert.ok(selects(peer.spec.selector.matchLabels, podLabels(deployment)));
      assert.equal(peer.spec.mtls.mode, 'STRICT');
      assert.deepEqual(Object.entries(peer.spec.portLevelMtls).map(([port, setting]) => [port, (setting as Json).mode]), [[metricsPort, 'PERMISSIVE']]);
    });
  });

  it('the example RabbitmqCluster (not applied, not schema-checked: no CRD schema offline) is the broker the example URLs name', () => {
    const [cluster, ...more] = readManifests(EXAMPLE_CLUSTER).map((m) => m.object as Json);
    assert.equal(more.length, 0);
    assert.deepEqual([cluster.apiVersion, cluster.kind], ['rabbitmq.com/v1beta1', 'RabbitmqCluster']);
    const example = readManifests(EXAMPLE_SECRET)[0]!.object as Json;
    // The operator's Service is named after the cluster, in its namespace.
    for (const key of [AMQP_URL_KEY, MANAGEMENT_URL_KEY]) assert.equal(new URL(example.stringData[key]).hostname, `${cluster.metadata.name}.${cluster.metadata.namespace}.svc`, key);
    assert.ok(cluster.spec.rabbitmq.additionalPlugins.includes('rabbitmq_management'), 'KEDA\'s protocol http needs the management API');
  });
});

import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { WORKER_CLOSE_WAIT_MS } from '@inference-mesh/model-service';
import { parseConfig, readServerConfig, RELEASE_ALLOWANCE_MS, shutdownDeadlineMs, type ServiceName } from '@inference-mesh/service-kit';
import { parse } from 'yaml';
import { buildQueueWorker } from './deploy-queue-worker';
import { describeManifest, schemaProblems, type Manifest } from './deploy-schemas';
import {
  buildOverlay,
  containerEnv,
  durationSeconds,
  named,
  NAMESPACE,
  ofKind,
  OVERLAYS,
  overlayDir,
  podLabels,
  readManifests,
  readYaml,
  REPO_ROOT,
  selects,
  SHUTDOWN_MARGIN_SECONDS,
  yamlFiles,
  type Json,
  type Overlay,
} from './deploy-support';

const ISTIO_FILES = yamlFiles(join(REPO_ROOT, 'istio'));
const MODEL_HOST = `model.${NAMESPACE}.svc.cluster.local`;
const VERSION_HEADER = 'x-model-version';
/**
 * Where the Istio ingress gateway runs: istio-system with `istioctl install`, istio-ingress with the Helm chart as
 * Istio's documentation installs it. Its service account differs by installer (the Helm release's name), so the
 * gateway's AuthorizationPolicy allows these namespaces, not one account.
 */
const INGRESS_NAMESPACES = ['istio-system', 'istio-ingress'];

function containerOf(deployment: Json): Json {
  const containers = deployment.spec.template.spec.containers;
  assert.equal(containers.length, 1, `${deployment.metadata.name}: one container per pod (Istio adds its own)`);
  return containers[0];
}

function containerPort(container: Json, port: number | string): Json {
  return (container.ports ?? []).find((p: Json) => p.containerPort === port || p.name === port);
}

/** An image reference's parts: `[REGISTRY/]PATH/NAME[:TAG][@DIGEST]`; `registry` only when the first part names a host. */
function imageReference(reference: string): { registry?: string; repository: string; name: string; tag?: string; digest?: string } {
  const [named, digest] = reference.split('@') as [string, string | undefined];
  const slash = named.lastIndexOf('/');
  const colon = named.lastIndexOf(':');
  const repository = colon > slash ? named.slice(0, colon) : named;
  const tag = colon > slash ? named.slice(colon + 1) : undefined;
  const first = repository.split('/')[0]!;
  // Docker's rule: the first component is a registry host when it has a dot or a port, or is localhost.
  const registry = repository.includes('/') && (/[.:]/.test(first) || first === 'localhost') ? first : undefined;
  return { ...(registry !== undefined && { registry }), repository, name: repository.split('/').at(-1)!, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

/** Why a node could not pull `reference` reproducibly, or undefined: no registry host, no tag, or `:latest`. */
function imagePullProblem(reference: string): string | undefined {
  const { registry, tag, digest } = imageReference(reference);
  if (registry === undefined) return `${reference}: no registry host (Docker Hub's library would be asked for it)`;
  if (digest !== undefined) return undefined;
  if (tag === undefined) return `${reference}: no tag (an implicit :latest)`;
  if (tag === 'latest') return `${reference}: :latest moves under a running Deployment`;
  return undefined;
}

function weightsOf(text: string): Map<string, number> {
  return new Map(text.split(',').map((pair) => pair.split('=') as [string, string]).map(([version, weight]) => [version, Number(weight)]));
}

/** Deployments whose pods a Service or policy selector picks. */
function selected(manifests: readonly Manifest[], selector: Record<string, string> | undefined): Json[] {
  return ofKind(manifests, 'Deployment').filter((d) => selects(selector, podLabels(d)));
}

describe('deployment manifests: k8s/ (each overlay built) and istio/', function () {
  this.timeout(120_000);
  const built = {} as Record<Overlay, Manifest[]>;
  let istio: Manifest[];
  /** The production build with the Istio resources: what a cluster holds after the README's apply steps. */
  let cluster: Manifest[];

  before(() => {
    for (const overlay of OVERLAYS) built[overlay] = buildOverlay(overlay);
    istio = ISTIO_FILES.flatMap((file) => readManifests(file));
    cluster = [...built.prod, ...istio];
  });

  it('every YAML file under k8s/ and istio/ parses', () => {
    const files = [...yamlFiles(join(REPO_ROOT, 'k8s')), ...ISTIO_FILES];
    assert.ok(files.length >= 20, `found ${files.length} files`);
    for (const file of files) assert.ok(readManifests(file).length > 0, `${file} holds no document`);
  });

  it('every manifest file of base and the overlays is listed by its kustomization (none is silently left out)', () => {
    for (const overlay of OVERLAYS) {
      const dir = overlayDir(overlay);
      const kustomization = readYaml(relative(REPO_ROOT, join(dir, 'kustomization.yaml')));
      const listed = new Set<string>([...(kustomization.resources ?? []), ...(kustomization.patchesStrategicMerge ?? [])]);
      for (const file of yamlFiles(dir).map((path) => relative(dir, join(REPO_ROOT, path)))) {
        if (file === 'kustomization.yaml') continue;
        assert.ok(listed.has(file), `${relative(REPO_ROOT, dir)}/${file} is not in its kustomization.yaml`);
      }
    }
  });

  it('validates every manifest against the kubernetes-models, Istio, KEDA and Prometheus Operator schemas, unknown fields included', () => {
    for (const overlay of OVERLAYS) assert.deepEqual(schemaProblems(built[overlay]), [], `k8s ${overlay}`);
    assert.deepEqual(schemaProblems(istio), [], 'istio/');
    const kinds = new Set(cluster.map((m) => m.object['kind']));
    for (const kind of ['Namespace', 'ServiceAccount', 'ConfigMap', 'Service', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'ScaledObject', 'PodMonitor',
      'PeerAuthentication', 'AuthorizationPolicy', 'DestinationRule', 'VirtualService', 'Gateway']) {
      assert.ok(kinds.has(kind), `no ${kind} was validated`);
    }
  });

  it('the schema check itself catches an unknown field at any depth, a wrong type and an unknown kind', () => {
    const copy = (kind: string, name: string): Json => structuredClone(named(cluster, kind, name));
    const deployment = copy('Deployment', 'model-v1');
    deployment.spec.template.spec.containers[0].resources.limit = { cpu: '1' };
    const virtualService = copy('VirtualService', 'model');
    virtualService.spec.http[2].route[0].wieght = 5;
    const scaledObject = copy('ScaledObject', 'model-v2');
    scaledObject.spec.triggers[0].metdata = {};
    const hpa = copy('HorizontalPodAutoscaler', 'gateway');
    hpa.spec.minReplicas = 'two';
    const podMonitor = copy('PodMonitor', 'inference-mesh');
    podMonitor.spec.podMetricsEndpoints[0].prot = 'metrics';
    const problems = schemaProblems([
      { source: 'case', object: deployment },
      { source: 'case', object: virtualService },
      { source: 'case', object: scaledObject },
      { source: 'case', object: hpa },
      { source: 'case', object: podMonitor },
      { source: 'case', object: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } } },
    ]).join('\n');
    assert.match(problems, /Deployment model-v1: at \.spec\.template\.spec\.containers\[0\]\.resources\.limit: .*'"?limit"?' does not exist/);
    assert.match(problems, /VirtualService model: at \.spec\.http\[2\]\.route\[0\]\.wieght: .*'"?wieght"?' does not exist/);
    assert.match(problems, /ScaledObject model-v2: at \.spec\.triggers\[0\]\.metdata: .*'"?metdata"?' does not exist/);
    assert.match(problems, /HorizontalPodAutoscaler gateway: .*minReplicas must be integer/);
    assert.match(problems, /HorizontalPodAutoscaler gateway: at \.spec\.minReplicas: Type 'string' is not assignable to type 'number'/);
    assert.match(problems, /PodMonitor inference-mesh: at \.spec\.podMetricsEndpoints\[0\]\.prot: .*'"?prot"?' does not exist/);
    assert.match(problems, /Widget w: example.com\/v1 Widget is not a kind this project deploys/);
  });

  for (const overlay of OVERLAYS) {
    describe(`${overlay}: cross-references`, () => {
      const manifests = () => built[overlay];

      it(`puts everything in the ${NAMESPACE} namespace, with Istio sidecar injection on for default and revision-based installs`, () => {
        const namespace = named(manifests(), 'Namespace', NAMESPACE);
        // istio.io/rev=default: the default install, or the revision the `default` tag points at; set to a revision
        // or tag otherwise. istio-injection would take precedence over it and names the default revision only.
        assert.equal(namespace.metadata.labels['istio.io/rev'], 'default');
        assert.equal(namespace.metadata.labels['istio-injection'], undefined, 'istio-injection would override istio.io/rev');
        for (const manifest of manifests()) {
          if (manifest.object['kind'] === 'Namespace') continue;
          assert.equal((manifest.object['metadata'] as Json).namespace, NAMESPACE, describeManifest(manifest));
        }
      });

      it('Service selectors pick Deployments whose containers have the ports the Service targets; gRPC ports say so', () => {
        const services = ofKind(manifests(), 'Service');
        assert.deepEqual(services.map((s) => s.metadata.name).sort(), ['gateway', 'model', 'postprocess', 'tokenizer']);
        for (const service of services) {
          const deployments = selected(manifests(), service.spec.selector);
          assert.ok(deployments.length > 0, `Service ${service.metadata.name} selects no Deployment`);
          for (const port of service.spec.ports) {
            for (const deployment of deployments) {
              assert.ok(containerPort(containerOf(deployment), port.targetPort), `Service ${service.metadata.name} port ${port.name}: no container port ${port.targetPort} in ${deployment.metadata.name}`);
            }
          }
          const grpc = service.spec.ports.find((p: Json) => p.name === 'grpc');
          assert.equal(grpc?.appProtocol, 'grpc', `Service ${service.metadata.name}: a port named grpc with appProtocol grpc (Istio routes per call)`);
          assert.ok(service.spec.ports.some((p: Json) => p.name === 'metrics'), `Service ${service.metadata.name}: a metrics port`);
        }
        assert.deepEqual(
          selected(manifests(), named(manifests(), 'Service', 'model').spec.selector).map((d) => d.metadata.name).sort(),
          ['model-v1', 'model-v2'],
          'one model Service in front of every version',
        );
      });

      it('each Deployment selects its own pods, runs under its ServiceAccount, reads existing ConfigMaps and starts a real entrypoint', () => {
        const deployments = ofKind(manifests(), 'Deployment');
        assert.deepEqual(deployments.map((d) => d.metadata.name).sort(), ['gateway', 'model-v1', 'model-v2', 'postprocess', 'tokenizer']);
        const accounts = new Set(ofKind(manifests(), 'ServiceAccount').map((a) => a.metadata.name));
        for (const deployment of deployments) {
          const name = deployment.metadata.name;
          assert.ok(selects(deployment.spec.selector.matchLabels, podLabels(deployment)), `${name}: the selector matches its pod labels`);
          const others = deployments.filter((d) => d !== deployment && selects(deployment.spec.selector.matchLabels, podLabels(d)));
          assert.deepEqual(others.map((d) => d.metadata.name), [], `${name}: its selector picks other Deployments' pods`);
          const pod = deployment.spec.template.spec;
          assert.ok(accounts.has(pod.serviceAccountName), `${name}: ServiceAccount ${pod.serviceAccountName} is not defined`);
          assert.equal(pod.serviceAccountName, podLabels(deployment)['app'], `${name}: runs under its service's account`);
          const container = containerOf(deployment);
          containerEnv(manifests(), container); // throws for a ConfigMap that does not exist
          const entrypoint = container.args.at(-1);
          assert.match(entrypoint, /^services\/[a-z]+\/dist\/main\.js$/, `${name}: args`);
          assert.ok(existsSync(join(REPO_ROOT, entrypoint)), `${name}: ${entrypoint} is not built from this repository`);
          assert.equal(entrypoint.split('/')[1], podLabels(deployment)['app'], `${name}: runs its own service`);
          // The image's user (docker/Dockerfile) is numeric, so Kubernetes can check runAsNonRoot.
          assert.equal(pod.securityContext.runAsNonRoot, true, name);
          assert.equal(pod.securityContext.runAsUser, 10001, name);
          assert.equal(container.securityContext.allowPrivilegeEscalation, false, name);
          assert.deepEqual(container.securityContext.capabilities.drop, ['ALL'], name);
        }
      });

      it('probes are native gRPC health checks on a port the container has; startup is generous for model loading', () => {
        for (const deployment of ofKind(manifests(), 'Deployment')) {
          const container = containerOf(deployment);
          const grpcPort = containerPort(container, 'grpc');
          assert.ok(grpcPort, `${deployment.metadata.name}: a container port named grpc`);
          for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
            const port = container[probe]?.grpc?.port;
            assert.equal(port, grpcPort.containerPort, `${deployment.metadata.name}: ${probe} checks grpc.health.v1 on the gRPC port`);
          }
          const startup = container.startupProbe;
          const allowedSeconds = startup.periodSeconds * startup.failureThreshold;
          const isModel = podLabels(deployment)['app'] === 'model';
          assert.ok(allowedSeconds >= (isModel ? 300 : 60), `${deployment.metadata.name}: startup allows ${allowedSeconds} s`);
          if (isModel) {
            // Kubernetes' default timeoutSeconds is 1: a model pod busy with batches would flap out of the Service.
            for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
              const { timeoutSeconds = 1, periodSeconds = 10 } = container[probe];
              assert.ok(timeoutSeconds >= 2 && timeoutSeconds < periodSeconds, `${deployment.metadata.name}: ${probe} timeoutSeconds ${timeoutSeconds}`);
            }
          }
          assert.ok(containerPort(container, 'metrics'), `${deployment.metadata.name}: a container port named metrics`);
          const annotations = deployment.spec.template.metadata.annotations;
          assert.equal(Number(annotations['prometheus.io/port']), containerPort(container, 'metrics').containerPort, `${deployment.metadata.name}: scrape port`);
        }
      });

      it("shutdown fits: preStop sleep + the services' own deadline (grace, drain, release with the model's worker close) + a margin within terminationGracePeriodSeconds; the sidecar outlives the drain", () => {
        // After the drain a service releases what it holds within RELEASE_ALLOWANCE_MS, then exits regardless: the
        // model service's batches, sessions and ONNX Runtime worker within WORKER_CLOSE_WAIT_MS, telemetry's last
        // export in what is left.
        assert.ok(WORKER_CLOSE_WAIT_MS + 1_000 <= RELEASE_ALLOWANCE_MS, `the worker's close (${WORKER_CLOSE_WAIT_MS} ms) + 1 s does not fit the release allowance (${RELEASE_ALLOWANCE_MS} ms)`);
        for (const deployment of ofKind(manifests(), 'Deployment')) {
          const name = deployment.metadata.name;
          const container = containerOf(deployment);
          const service = /services\/(gateway|tokenizer|model|postprocess)\/dist\/main\.js/.exec((container.args ?? []).join(' '))?.[1] as ServiceName | undefined;
          assert.ok(service, `${name}: runs no service's main.js: ${JSON.stringify(container.args)}`);
          // The service's own reading of its environment: the defaults are the code's, not copies of them.
          const server = parseConfig(Object.fromEntries(containerEnv(manifests(), container)), (env) => readServerConfig(env, service));
          const command = container.lifecycle.preStop.exec.command;
          assert.equal(command[0], 'sleep', `${name}: preStop sleeps while endpoints and sidecars stop routing here`);
          const preStopSeconds = Number(command[1]);
          assert.ok(preStopSeconds >= 3, `${name}: preStop ${preStopSeconds} s`);
          const terms = {
            preStop: preStopSeconds,
            grace: server.shutdownGraceMs / 1000,
            drain: server.drainTimeoutMs / 1000,
            // Holds the worker's close for the model (asserted above) and telemetry's export for every service.
            release: RELEASE_ALLOWANCE_MS / 1000,
          };
          assert.equal(shutdownDeadlineMs(server) / 1000, terms.grace + terms.drain + terms.release, `${name}: the deadline the service sets itself after SIGTERM`);
          const shutdownSeconds = terms.preStop + terms.grace + terms.drain + terms.release;
          const terminationGrace = deployment.spec.template.spec.terminationGracePeriodSeconds;
          assert.ok(
            terminationGrace >= shutdownSeconds + SHUTDOWN_MARGIN_SECONDS,
            `${name}: terminationGracePeriodSeconds ${terminationGrace} < ${JSON.stringify(terms)} = ${shutdownSeconds} s + a margin of ${SHUTDOWN_MARGIN_SECONDS} s`,
          );
          const proxy = parse(deployment.spec.template.metadata.annotations['proxy.istio.io/config']);
          const drainedSeconds = terms.preStop + terms.grace + terms.drain;
          assert.ok(durationSeconds(proxy.terminationDrainDuration) >= drainedSeconds, `${name}: the sidecar would leave before the service drained`);
          assert.ok(durationSeconds(proxy.terminationDrainDuration) < terminationGrace, `${name}: the sidecar drain outlasts the pod's grace`);
          assert.equal(proxy.holdApplicationUntilProxyStarts, true, name);
        }
      });

      it('every container requests CPU and memory and has a memory limit', () => {
        for (const deployment of ofKind(manifests(), 'Deployment')) {
          const { requests, limits } = containerOf(deployment).resources;
          assert.ok(requests.cpu && requests.memory && limits.memory, `${deployment.metadata.name}: ${JSON.stringify({ requests, limits })}`);
        }
      });

      it('spreads each Deployment over nodes, selecting its own pods', () => {
        for (const deployment of ofKind(manifests(), 'Deployment')) {
          const constraints = deployment.spec.template.spec.topologySpreadConstraints;
          assert.ok(constraints.some((c: Json) => c.topologyKey === 'kubernetes.io/hostname'), deployment.metadata.name);
          for (const constraint of constraints) {
            assert.deepEqual(constraint.labelSelector.matchLabels, deployment.spec.selector.matchLabels, `${deployment.metadata.name}: ${constraint.topologyKey}`);
          }
        }
      });

      it('HPAs scale the CPU-bound Deployments, with scale-down stabilisation; PodDisruptionBudgets cover every Deployment', () => {
        const deployments = ofKind(manifests(), 'Deployment');
        const hpas = ofKind(manifests(), 'HorizontalPodAutoscaler');
        assert.deepEqual(hpas.map((h) => h.spec.scaleTargetRef.name).sort(), ['gateway', 'postprocess', 'tokenizer']);
        for (const hpa of hpas) {
          const target = deployments.find((d) => d.metadata.name === hpa.spec.scaleTargetRef.name && hpa.spec.scaleTargetRef.kind === 'Deployment');
          assert.ok(target, `HPA ${hpa.metadata.name}: no Deployment ${hpa.spec.scaleTargetRef.name}`);
          assert.equal(target.spec.replicas, undefined, `${target.metadata.name}: a replicas field would fight the HPA on every apply`);
          assert.ok(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds >= 60, `HPA ${hpa.metadata.name}`);
          assert.ok(hpa.spec.minReplicas <= hpa.spec.maxReplicas, `HPA ${hpa.metadata.name}`);
          // The app container's CPU only: a pod Resource metric would add the Istio sidecar's usage and request.
          assert.deepEqual(
            hpa.spec.metrics.map((m: Json) => [m.type, m.containerResource?.name, m.containerResource?.container]),
            [['ContainerResource', 'cpu', containerOf(target).name]],
            `HPA ${hpa.metadata.name} scales on its app container's CPU`,
          );
        }
        const pdbs = ofKind(manifests(), 'PodDisruptionBudget');
        for (const deployment of deployments) {
          const covering = pdbs.filter((p) => selects(p.spec.selector.matchLabels, podLabels(deployment)));
          assert.equal(covering.length, 1, `${deployment.metadata.name}: covered by ${covering.length} PodDisruptionBudgets`);
        }
        for (const pdb of pdbs) assert.equal(selected(manifests(), pdb.spec.selector.matchLabels).length, 1, `PDB ${pdb.metadata.name}`);
      });

      it('model Deployments: one per version, labelled with it; the images have Dockerfile targets', () => {
        const dockerfile = readFileSync(join(REPO_ROOT, 'docker', 'Dockerfile'), 'utf8');
        const targets = new Set([...dockerfile.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]));
        const imageTarget: Record<string, string> = { 'inference-mesh': 'service', 'inference-mesh-model': 'model', 'inference-mesh-model-cuda': 'model-cuda' };
        for (const deployment of ofKind(manifests(), 'Deployment')) {
          const image = containerOf(deployment).image;
          const { name } = imageReference(image);
          assert.ok(targets.has(imageTarget[name]!), `${deployment.metadata.name}: image ${image} has no docker/Dockerfile target`);
        }
        for (const version of ['1', '2']) {
          const deployment = named(manifests(), 'Deployment', `model-v${version}`);
          assert.equal(podLabels(deployment)['version'], `v${version}`);
          const served = containerEnv(manifests(), containerOf(deployment)).get('IMESH_MODEL_VERSIONS');
          // Without Istio (dev) nothing routes by version, so every pod serves every version.
          assert.equal(served, overlay === 'dev' ? '' : version, `model-v${version}: IMESH_MODEL_VERSIONS`);
          assert.ok(existsSync(join(REPO_ROOT, 'models', 'sentiment', version, 'model.onnx')), `models/sentiment/${version}`);
        }
      });
    });
  }

  describe('prod', () => {
    it('runs the model on GPU nodes: the CUDA image, one nvidia.com/gpu, the GPU taint tolerated', () => {
      for (const name of ['model-v1', 'model-v2']) {
        const deployment = named(built.prod, 'Deployment', name);
        const container = containerOf(deployment);
        assert.equal(imageReference(container.image).name, 'inference-mesh-model-cuda', name);
        assert.equal(container.resources.limits['nvidia.com/gpu'], '1', name);
        assert.equal(container.resources.requests['nvidia.com/gpu'], container.resources.limits['nvidia.com/gpu'], `${name}: GPU requests equal limits`);
        assert.equal(containerEnv(built.prod, container).get('IMESH_MODEL_EXECUTION_PROVIDER'), 'cuda', name);
        const pod = deployment.spec.template.spec;
        assert.ok(pod.tolerations.some((t: Json) => t.key === 'nvidia.com/gpu' && t.operator === 'Exists' && t.effect === 'NoSchedule'), name);
        // The nvidia.com/gpu request schedules the pod; a GPU Operator label (nvidia.com/gpu.present) would leave it
        // Pending on clusters with the device plugin alone (most managed ones).
        assert.deepEqual(Object.keys(pod.nodeSelector ?? {}).filter((label) => label.startsWith('nvidia.com/')), [], `${name}: selects no GPU Operator node label`);
      }
      for (const overlay of ['base', 'dev'] as const) {
        for (const deployment of ofKind(built[overlay], 'Deployment')) {
          assert.equal(containerOf(deployment).resources.limits['nvidia.com/gpu'], undefined, `${overlay} ${deployment.metadata.name} asks for no GPU`);
        }
      }
    });

    it('pulls every image from a registry by a fixed tag: no unqualified name, no :latest, no missing tag', () => {
      // The rule itself, on the references it must refuse and accept.
      for (const refused of ['inference-mesh', 'inference-mesh:0.1.0', 'inference-mesh/model:0.1.0', 'registry.example.com/inference-mesh/model', 'registry.example.com/inference-mesh/model:latest']) {
        assert.ok(imagePullProblem(refused), `${refused} is refused`);
      }
      for (const accepted of ['registry.example.com/inference-mesh/model:0.1.0', 'localhost:5000/model:1', 'registry.example.com:5000/m@sha256:' + '0'.repeat(64)]) {
        assert.equal(imagePullProblem(accepted), undefined, accepted);
      }
      const pods = ofKind(built.prod, 'Deployment').map((d) => d.spec.template.spec);
      const images: string[] = pods.flatMap((pod) => [...(pod.initContainers ?? []), ...pod.containers].map((c: Json) => c.image));
      assert.equal(images.length, 5);
      assert.deepEqual(images.map(imagePullProblem).filter((problem) => problem), [], 'prod images');
      // Every image the manifests and the Dockerfile know has an entry, so that none is left to a default.
      const kustomization = readYaml('k8s/overlays/prod/kustomization.yaml');
      assert.deepEqual(kustomization.images.map((i: Json) => i.name).sort(), ['inference-mesh', 'inference-mesh-model', 'inference-mesh-model-cuda']);
      for (const entry of kustomization.images) assert.equal(imagePullProblem(`${entry.newName}:${entry.newTag}`), undefined, entry.name);
      // k8s/queue-worker is applied beside prod, as its own kustomization: it pins the service image itself.
      const worker = ofKind(buildQueueWorker(), 'Deployment').flatMap((d) => [...(d.spec.template.spec.initContainers ?? []), ...d.spec.template.spec.containers].map((c: Json) => c.image));
      assert.equal(worker.length, 1);
      assert.deepEqual(worker.map(imagePullProblem).filter((problem) => problem), [], 'k8s/queue-worker images');
    });

    it('PodMonitors scrape every pod: its metrics port, and the Istio sidecar\'s merged stats on 15020 /stats/prometheus', () => {
      const monitors = ofKind(built.prod, 'PodMonitor');
      assert.deepEqual(monitors.map((m) => m.metadata.name).sort(), ['inference-mesh', 'inference-mesh-istio']);
      for (const monitor of monitors) {
        // The namespace's own pods (no namespaceSelector), every Deployment's.
        assert.equal(monitor.spec.namespaceSelector, undefined, monitor.metadata.name);
        assert.deepEqual(selected(built.prod, monitor.spec.selector.matchLabels).map((d) => d.metadata.name).sort(), ['gateway', 'model-v1', 'model-v2', 'postprocess', 'tokenizer'], monitor.metadata.name);
        assert.equal(monitor.spec.podMetricsEndpoints.length, 1, monitor.metadata.name);
      }
      const [app] = named(built.prod, 'PodMonitor', 'inference-mesh').spec.podMetricsEndpoints;
      for (const deployment of ofKind(built.prod, 'Deployment')) {
        const container = containerOf(deployment);
        assert.ok(containerPort(container, app.port), `${deployment.metadata.name}: a container port named ${app.port}`);
        assert.equal(app.path, deployment.spec.template.metadata.annotations['prometheus.io/path'], `${deployment.metadata.name}: the path it serves`);
      }
      // The agent's port is no container port: the target is the sidecar's (Envoy's 15090, named by Istio's injector),
      // readdressed to 15020 on the pod's IP, IPv4 or IPv6.
      const [istio] = named(built.prod, 'PodMonitor', 'inference-mesh-istio').spec.podMetricsEndpoints;
      assert.equal(istio.port, 'http-envoy-prom');
      assert.equal(istio.path, '/stats/prometheus');
      const address = (ip: string): string | undefined => {
        let target: string | undefined;
        for (const rule of istio.relabelings) {
          assert.deepEqual([rule.sourceLabels, rule.targetLabel, rule.action ?? 'replace'], [['__meta_kubernetes_pod_ip'], '__address__', 'replace']);
          const match = new RegExp(`^(?:${rule.regex})$`).exec(ip);
          if (match) target = rule.replacement.replace(/\$(\d)/g, (_: string, i: string) => match[Number(i)]!);
        }
        return target;
      };
      assert.equal(address('10.1.2.3'), '10.1.2.3:15020');
      assert.equal(address('fd00:10::7'), '[fd00:10::7]:15020');
      // The merged stats repeat the app's series: the Istio job keeps Istio's and Envoy's own, so that sums over
      // pods (the dashboard's) count the app's once.
      const kept = (name: string): boolean =>
        (istio.metricRelabelings ?? []).every((rule: Json) => rule.action !== 'keep' || (rule.sourceLabels.join(';') === '__name__' && new RegExp(`^(?:${rule.regex})$`).test(name)));
      assert.ok((istio.metricRelabelings ?? []).some((rule: Json) => rule.action === 'keep'), 'the Istio job keeps only Istio\'s series');
      for (const name of ['istio_requests_total', 'istio_request_duration_milliseconds_bucket', 'envoy_cluster_upstream_rq_total']) assert.ok(kept(name), `keeps ${name}`);
      for (const name of ['imesh_model_queue_rows', 'rpc_server_duration_count', 'imesh_gateway_inflight']) assert.ok(!kept(name), `drops the app's ${name}`);
    });

    it('scales each model Deployment with a KEDA ScaledObject running the canonical PromQL of k8s/monitoring/queries.yaml', () => {
      const canonical = readYaml('k8s/monitoring/queries.yaml').autoscaling as { model: string; version: string; query: string; threshold: string }[];
      const scaledObjects = ofKind(built.prod, 'ScaledObject');
      assert.deepEqual(scaledObjects.map((s) => s.spec.scaleTargetRef.name).sort(), ['model-v1', 'model-v2']);
      const hpaTargets = new Set(ofKind(built.prod, 'HorizontalPodAutoscaler').map((h) => h.spec.scaleTargetRef.name));
      for (const scaledObject of scaledObjects) {
        const target = named(built.prod, 'Deployment', scaledObject.spec.scaleTargetRef.name);
        assert.ok(!hpaTargets.has(target.metadata.name), `${target.metadata.name}: an HPA and KEDA would both scale it`);
        assert.equal(target.spec.replicas, undefined, `${target.metadata.name}: a replicas field would fight KEDA on every apply`);
        const version = containerEnv(built.prod, containerOf(target)).get('IMESH_MODEL_VERSIONS');
        const expected = canonical.find((entry) => entry.model === 'sentiment' && entry.version === version);
        assert.ok(expected, `queries.yaml has no query for version ${version}`);
        const [trigger, ...more] = scaledObject.spec.triggers;
        assert.equal(more.length, 0);
        assert.equal(trigger.type, 'prometheus');
        assert.equal(trigger.metadata.query, expected.query, `${scaledObject.metadata.name}: the query`);
        assert.equal(trigger.metadata.threshold, expected.threshold, `${scaledObject.metadata.name}: the threshold`);
        assert.match(trigger.metadata.serverAddress, /^https?:\/\/[^/]+:\d+$/);
        // Each pod once though the PodMonitors scrape it twice (tests/src/deploy-monitoring.test.ts runs it so).
        assert.match(trigger.metadata.query, /^sum\(max by \(namespace, pod\) \(imesh_model_queue_rows\{[^}]*\}\)\)$/, `${scaledObject.metadata.name}: the query`);
        // An empty answer (nothing scraped) is an error, not an idle queue at 0; errors lead to the fallback.
        assert.equal(trigger.metadata.ignoreNullValues, 'false', `${scaledObject.metadata.name}: ignoreNullValues`);
        assert.equal(trigger.metricType ?? 'AverageValue', 'AverageValue', 'fallback works with AverageValue only');
        const { fallback } = scaledObject.spec;
        assert.ok(fallback, `${scaledObject.metadata.name}: a fallback`);
        assert.ok(fallback.failureThreshold >= 1 && fallback.failureThreshold <= 10, `${scaledObject.metadata.name}: fallback.failureThreshold ${fallback.failureThreshold}`);
        assert.ok(fallback.replicas > scaledObject.spec.minReplicaCount && fallback.replicas <= scaledObject.spec.maxReplicaCount, `${scaledObject.metadata.name}: fallback.replicas ${fallback.replicas}`);
        assert.ok(scaledObject.spec.minReplicaCount >= 1, 'a model Deployment never scales to zero (nothing would measure its queue)');
        assert.ok(scaledObject.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds >= 60);
      }
      assert.equal(ofKind(built.base, 'ScaledObject').length + ofKind(built.dev, 'ScaledObject').length, 0, 'base and dev need no KEDA');
    });
  });

  describe('dev (Tilt)', () => {
    it('without a mesh, the gateway balances over every downstream pod: headless Services, dns:/// targets; under Istio, ClusterIP Services', () => {
      const gateway = containerOf(named(built.dev, 'Deployment', 'gateway'));
      const env = containerEnv(built.dev, gateway);
      for (const hop of ['tokenizer', 'model', 'postprocess']) {
        const service = named(built.dev, 'Service', hop);
        const port = service.spec.ports.find((p: Json) => p.name === 'grpc').port;
        // A ClusterIP would hand grpc-js one address: its one HTTP/2 connection would stick to one pod.
        assert.equal(service.spec.clusterIP, 'None', `dev Service ${hop} is headless`);
        assert.equal(env.get(`IMESH_${hop.toUpperCase()}_TARGET`), `dns:///${hop}:${port}`, `dev: the gateway resolves every ${hop} pod`);
        for (const overlay of ['base', 'prod'] as const) {
          // Istio balances per call and routes subsets by the Service's ClusterIP; headless, it would not.
          assert.equal(named(built[overlay], 'Service', hop).spec.clusterIP, undefined, `${overlay} Service ${hop} keeps its ClusterIP`);
          const target = containerEnv(built[overlay], containerOf(named(built[overlay], 'Deployment', 'gateway'))).get(`IMESH_${hop.toUpperCase()}_TARGET`);
          assert.equal(target, `${hop}:${port}`, `${overlay}: through the sidecar`);
        }
      }
      // round_robin over the resolved addresses, not grpc-js's default pick_first.
      assert.match(readFileSync(join(REPO_ROOT, 'services', 'gateway', 'src', 'downstreams.ts'), 'utf8'), /loadBalancingConfig: \[\{ round_robin: \{\} \}\]/);
    });

    it('restarts on synced code (node --watch) and lets Tilt write into the containers', () => {
      for (const deployment of ofKind(built.dev, 'Deployment')) {
        const container = containerOf(deployment);
        assert.equal(container.args[0], '--watch', deployment.metadata.name);
        assert.equal(container.securityContext.readOnlyRootFilesystem, false, deployment.metadata.name);
      }
      for (const deployment of ofKind(built.prod, 'Deployment')) assert.equal(containerOf(deployment).securityContext.readOnlyRootFilesystem, true);
    });
  });

  describe('istio/ against the production build', () => {
    const deployments = () => ofKind(cluster, 'Deployment');
    const service = (host: string): Json => {
      const match = new RegExp(`^([a-z0-9-]+)\\.${NAMESPACE}\\.svc\\.cluster\\.local$`).exec(host);
      assert.ok(match, `${host}: use the Service's full name`);
      return named(cluster, 'Service', match[1]!);
    };

    it('each model subset selects exactly the Deployment serving that version, and the header pins to it', () => {
      const rule = ofKind(cluster, 'DestinationRule').find((r) => r.spec.host === MODEL_HOST);
      const modelService = service(MODEL_HOST);
      assert.deepEqual(rule.spec.subsets.map((s: Json) => s.name).sort(), ['v1', 'v2']);
      const servedBySubset = new Map<string, string>();
      for (const subset of rule.spec.subsets) {
        const pods = deployments().filter((d) => selects(modelService.spec.selector, podLabels(d)) && selects(subset.labels, podLabels(d)));
        assert.equal(pods.length, 1, `subset ${subset.name} selects ${pods.map((d) => d.metadata.name)}`);
        servedBySubset.set(subset.name, containerEnv(cluster, containerOf(pods[0])).get('IMESH_MODEL_VERSIONS')!);
      }
      const virtualService = named(cluster, 'VirtualService', 'model');
      const pinned = virtualService.spec.http.filter((route: Json) => route.match?.some((m: Json) => m.headers?.[VERSION_HEADER]));
      assert.equal(pinned.length, 2);
      for (const route of pinned) {
        const version = route.match[0].headers[VERSION_HEADER].exact;
        assert.equal(route.route.length, 1);
        assert.equal(servedBySubset.get(route.route[0].destination.subset), version, `${VERSION_HEADER}: ${version} goes to a pod serving version ${version}`);
      }
      const headerRouteIndex = Math.max(...pinned.map((route: Json) => virtualService.spec.http.indexOf(route)));
      const unversioned = virtualService.spec.http.findIndex((route: Json) => !route.match?.some((m: Json) => m.headers?.[VERSION_HEADER]));
      assert.ok(unversioned > headerRouteIndex, 'the header routes come before the one for calls without the header (Istio takes the first match)');
      assert.equal(virtualService.spec.http[unversioned].route[0].destination.subset, undefined, 'calls without the header (or naming a version no route knows) reach any model pod');
    });

    it("one split, the gateway's: read from a mounted ConfigMap that canary steps patch, adding up to 100 over versions the header routes pin; Istio holds no weights", () => {
      for (const virtualService of ofKind(cluster, 'VirtualService')) {
        for (const route of virtualService.spec.http) {
          assert.equal(route.route.length, 1, `${virtualService.metadata.name} ${route.name}: one destination, no weighted split in Istio`);
          assert.ok(route.route[0].weight === undefined || route.route[0].weight === 100, `${virtualService.metadata.name} ${route.name}`);
        }
      }
      const gateway = named(cluster, 'Deployment', 'gateway');
      const container = containerOf(gateway);
      const env = containerEnv(cluster, container);
      assert.equal(env.get('IMESH_MODEL_VERSION_WEIGHTS'), undefined, 'no second split fixed in the environment (changing it would roll the pods)');
      const file = env.get('IMESH_MODEL_VERSION_WEIGHTS_FILE');
      assert.ok(file, 'the gateway reads its split from a file');
      const mount = (container.volumeMounts ?? []).find((m: Json) => file.startsWith(`${m.mountPath}/`));
      assert.ok(mount, `a volume is mounted where ${file} is`);
      assert.equal(mount.subPath, undefined, 'the kubelet never updates a subPath mount');
      const volume = gateway.spec.template.spec.volumes.find((v: Json) => v.name === mount.name);
      assert.ok(volume?.configMap, `${mount.name} is a ConfigMap volume`);
      const configMap = named(cluster, 'ConfigMap', volume.configMap.name);
      assert.equal(configMap.metadata.name, 'gateway-version-split', 'no hash suffix: `imesh canary set` patches it by name, and a change does not roll the gateway');
      const weights = weightsOf(String(configMap.data?.[file.slice(mount.mountPath.length + 1)]));
      assert.deepEqual(weights, new Map([['1', 95], ['2', 5]]), 'the canary starts at 5%');
      assert.equal([...weights.values()].reduce((sum, w) => sum + w, 0), 100);
      const pinnedVersions = new Set(
        named(cluster, 'VirtualService', 'model').spec.http.flatMap((route: Json) => (route.match ?? []).map((m: Json) => m.headers?.[VERSION_HEADER]?.exact)).filter(Boolean),
      );
      for (const [version, weight] of weights) if (weight > 0) assert.ok(pinnedVersions.has(version), `version ${version} has a header route to its pods`);
    });

    it('routes name existing Services, ports and subsets; Istio does not retry the hops the gateway retries; timeouts are set', () => {
      const rules = ofKind(cluster, 'DestinationRule');
      for (const rule of rules) service(rule.spec.host);
      for (const virtualService of ofKind(cluster, 'VirtualService')) {
        const internal = !virtualService.spec.gateways;
        for (const route of virtualService.spec.http) {
          for (const { destination } of route.route) {
            const target = service(destination.host);
            assert.ok(target.spec.ports.some((p: Json) => p.port === destination.port.number), `${virtualService.metadata.name}: port ${destination.port.number}`);
            if (destination.subset) {
              const rule = rules.find((r) => r.spec.host === destination.host);
              assert.ok(rule?.spec.subsets.some((s: Json) => s.name === destination.subset), `${virtualService.metadata.name}: subset ${destination.subset}`);
            }
            if (internal) {
              for (const match of route.match ?? []) assert.equal(match.port, destination.port.number, `${virtualService.metadata.name} ${route.name}: matches the gRPC port only`);
            }
          }
          if (internal) {
            assert.equal(route.retries?.attempts, 0, `${virtualService.metadata.name} ${route.name}: one retry layer (the gateway's)`);
            const attemptTimeout = Number(containerEnv(cluster, containerOf(named(cluster, 'Deployment', 'gateway'))).get('IMESH_ATTEMPT_TIMEOUT_MS')) / 1000;
            assert.ok(durationSeconds(route.timeout) > attemptTimeout, `${virtualService.metadata.name} ${route.name}: timeout ${route.timeout} is a backstop above the gateway's ${attemptTimeout} s attempts`);
          }
        }
      }
      assert.deepEqual(ofKind(cluster, 'VirtualService').filter((v) => !v.spec.gateways).map((v) => v.metadata.name).sort(), ['model', 'postprocess', 'tokenizer']);
    });

    it('outlier detection ejects on local-origin failures only, never on answered errors (a busy pod\'s DEADLINE_EXCEEDED 504, RESOURCE_EXHAUSTED 429, other 5xx), and keeps a minimum healthy share', () => {
      const rules = ofKind(cluster, 'DestinationRule');
      assert.deepEqual(rules.map((r) => r.metadata.name).sort(), ['model', 'postprocess', 'tokenizer']);
      for (const rule of rules) {
        const name = rule.metadata.name;
        for (const detection of [rule.spec.trafficPolicy.outlierDetection, ...(rule.spec.subsets ?? []).map((s: Json) => s.trafficPolicy?.outlierDetection).filter(Boolean)]) {
          // Without the split, Envoy counts its local failures as gateway errors and every answered 5xx with them.
          assert.equal(detection.splitExternalLocalOriginErrors, true, `${name}: local-origin failures counted apart`);
          assert.ok(detection.consecutiveLocalOriginFailures > 0, `${name}: ejects on connect failures, resets, timeouts`);
          // 0 or unset turns a counter off (Istio's consecutive5xxErrors defaults to 5, so it is set to 0).
          assert.ok(!detection.consecutiveGatewayErrors, `${name}: gateway-error ejection (DEADLINE_EXCEEDED is a 504) is off`);
          assert.equal(detection.consecutive5xxErrors, 0, `${name}: 5xx ejection is off`);
          assert.equal(detection.consecutiveErrors, undefined, `${name}: the deprecated 5xx counter is unset`);
          assert.ok(detection.maxEjectionPercent >= 50, `${name}: Istio's 10% ejects nobody among few pods`);
          assert.ok(detection.minHealthPercent > 0 && detection.minHealthPercent <= 50, `${name}: minHealthPercent ${detection.minHealthPercent}: a small subset is never ejected whole`);
        }
      }
    });

    it('AuthorizationPolicies: principals are ServiceAccounts; only the gateway calls tokenizer, model, postprocess; only the ingress namespaces call the gateway, whatever its service account', () => {
      const accounts = new Set(ofKind(cluster, 'ServiceAccount').map((a) => `cluster.local/ns/${NAMESPACE}/sa/${a.metadata.name}`));
      const policies = ofKind(cluster, 'AuthorizationPolicy');
      assert.ok(policies.some((p) => p.metadata.name === 'allow-nothing' && Object.keys(p.spec).length === 0), 'a namespace-wide default deny');
      const callers = new Map<string, string[]>();
      for (const policy of policies.filter((p) => p.spec.selector)) {
        assert.equal(policy.spec.action, 'ALLOW');
        const targets = selected(cluster, policy.spec.selector.matchLabels);
        assert.ok(targets.length > 0, `AuthorizationPolicy ${policy.metadata.name} selects no workload`);
        for (const rule of policy.spec.rules) {
          for (const operation of rule.to.map((t: Json) => t.operation)) {
            for (const port of operation.ports) {
              for (const target of targets) assert.ok(containerPort(containerOf(target), Number(port)), `${policy.metadata.name}: port ${port} of ${target.metadata.name}`);
            }
          }
          const principals: string[] = (rule.from ?? []).flatMap((f: Json) => f.source.principals ?? []);
          const namespaces: string[] = (rule.from ?? []).flatMap((f: Json) => f.source.namespaces ?? []);
          for (const principal of principals) {
            // An ingress gateway's account is the installer's choice (a Helm release's name): never hard-coded.
            assert.ok(accounts.has(principal), `${policy.metadata.name}: principal ${principal} is no ServiceAccount of ${NAMESPACE}`);
          }
          for (const source of (rule.from ?? []).map((f: Json) => f.source)) {
            assert.deepEqual(Object.keys(source).filter((key) => !['principals', 'namespaces'].includes(key)), [], `${policy.metadata.name}: sources by identity only`);
          }
          if (principals.length === 0 && namespaces.length === 0) {
            // The only rule open to any caller: GET /metrics on the metrics port.
            const [operation] = rule.to.map((t: Json) => t.operation);
            assert.deepEqual([operation.methods, operation.paths], [['GET'], ['/metrics']], policy.metadata.name);
            for (const target of targets) assert.equal(containerPort(containerOf(target), Number(operation.ports[0])).name, 'metrics');
          }
          callers.set(policy.metadata.name, [...(callers.get(policy.metadata.name) ?? []), ...principals, ...namespaces.map((ns) => `namespace ${ns}`)]);
        }
      }
      const gatewayAccount = `cluster.local/ns/${NAMESPACE}/sa/${named(cluster, 'Deployment', 'gateway').spec.template.spec.serviceAccountName}`;
      assert.deepEqual(Object.fromEntries(callers), {
        gateway: INGRESS_NAMESPACES.map((ns) => `namespace ${ns}`),
        tokenizer: [gatewayAccount],
        model: [gatewayAccount],
        postprocess: [gatewayAccount],
      });
    });

    it('mTLS is STRICT for the namespace; only metrics ports accept plaintext', () => {
      const policies = ofKind(cluster, 'PeerAuthentication');
      const namespaceWide = policies.filter((p) => !p.spec.selector);
      assert.deepEqual(namespaceWide.map((p) => p.spec.mtls.mode), ['STRICT']);
      for (const policy of policies.filter((p) => p.spec.selector)) {
        assert.equal(policy.spec.mtls.mode, 'STRICT');
        for (const [port, setting] of Object.entries(policy.spec.portLevelMtls ?? {}) as [string, Json][]) {
          for (const target of selected(cluster, policy.spec.selector.matchLabels)) {
            assert.equal(containerPort(containerOf(target), Number(port))?.name, 'metrics', `${policy.metadata.name}: port ${port} (${setting.mode})`);
          }
        }
      }
    });

    it('the ingress serves the public API over TLS and routes it to the gateway, with no timeout that would cut streams', () => {
      const [gateway] = ofKind(cluster, 'Gateway');
      const [server] = gateway.spec.servers;
      assert.equal(server.port.protocol, 'HTTPS');
      assert.equal(server.tls.mode, 'SIMPLE');
      const ingress = ofKind(cluster, 'VirtualService').find((v) => v.spec.gateways);
      assert.deepEqual(ingress.spec.gateways, [gateway.metadata.name]);
      for (const route of ingress.spec.http) {
        assert.equal(route.timeout, undefined);
        assert.deepEqual(route.route.map((d: Json) => [d.destination.host, d.destination.port.number]), [[`gateway.${NAMESPACE}.svc.cluster.local`, 50051]]);
        assert.ok(!/unavailable|5xx|reset/.test(route.retries.retryOn), 'retries only requests that never reached a gateway');
      }
      assert.deepEqual(
        ingress.spec.http.flatMap((route: Json) => route.match.map((m: Json) => m.uri.prefix)).sort(),
        ['/grpc.health.v1.Health/', '/inference_mesh.pipeline.v1.PipelineService/'],
      );
    });
  });
});

describe('docker/Dockerfile', () => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'docker', 'Dockerfile'), 'utf8');
  const stage = (name: string): string => {
    const start = dockerfile.search(new RegExp(`^FROM \\S+ AS ${name}$`, 'm'));
    assert.ok(start >= 0, `no stage ${name}`);
    const next = dockerfile.slice(start + 1).search(/^FROM /m);
    return next < 0 ? dockerfile.slice(start) : dockerfile.slice(start, start + 1 + next);
  };

  it('builds small non-root runtime images: production dependencies only, a numeric user, node as entrypoint', () => {
    for (const name of ['service', 'model', 'model-cuda']) {
      const text = stage(name);
      assert.match(text, /^USER 10001:10001$/m, name);
      assert.match(text, /^ENTRYPOINT \["node"\]$/m, name);
      assert.doesNotMatch(text, /npm (ci|install)/, `${name}: installs nothing at runtime`);
    }
    for (const name of ['service-deps', 'model-deps', 'model-cuda-deps']) assert.match(stage(name), /npm ci --omit=dev/, name);
    assert.doesNotMatch(stage('service-deps'), /services\/model/, 'the service image carries no ONNX Runtime');
  });

  it('installs the CUDA 12 execution provider in the CUDA flavour only', () => {
    // Every install skips dependencies' scripts (npm 10 ignores package.json's allowScripts); the CUDA flavour
    // then runs onnxruntime-node's download itself.
    for (const install of dockerfile.match(/^RUN .*npm ci.*$/gm) ?? []) assert.match(install, /npm ci (--omit=dev )?--ignore-scripts /, install);
    assert.match(stage('model-cuda-deps'), /ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\.js/);
    assert.match(stage('model-cuda'), /COPY --from=model-cuda-deps/);
    assert.doesNotMatch(stage('model-deps') + stage('service-deps'), /ONNXRUNTIME_NODE_INSTALL|install\.js/);
  });

  it('copies only paths that exist, and the build context leaves node_modules out', () => {
    for (const [, from] of dockerfile.matchAll(/^COPY (?!--from)(?:--chown=\S+ )?(.+) \S+$/gm)) {
      for (const path of from!.split(' ')) assert.ok(existsSync(join(REPO_ROOT, path)), `COPY ${path}`);
    }
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const pattern of ['**/node_modules', '.git', '**/*.tsbuildinfo']) assert.ok(ignored.includes(pattern), pattern);
    assert.ok(!ignored.some((line) => /dist/.test(line) && !line.startsWith('#')), 'dist/ stays in the context for Tilt');
    assert.ok(existsSync(join(dirname(join(REPO_ROOT, 'docker', 'Dockerfile')), '..', 'models', 'sentiment')));
  });
});

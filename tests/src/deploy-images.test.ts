// The images, built from docker/Dockerfile and run the way k8s/ runs them: read-only root, the image's own user
// and entrypoint, the Deployment's args, environment and mounted ConfigMaps; only addresses differ (one host
// network instead of Services). Base images are local stand-ins (docker/stand-in-base.sh): no registry here.
import { freePort } from '@inference-mesh/launcher';
import { PipelineClient } from '@inference-mesh/client';
import { readSst2 } from '@inference-mesh/model-tools';
import { HealthChecker } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Podman } from './containers';
import { buildOverlay, containerEnv, named, REPO_ROOT, type Json } from './deploy-support';
import type { Manifest } from './deploy-schemas';
import { inProcessPredictions } from './in-process-predictions';

/**
 * Budgets in MB, on the stand-in Debian base (127 MB; Docker Hub's debian:bookworm-slim is 74 MB): node 22 (120 MB),
 * the app's production dependencies, and models/. Before the runtime stages dropped npm and yarn and the other
 * platforms' ONNX Runtime and tokenizers builds, the two images were about 0.6 and 0.9 GB.
 */
const SIZE_BUDGET_MB = { service: 350, model: 400 } as const;
const IMAGES = { service: 'localhost/inference-mesh:test', model: 'localhost/inference-mesh-model:test' } as const;

/** The four containers, each from the Deployment whose pod spec it runs. */
const SERVICES = [
  { service: 'tokenizer', deployment: 'tokenizer', image: IMAGES.service },
  // One model container stands for both version Deployments: without Istio's header routing the gateway has one
  // model address, so this one serves every version (IMESH_MODEL_VERSIONS dropped).
  { service: 'model', deployment: 'model-v2', image: IMAGES.model },
  { service: 'postprocess', deployment: 'postprocess', image: IMAGES.service },
  { service: 'gateway', deployment: 'gateway', image: IMAGES.service },
] as const;
type Service = (typeof SERVICES)[number]['service'];

const report: string[] = [];

describe('images: docker/Dockerfile built with podman, run as k8s/ runs them', function () {
  let podman: Podman;
  const manifests = buildOverlay('base');
  const ports = new Map<Service, number>();
  const names = new Map<Service, string>();
  const startToServingMs = new Map<Service, number>();

  before(async function () {
    // The base images (about 2 min), then the two images (about 2 min each; the second reuses the build stage).
    this.timeout(25 * 60_000);
    podman = Podman.create();
    await podman.standInBase(10 * 60_000);
    await podman.build('service', IMAGES.service, 12 * 60_000);
    await podman.build('model', IMAGES.model, 12 * 60_000);
  });

  after(async function () {
    this.timeout(60_000);
    for (const name of names.values()) await podman?.remove(name);
    if (report.length > 0) process.stderr.write(`      ${report.join('\n      ')}\n`);
  });

  it(`stay under their size budgets (service ${SIZE_BUDGET_MB.service} MB, model ${SIZE_BUDGET_MB.model} MB)`, async () => {
    for (const [kind, tag] of Object.entries(IMAGES) as [keyof typeof IMAGES, string][]) {
      const megabytes = (await podman.imageSizeBytes(tag)) / 1e6;
      report.push(`image ${kind}: ${megabytes.toFixed(0)} MB`);
      assert.ok(megabytes <= SIZE_BUDGET_MB[kind], `${tag} is ${megabytes.toFixed(0)} MB, over its budget of ${SIZE_BUDGET_MB[kind]} MB`);
    }
  });

  it('run read-only as uid 10001 with their own entrypoint and the Deployments\' args, and serve', async function () {
    this.timeout(5 * 60_000);
    for (const { service } of SERVICES) ports.set(service, await freePort());
    for (const { service, deployment, image } of SERVICES) {
      const name = `imesh-test-${service}-${process.pid}`;
      names.set(service, name);
      await podman.remove(name);
      const container = appContainer(named(manifests, 'Deployment', deployment));
      const started = Date.now();
      await podman.run(['run', '--detach', '--name', name, '--read-only', '--network', 'host', ...environment(manifests, container, service, ports), ...volumes(manifests, named(manifests, 'Deployment', deployment), container), image, ...container.args]);
      await waitServing(podman, name, ports.get(service)!);
      startToServingMs.set(service, Date.now() - started);
      report.push(`${service}: start to SERVING ${((Date.now() - started) / 1000).toFixed(1)} s`);
      assert.equal(await podman.inspect(name, '{{.HostConfig.ReadonlyRootfs}}'), 'true', `${name}: read-only root`);
      assert.equal(await podman.inspect(name, '{{.Config.User}}'), '10001:10001', `${name}: the image's non-root user`);
      // podman 4 prints a one-word entrypoint as a string, later versions as a list.
      assert.match(await podman.inspect(name, '{{json .Config.Entrypoint}}'), /^(\["node"\]|"node")$/, `${name}: the image's entrypoint`);
      const { stdout } = await podman.run(['exec', name, 'id', '-u']);
      assert.equal(stdout.trim(), '10001', `${name}: runs as uid 10001`);
      assert.match((await podman.run(['exec', name, 'node', '--version'])).stdout, /^v22\./, `${name}: Node 22 LTS`);
      await assert.rejects(podman.run(['exec', name, 'sh', '-c', 'command -v npm || command -v yarn || command -v corepack']), `${name}: no package manager at runtime`);
      if (image === IMAGES.service) {
        // The rollout controller's Deployment (k8s/rollout) runs the CLI from this image.
        assert.match((await podman.run(['exec', name, 'node', 'tools/cli/bin/imesh.js', 'canary', '--help'])).stdout, /canary run {2,}a rollout controller/, `${name}: imesh canary run`);
        // So does the queue worker's (k8s/queue-worker): its main loads amqplib and the SDK's queue module before
        // it parses its configuration, so a file or dependency missing from the image fails this.
        await podman.run(['exec', name, 'node', 'services/queue-worker/dist/main.js', '--check-config']);
      }
      // The preStop hook runs `sleep` in the container: the image must have it.
      await podman.run(['exec', name, 'sleep', '0']);
      await assert.rejects(podman.run(['exec', name, 'touch', '/app/written']), /Read-only file system/, `${name}: /app is read-only`);
    }
  });

  it('classify through the gateway container as ONNX Runtime does in-process', async function () {
    this.timeout(5 * 60_000);
    assert.equal(startToServingMs.size, SERVICES.length, 'the containers are serving (the test before)');
    const texts = readSst2('dev').slice(0, 256).map((row) => row.text);
    const client = new PipelineClient({ target: `127.0.0.1:${ports.get('gateway')}` });
    try {
      const expected = new Map<string, { label: number; score: number }[]>();
      const versions = new Set<string>();
      for (let start = 0; start < texts.length; start += 64) {
        const response = await client.classify(texts.slice(start, start + 64));
        for (const [i, result] of response.results.entries()) {
          versions.add(result.modelVersion);
          if (!expected.has(result.modelVersion)) expected.set(result.modelVersion, await inProcessPredictions(result.modelVersion, texts));
          const want = expected.get(result.modelVersion)![start + i]!;
          assert.equal(result.label, want.label === 1 ? 'positive' : 'negative', `"${texts[start + i]}" (version ${result.modelVersion})`);
          assert.ok(Math.abs(result.score - want.score) < 1e-4, `"${texts[start + i]}": score ${result.score}, in-process ${want.score}`);
        }
      }
      report.push(`classified ${texts.length} texts through the gateway container (versions ${[...versions].join(', ')}), all as in-process`);
    } finally {
      client.close();
    }
  });

  it('stop on SIGTERM with exit code 0 within the grace the Deployments give, gateway first', async function () {
    this.timeout(3 * 60_000);
    assert.equal(startToServingMs.size, SERVICES.length, 'the containers are serving (the test before)');
    for (const { service, deployment } of [...SERVICES].reverse()) {
      const pod = named(manifests, 'Deployment', deployment).spec.template.spec;
      const preStopS = preStopSleepS(appContainer(named(manifests, 'Deployment', deployment)));
      // The kubelet runs the preStop hook, then sends SIGTERM; what is left of the grace is the process's.
      const budgetS = pod.terminationGracePeriodSeconds - preStopS;
      const name = names.get(service)!;
      const started = Date.now();
      await podman.run(['kill', '--signal', 'TERM', name]);
      const { stdout } = await podman.run(['wait', name], (budgetS + 30) * 1000);
      const seconds = (Date.now() - started) / 1000;
      report.push(`${service}: SIGTERM to exit ${seconds.toFixed(1)} s (budget ${budgetS} s)`);
      assert.equal(stdout.trim(), '0', `${service}: exit code after SIGTERM; its log:\n${(await podman.logs(name)).slice(-2000)}`);
      assert.ok(seconds <= budgetS, `${service} took ${seconds.toFixed(1)} s to exit, over the ${budgetS} s the grace leaves after preStop`);
    }
  });
});

describe('docker/Dockerfile: layers and runtime', () => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'docker', 'Dockerfile'), 'utf8');
  const stage = (name: string): string => {
    const match = new RegExp(`^FROM \\S+ AS ${name}$([\\s\\S]*?)(?=^FROM |(?![\\s\\S]))`, 'm').exec(dockerfile);
    assert.ok(match, `no stage ${name}`);
    return match[0];
  };

  it('installs dependencies from the package manifests alone, every workspace\'s, with npm\'s cache mounted', () => {
    const workspaces: string[] = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).workspaces;
    const manifests = workspaces.flatMap((pattern) =>
      pattern.endsWith('/*') ? readdirSync(join(REPO_ROOT, pattern.slice(0, -2))).map((name) => `${pattern.slice(0, -2)}/${name}`) : [pattern],
    ).filter((dir) => existsSync(join(REPO_ROOT, dir, 'package.json')));
    const copied = stage('manifests');
    for (const dir of manifests) assert.match(copied, new RegExp(`^COPY ${dir}/package.json ${dir}/$`, 'm'), `the manifests stage copies ${dir}/package.json`);
    assert.doesNotMatch(copied, /^COPY (libs|services|protos|tools|tests) /m, 'no sources before the install: a source edit would reinstall everything');
    const installs = dockerfile.match(/^RUN .*npm ci.*$/gm) ?? [];
    assert.equal(installs.length, 4, 'build, service-deps, model-deps, model-cuda-deps');
    for (const install of installs) assert.match(install, /^RUN --mount=type=cache,target=\/root\/\.npm /, install);
    const build = stage('build');
    assert.ok(build.indexOf('npm ci') < build.indexOf('COPY libs libs'), 'build: install before the sources');
  });

  it('runs on Node 22 LTS, without npm, as a user whose HOME is writable on a read-only root', () => {
    assert.match(dockerfile, /^ARG NODE_IMAGE=node:22-bookworm-slim$/m);
    assert.match(dockerfile, /^ARG RUNTIME_IMAGE=debian:bookworm-slim$/m, 'the same Debian release as NODE_IMAGE');
    for (const name of ['service', 'model', 'model-cuda']) {
      const text = stage(name);
      assert.match(text, /^COPY --from=node-runtime \/usr\/local\/bin\/node \/usr\/local\/bin\/node$/m, `${name}: node alone, from NODE_IMAGE`);
      assert.match(text, /^ENV .*\bHOME=\/tmp\b/m, `${name}: HOME=/tmp`);
    }
    assert.match(stage('service'), /^FROM \$\{RUNTIME_IMAGE\} AS service$/m);
    assert.match(stage('model'), /^FROM \$\{RUNTIME_IMAGE\} AS model$/m);
    for (const name of ['service-deps', 'model-deps', 'model-cuda-deps']) assert.match(stage(name), /sh docker\/prune-other-platforms\.sh node_modules/, `${name}: drops other platforms' native builds`);
  });
});

function appContainer(deployment: Json): Json {
  const containers: Json[] = deployment.spec.template.spec.containers;
  const container = containers.find((c) => c.name === deployment.metadata.name.replace(/-v\d+$/, '')) ?? containers[0];
  assert.ok(Array.isArray(container.args) && container.args.length > 0, `${deployment.metadata.name}: the container names its service in args`);
  return container;
}

/**
 * The container's environment from the manifests, with addresses moved onto this host's free ports: the host
 * network stands for the Services, and the metrics ports move too so that nothing collides with another test.
 */
function environment(manifests: readonly Manifest[], container: Json, service: Service, ports: ReadonlyMap<Service, number>): string[] {
  const env = containerEnv(manifests, container);
  env.delete('IMESH_MODEL_VERSIONS');
  env.set('IMESH_HOST', '127.0.0.1');
  env.set(`IMESH_${service.toUpperCase()}_PORT`, String(ports.get(service)));
  env.set(`IMESH_${service.toUpperCase()}_METRICS_PORT`, '0');
  for (const downstream of ['tokenizer', 'model', 'postprocess'] as const) env.set(`IMESH_${downstream.toUpperCase()}_TARGET`, `127.0.0.1:${ports.get(downstream)}`);
  return [...env].flatMap(([key, value]) => ['--env', `${key}=${value}`]);
}

/** The pod's ConfigMap volumes as read-only bind mounts of their data, emptyDirs as tmpfs, where the container mounts them. */
function volumes(manifests: readonly Manifest[], deployment: Json, container: Json): string[] {
  const podVolumes: Json[] = deployment.spec.template.spec.volumes ?? [];
  const args: string[] = [];
  for (const mount of container.volumeMounts ?? []) {
    const volume = podVolumes.find((v) => v.name === mount.name);
    assert.ok(volume, `${deployment.metadata.name}: volumeMount ${mount.name} names no volume`);
    if (volume.emptyDir) {
      args.push('--tmpfs', mount.mountPath);
    } else if (volume.configMap) {
      const dir = mkdtempSync(join(tmpdir(), `imesh-configmap-${volume.configMap.name}-`));
      for (const [key, value] of Object.entries(named(manifests, 'ConfigMap', volume.configMap.name).data ?? {})) writeFileSync(join(dir, key), String(value));
      args.push('--volume', `${dir}:${mount.mountPath}:ro`);
    } else {
      assert.fail(`${deployment.metadata.name}: volume ${mount.name} is neither a ConfigMap nor an emptyDir; the image test cannot stand it in`);
    }
  }
  return args;
}

function preStopSleepS(container: Json): number {
  const command: string[] = container.lifecycle?.preStop?.exec?.command ?? [];
  return command[0] === 'sleep' ? Number(command[1]) : 0;
}

/** Polls the container's grpc.health.v1 until SERVING; fails with its log when it exits or takes over 2 min. */
async function waitServing(podman: Podman, name: string, port: number): Promise<void> {
  const checker = new HealthChecker(`127.0.0.1:${port}`);
  try {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if ((await checker.check('', Date.now() + 1_000)) === 'SERVING') return;
      if ((await podman.inspect(name, '{{.State.Running}}')) !== 'true') assert.fail(`${name} exited before SERVING; its log:\n${(await podman.logs(name)).slice(-3000)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.fail(`${name} was not SERVING within 2 min; its log:\n${(await podman.logs(name)).slice(-3000)}`);
  } finally {
    checker.close();
  }
}

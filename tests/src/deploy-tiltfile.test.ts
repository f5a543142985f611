import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildOverlay, named, ofKind, REPO_ROOT, type Json } from './deploy-support';

/**
 * Reads the Tiltfile with Python's ast (Starlark is a Python dialect), refuses what Starlark lacks, then runs it
 * with a stub for each Tilt builtin, so that every call comes out with its arguments evaluated (lists built by
 * helper functions included). Prints the calls as JSON.
 */
const READ_TILTFILE = String.raw`
import ast, json, sys
source = open(sys.argv[1]).read()
tree = ast.parse(source, sys.argv[1])
not_starlark = (ast.Import, ast.ImportFrom, ast.ClassDef, ast.While, ast.Try, ast.With, ast.Global, ast.Nonlocal,
                ast.AsyncFunctionDef, ast.Await, ast.Yield, ast.YieldFrom, ast.Raise, ast.Delete)
for node in ast.walk(tree):
    if isinstance(node, not_starlark):
        sys.exit("line %d: %s is not Starlark" % (node.lineno, type(node).__name__))
for node in tree.body:
    if isinstance(node, (ast.For, ast.If)):
        sys.exit("line %d: Starlark allows no %s at the top level" % (node.lineno, type(node).__name__.lower()))
calls = []
def builtin(name):
    def record(*args, **kwargs):
        call = {"name": name, "args": list(args), "kwargs": kwargs}
        calls.append(call)
        return call
    return record
names = ["docker_build", "sync", "run", "fall_back_on", "local_resource", "k8s_yaml", "kustomize", "k8s_resource",
         "watch_file", "read_file", "local", "port_forward"]
scope = {name: builtin(name) for name in names}
scope.update(TRIGGER_MODE_MANUAL="TRIGGER_MODE_MANUAL", TRIGGER_MODE_AUTO="TRIGGER_MODE_AUTO", __builtins__={
    "len": len, "str": str, "list": list, "dict": dict, "range": range, "enumerate": enumerate, "print": print})
exec(compile(tree, sys.argv[1], "exec"), scope)
print(json.dumps(calls))
`;

interface TiltCall {
  readonly name: string;
  readonly args: Json[];
  readonly kwargs: Record<string, Json>;
}

function python(): string {
  // Debian's interpreter, as in the Python interop test; any python3 reads a Tiltfile.
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

describe('Tiltfile', function () {
  this.timeout(60_000);
  let calls: TiltCall[];
  const callsOf = (name: string) => calls.filter((call) => call.name === name);

  before(() => {
    const output = execFileSync(python(), ['-c', READ_TILTFILE, join(REPO_ROOT, 'Tiltfile')], { encoding: 'utf8', timeout: 30_000 });
    calls = JSON.parse(output) as TiltCall[];
  });

  it('parses as Starlark and evaluates', () => {
    assert.ok(calls.length > 10, JSON.stringify(calls.map((c) => c.name)));
  });

  it('builds each image of the dev overlay from docker/Dockerfile targets, with a context of paths that exist', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'docker', 'Dockerfile'), 'utf8');
    const images = new Set(ofKind(buildOverlay('dev'), 'Deployment').map((d) => d.spec.template.spec.containers[0].image));
    const builds = callsOf('docker_build');
    assert.deepEqual(builds.map((b) => b.args[0]).sort(), [...images].sort());
    for (const build of builds) {
      const [image, context] = build.args;
      assert.ok(existsSync(join(REPO_ROOT, context)), `${image}: context ${context}`);
      assert.ok(existsSync(join(REPO_ROOT, build.kwargs['dockerfile'])), `${image}: ${build.kwargs['dockerfile']}`);
      assert.match(dockerfile, new RegExp(`^FROM \\S+ AS ${build.kwargs['target']}$`, 'm'), `${image}: target ${build.kwargs['target']}`);
      for (const path of build.kwargs['only']) assert.ok(existsSync(join(REPO_ROOT, context, path)), `${image}: only ${path}`);
    }
  });

  it('live-updates the compiled code of every workspace each image runs, to where the image keeps it', () => {
    /** The workspaces an image's services need, followed through package.json dependencies. */
    const workspacesOf = (services: readonly string[]): Set<string> => {
      const needed = new Set<string>();
      const visit = (dir: string) => {
        if (needed.has(dir)) return;
        needed.add(dir);
        const manifest = JSON.parse(readFileSync(join(REPO_ROOT, dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
        for (const dependency of Object.keys(manifest.dependencies ?? {})) {
          const lib = readdirSync(join(REPO_ROOT, 'libs')).find((name) => {
            const path = join(REPO_ROOT, 'libs', name, 'package.json');
            return existsSync(path) && (JSON.parse(readFileSync(path, 'utf8')) as { name: string }).name === dependency;
          });
          if (lib) visit(`libs/${lib}`);
        }
      };
      for (const service of services) visit(`services/${service}`);
      return needed;
    };
    for (const build of callsOf('docker_build')) {
      const image = build.args[0];
      const steps: TiltCall[] = build.kwargs['live_update'];
      const synced = steps.filter((step) => step.name === 'sync').map((step) => step.args as [string, string]);
      for (const [local, remote] of synced) {
        assert.ok(existsSync(join(REPO_ROOT, local)), `${image}: sync ${local}`);
        assert.equal(remote, `/app/${local}`, `${image}: ${local} lies at /app/${local} in the image (docker/Dockerfile's WORKDIR)`);
        assert.ok(build.kwargs['only'].includes(local), `${image}: ${local} is outside the build context`);
      }
      const fallBack: string[] = steps.filter((step) => step.name === 'fall_back_on').flatMap((step) => step.args[0]);
      for (const path of fallBack) assert.ok(existsSync(join(REPO_ROOT, path)), `${image}: fall_back_on ${path}`);
      for (const path of ['package.json', 'package-lock.json']) assert.ok(fallBack.includes(path), `${image}: a dependency change rebuilds (${path})`);
      const services = build.kwargs['target'] === 'service' ? ['gateway', 'tokenizer', 'postprocess'] : ['model'];
      for (const workspace of workspacesOf(services)) {
        assert.ok(existsSync(join(REPO_ROOT, workspace, 'dist')), `${workspace}/dist (built by tsc -b)`);
        assert.ok(synced.some(([local]) => workspace.startsWith(`${local}/`)), `${image}: ${workspace} is not live-synced`);
        assert.ok(fallBack.includes(`${workspace}/package.json`), `${image}: a change to ${workspace}/package.json must rebuild the image`);
      }
    }
  });

  it('deploys k8s/overlays/dev and forwards the gateway and every metrics port from existing resources', () => {
    const yaml = callsOf('k8s_yaml');
    assert.equal(yaml.length, 1);
    assert.equal(yaml[0]!.args[0].name, 'kustomize');
    const overlay = yaml[0]!.args[0].args[0];
    assert.equal(overlay, 'k8s/overlays/dev');
    assert.ok(existsSync(join(REPO_ROOT, overlay, 'kustomization.yaml')));
    const manifests = buildOverlay('dev');
    const forwarded = new Map<string, number[]>();
    const localPorts = new Set<string>();
    for (const resource of callsOf('k8s_resource')) {
      const deployment = named(manifests, 'Deployment', resource.args[0]);
      const container = deployment.spec.template.spec.containers[0];
      for (const forward of resource.kwargs['port_forwards'] ?? []) {
        const [local, remote] = String(forward).split(':');
        assert.ok(!localPorts.has(local!), `local port ${local} forwarded twice`);
        localPorts.add(local!);
        const port = container.ports.find((p: Json) => p.containerPort === Number(remote));
        assert.ok(port, `${resource.args[0]}: no container port ${remote}`);
        forwarded.set(resource.args[0], [...(forwarded.get(resource.args[0]) ?? []), port.containerPort]);
      }
    }
    const metricsPort = (name: string) => named(manifests, 'Deployment', name).spec.template.spec.containers[0].ports.find((p: Json) => p.name === 'metrics').containerPort;
    for (const deployment of ofKind(manifests, 'Deployment')) {
      assert.ok(forwarded.get(deployment.metadata.name)?.includes(metricsPort(deployment.metadata.name)), `${deployment.metadata.name}: metrics port forwarded`);
    }
    assert.ok(forwarded.get('gateway')?.includes(50051), 'the gateway\'s gRPC port');
  });

  it('runs the build and the tests as local resources, watching paths that exist', () => {
    const resources = callsOf('local_resource');
    assert.ok(resources.some((r) => /tsc -b/.test(r.kwargs['serve_cmd'] ?? r.kwargs['cmd'] ?? '')), 'a TypeScript build');
    assert.ok(resources.some((r) => /mocha/.test(r.kwargs['cmd'] ?? '')), 'the tests');
    for (const resource of resources) {
      for (const path of resource.kwargs['deps'] ?? []) assert.ok(existsSync(join(REPO_ROOT, path)), `${resource.args[0]}: deps ${path}`);
      for (const dependency of resource.kwargs['resource_deps'] ?? []) {
        assert.ok(resources.some((r) => r.args[0] === dependency) || callsOf('k8s_resource').some((r) => r.args[0] === dependency), `${resource.args[0]}: ${dependency}`);
      }
      const command: string = resource.kwargs['cmd'] ?? resource.kwargs['serve_cmd'];
      for (const [, script] of command.matchAll(/\bnode (\S+\.js)/g)) assert.ok(existsSync(join(REPO_ROOT, script!)), `${resource.args[0]}: ${script}`);
    }
  });
});

import { strict as assert } from 'node:assert';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { runCanary, type CanaryIo } from './canary';
import { parseCanaryCommand } from './canary-args';
import { canaryQueries, decide } from './canary-status';
import { UsageError } from '@inference-mesh/tool-kit';

const REPO_ROOT = join(__dirname, '..', '..', '..');

function io(overrides: Partial<CanaryIo> = {}): CanaryIo & { readonly stdout: string[]; readonly stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { env: {}, out: (text) => stdout.push(text), err: (text) => stderr.push(text), stdout, stderr, ...overrides };
}

/** The repository's own manifests, copied: `canary set` must work on what is committed. */
function copiesOfTheManifests(): { routing: string; gateway: string } {
  const dir = mkdtempSync(join(tmpdir(), 'canary-'));
  const routing = join(dir, 'model-routing.yaml');
  const gateway = join(dir, 'gateway.yaml');
  copyFileSync(join(REPO_ROOT, 'istio', 'model-routing.yaml'), routing);
  copyFileSync(join(REPO_ROOT, 'k8s', 'base', 'gateway.yaml'), gateway);
  return { routing, gateway };
}

/** The split the gateway pods mount: ConfigMap gateway-version-split, key `weights`. */
function splitConfigMap(path: string): string {
  return documents(path).find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'gateway-version-split').data.weights;
}

function documents(path: string): any[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((document) => document.toJS());
}

function gatewayEnv(path: string): Record<string, string> {
  const deployment = documents(path).find((d) => d.kind === 'Deployment');
  return Object.fromEntries(deployment.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
}

describe('imesh canary', () => {
  describe('arguments', () => {
    it('parses set and status with their defaults', () => {
      assert.deepEqual(parseCanaryCommand(['set', '--weight', '20']), {
        kind: 'canary-set',
        stable: '1',
        canary: '2',
        canaryPercent: 20,
        files: [],
        namespace: 'imesh',
        configMap: 'gateway-version-split',
      });
      assert.deepEqual(parseCanaryCommand(['set', '--weight', '0', '-f', 'a.yaml', '--file', 'b.yaml', '--stable', '2', '--canary', '3', '--config-map', 'split']), {
        kind: 'canary-set',
        stable: '2',
        canary: '3',
        canaryPercent: 0,
        files: ['a.yaml', 'b.yaml'],
        namespace: 'imesh',
        configMap: 'split',
      });
      assert.deepEqual(parseCanaryCommand(['status'], { IMESH_PROMETHEUS_URL: 'http://prometheus:9090/' }), {
        kind: 'canary-status',
        stable: '1',
        canary: '2',
        prometheusUrl: 'http://prometheus:9090',
        source: 'gateway',
        model: 'sentiment',
        namespace: 'imesh',
        configMap: 'gateway-version-split',
        window: '5m',
        minRequests: 100,
        maxErrorRatioIncrease: 0.01,
        maxP99Increase: 0.25,
      });
    });

    it('refuses what it cannot run, saying why', () => {
      const refuses = (argv: string[], pattern: RegExp, env = {}) =>
        assert.throws(() => parseCanaryCommand(argv, env), (error: unknown) => error instanceof UsageError && pattern.test(error.message), argv.join(' '));
      refuses([], /needs "set", "status", "run", "resume" or "abort"/);
      refuses(['promote'], /unknown canary command "promote"/);
      refuses(['set'], /needs --weight N \(0 to 100\)/);
      refuses(['set', '--weight', '101'], /--weight must be an integer from 0 to 100, got "101"/);
      refuses(['set', '--weight', '5%'], /--weight must be an integer from 0 to 100/);
      refuses(['set', '--weight', '5', '--prometheus', 'http://p'], /--prometheus is not an option of "canary set"/);
      refuses(['status'], /needs --prometheus URL \(or IMESH_PROMETHEUS_URL\)/);
      refuses(['status', '--prometheus', 'prometheus:9090'], /must be an http:\/\/ or https:\/\/ URL/);
      refuses(['status', '--prometheus', 'http://p', '--weight', '3'], /--weight is not an option of "canary status"/);
      refuses(['status', '--prometheus', 'http://p', '--window', 'five'], /--window must be a Prometheus duration/);
      refuses(['status', '--prometheus', 'http://p', '--source', 'envoy'], /--source must be "gateway", "app" or "istio"/);
      refuses(['set', '--weight', '5', '--stable', '2', '--canary', '2'], /--stable and --canary are both 2/);
      refuses(['set', '--weight', '5', '--bogus'], /Unknown option '--bogus'/);
      refuses(['set', '--weight', '5', '--deployment', 'gateway'], /Unknown option '--deployment'/);
    });

    it('prints its usage for --help, and for bad usage with exit status 2', async () => {
      const help = io();
      assert.equal(await runCanary(['--help'], help), 0);
      assert.match(help.stdout.join(''), /^Usage: imesh canary <set\|status\|run\|resume\|abort>/);
      const bad = io();
      assert.equal(await runCanary(['set'], bad), 2);
      assert.match(bad.stderr.join(''), /^imesh canary: "canary set" needs --weight N/);
    });
  });

  describe('set, on files', () => {
    it('rewrites the split ConfigMap the gateway mounts, keeping comments, and leaves the Deployment and the VirtualService alone', async () => {
      const { routing, gateway } = copiesOfTheManifests();
      const routingBefore = readFileSync(routing, 'utf8');
      const envBefore = gatewayEnv(gateway);
      const run = io();
      assert.equal(await runCanary(['set', '--weight', '20', '--file', gateway], run), 0, run.stderr.join(''));
      assert.equal(splitConfigMap(gateway), '1=80,2=20');
      assert.deepEqual(gatewayEnv(gateway), envBefore, 'the pod template is unchanged: nothing rolls');
      assert.equal(envBefore['IMESH_MODEL_VERSION_WEIGHTS_FILE'], '/etc/imesh/split/weights');
      assert.ok(readFileSync(gateway, 'utf8').includes("# The gateway's version split:"), 'comments kept');
      assert.deepEqual(run.stdout.join('').trim().split('\n'), [`${gateway}: ConfigMap gateway-version-split: weights=1=80,2=20`]);

      assert.equal(await runCanary(['set', '--weight', '100', '-f', gateway], io()), 0);
      assert.equal(splitConfigMap(gateway), '1=0,2=100');

      // The routing holds no split: given the VirtualService's file, set says where the split is instead.
      const refused = io();
      assert.equal(await runCanary(['set', '--weight', '5', '--file', routing], refused), 1);
      assert.match(refused.stderr.join(''), /model-routing\.yaml has no ConfigMap gateway-version-split .*the gateway splits, Istio routes by the x-model-version header/);
      assert.equal(readFileSync(routing, 'utf8'), routingBefore);
    });

    it('also rewrites a Deployment that fixes IMESH_MODEL_VERSION_WEIGHTS in its environment, and fails on a file with nothing to change', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'canary-'));
      const fixed = join(dir, 'fixed.yaml');
      writeFileSync(
        fixed,
        'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: gateway\nspec:\n  template:\n    spec:\n      containers:\n' +
          '        - name: gateway\n          env:\n            - name: IMESH_MODEL_VERSION_WEIGHTS\n              value: "1=95,2=5"\n',
      );
      const run = io();
      assert.equal(await runCanary(['set', '--weight', '30', '--file', fixed], run), 0, run.stderr.join(''));
      assert.equal(gatewayEnv(fixed)['IMESH_MODEL_VERSION_WEIGHTS'], '1=70,2=30');

      const service = join(dir, 'service.yaml');
      writeFileSync(service, 'apiVersion: v1\nkind: Service\nmetadata:\n  name: model\n');
      const nothing = io();
      assert.equal(await runCanary(['set', '--weight', '5', '--file', service], nothing), 1);
      assert.match(nothing.stderr.join(''), /service\.yaml has no ConfigMap gateway-version-split and no Deployment setting IMESH_MODEL_VERSION_WEIGHTS/);
    });
  });

  describe('set, through kubectl', () => {
    it('patches the split ConfigMap, and nothing else: no `kubectl set env`, no restart', async () => {
      const calls: { args: readonly string[]; input?: string }[] = [];
      const kubectl = async (args: readonly string[], input?: string) => {
        calls.push({ args, ...(input !== undefined && { input }) });
        return 'configmap/gateway-version-split patched\n';
      };
      const run = io({ kubectl });
      assert.equal(await runCanary(['set', '--weight', '50', '-n', 'serving'], run), 0, run.stderr.join(''));
      assert.deepEqual(calls, [
        { args: ['patch', 'configmap', 'gateway-version-split', '--namespace', 'serving', '--type', 'merge', '--patch', '{"data":{"weights":"1=50,2=50"}}'] },
      ]);
      assert.match(run.stdout.join(''), /ConfigMap gateway-version-split: weights=1=50,2=50 \(the gateway pods apply it once their mounted file updates, without restarting\)/);

      const named = io({ kubectl });
      assert.equal(await runCanary(['set', '--weight', '0', '--config-map', 'split', '--stable', '2', '--canary', '3'], named), 0);
      assert.deepEqual(calls[1]!.args, ['patch', 'configmap', 'split', '--namespace', 'imesh', '--type', 'merge', '--patch', '{"data":{"weights":"2=100,3=0"}}']);
    });

    it('reports kubectl\'s own error', async () => {
      const run = io({ kubectl: async () => Promise.reject(new Error('kubectl patch configmap gateway-version-split: configmaps "gateway-version-split" not found')) });
      assert.equal(await runCanary(['set', '--weight', '50'], run), 1);
      assert.match(run.stderr.join(''), /configmaps "gateway-version-split" not found/);
    });
  });

  describe('status, from a Prometheus HTTP API', () => {
    let server: Server;
    let url: string;
    const queries: string[] = [];
    /** What each query answers: label value -> sample value, by the metric the query reads. */
    let answers: { requests: Record<string, string>; failures: Record<string, string>; p99: Record<string, string> };
    let label = 'model_version';
    let failWith: { status: number; body: string } | undefined;

    before(async () => {
      server = createServer((request, response) => {
        const query = new URL(request.url!, 'http://x').searchParams.get('query') ?? '';
        queries.push(query);
        if (failWith) {
          response.writeHead(failWith.status, { 'content-type': 'application/json' }).end(failWith.body);
          return;
        }
        const series = query.startsWith('histogram_quantile') ? answers.p99 : /status(_code)?=~/.test(query) ? answers.failures : answers.requests;
        const result = Object.entries(series).map(([value, sample]) => ({ metric: { [label]: value }, value: [1_700_000_000, sample] }));
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    beforeEach(() => {
      queries.length = 0;
      failWith = undefined;
      label = 'model_version';
    });

    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('promotes a canary within the limits, by default from the gateway\'s model calls', async () => {
      answers = { requests: { '1': '9500', '2': '500' }, failures: { '1': '19' }, p99: { '1': '0.010', '2': '0.011' } };
      const run = io({ env: { IMESH_PROMETHEUS_URL: url } });
      assert.equal(await runCanary(['status'], run), 0, run.stderr.join(''));
      const report = run.stdout.join('');
      assert.match(report, /^1 \(stable\)\s+9500\s+0\.20%\s+10\.0 ms\s*$/m);
      assert.match(report, /^2 \(canary\)\s+500\s+0\.00%\s+11\.0 ms$/m);
      assert.match(report, /\(p99 model hop, retries included \(gateway\)\)/);
      assert.match(report, /^promote: version 2 is within the limits/m);
      assert.deepEqual(queries.sort(), [
        'histogram_quantile(0.99, sum by (model_version, le) (max by (namespace, pod, model_version, le) (sum by (namespace, pod, job, instance, model_version, le) (rate(imesh_gateway_model_call_duration_bucket{model_name="sentiment"}[5m])))))',
        'sum by (model_version) (max by (namespace, pod, model_version) (sum by (namespace, pod, job, instance, model_version) (increase(imesh_gateway_model_calls_total{model_name="sentiment",rpc_grpc_status_code=~"UNKNOWN|DEADLINE_EXCEEDED|FAILED_PRECONDITION|UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS"}[5m]))))',
        'sum by (model_version) (max by (namespace, pod, model_version) (sum by (namespace, pod, job, instance, model_version) (increase(imesh_gateway_model_calls_total{model_name="sentiment"}[5m]))))',
      ]);
    });

    it('promotes a canary within the limits, from the model service\'s metrics with --source app', async () => {
      answers = { requests: { '1': '9500', '2': '500' }, failures: { '1': '19' }, p99: { '1': '0.010', '2': '0.011' } };
      const run = io({ env: { IMESH_PROMETHEUS_URL: url } });
      assert.equal(await runCanary(['status', '--source', 'app'], run), 0, run.stderr.join(''));
      const report = run.stdout.join('');
      assert.match(report, /^1 \(stable\)\s+9500\s+0\.20%\s+10\.0 ms$/m);
      assert.match(report, /^2 \(canary\)\s+500\s+0\.00%\s+11\.0 ms$/m);
      assert.match(report, /^promote: version 2 is within the limits/m);
      assert.deepEqual(queries.sort(), [
        // Each pod once, however many jobs scrape it (countedOncePerPod; tests/src/deploy-monitoring.test.ts runs them).
        'histogram_quantile(0.99, sum by (model_version, le) (max by (namespace, pod, model_version, le) (sum by (namespace, pod, job, instance, model_version, le) (rate(imesh_model_request_duration_bucket{model_name="sentiment"}[5m])))))',
        'sum by (model_version) (max by (namespace, pod, model_version) (sum by (namespace, pod, job, instance, model_version) (increase(imesh_model_requests_total{model_name="sentiment",rpc_grpc_status_code=~"UNKNOWN|DEADLINE_EXCEEDED|FAILED_PRECONDITION|UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS"}[5m]))))',
        'sum by (model_version) (max by (namespace, pod, model_version) (sum by (namespace, pod, job, instance, model_version) (increase(imesh_model_requests_total{model_name="sentiment"}[5m]))))',
      ]);
    });

    it('rolls back a canary with more errors, or a slower p99', async () => {
      answers = { requests: { '1': '9500', '2': '500' }, failures: { '1': '10', '2': '25' }, p99: { '1': '0.010', '2': '0.010' } };
      const errors = io();
      assert.equal(await runCanary(['status', '--prometheus', url], errors), 3);
      assert.match(errors.stdout.join(''), /^roll back: version 2 is worse than version 1 \(imesh canary set --weight 0\)$/m);
      assert.match(errors.stdout.join(''), /error ratio 5\.00% vs 0\.11%: \+4\.89 points \(limit \+1\.00 points\)/);

      answers = { requests: { '1': '9500', '2': '500' }, failures: {}, p99: { '1': '0.010', '2': '0.013' } };
      const slow = io();
      assert.equal(await runCanary(['status', '--prometheus', url, '--source', 'app'], slow), 3);
      assert.match(slow.stdout.join(''), /p99 ModelInfer time, queue included \(model service\) 13\.0 ms vs 10\.0 ms: \+30\.0% \(limit \+25%\)/);
      assert.equal(await runCanary(['status', '--prometheus', url, '--max-p99-increase', '0.5'], io()), 0, 'a looser limit promotes it');
    });

    it('waits while the canary has too little traffic', async () => {
      answers = { requests: { '1': '9500', '2': '37' }, failures: {}, p99: { '1': '0.010', '2': '0.010' } };
      const run = io();
      assert.equal(await runCanary(['status', '--prometheus', url, '--window', '10m'], run), 4);
      assert.match(run.stdout.join(''), /^wait: not enough traffic for a verdict yet$/m);
      assert.match(run.stdout.join(''), /version 2 served 37 requests in the last 10m; a verdict needs 100/);
      assert.ok(queries.every((query) => query.includes('[10m]') || !query.includes('[')), 'the window reaches the queries');
    });

    it('reads Istio\'s metrics with --source istio: versions are the subsets, codes are numbers', async () => {
      label = 'destination_version';
      answers = { requests: { v1: '900', v2: '300' }, failures: { v2: '3' }, p99: { v1: '12', v2: '14' } };
      const run = io();
      assert.equal(await runCanary(['status', '--prometheus', url, '--source', 'istio', '-n', 'serving'], run), 0, run.stderr.join(''));
      assert.match(run.stdout.join(''), /^2 \(canary\)\s+300\s+1\.00%\s+14\.0 ms$/m);
      assert.ok(queries.every((query) => query.includes('destination_service_namespace="serving"') && query.includes('reporter="source"')), queries.join('\n'));
      assert.ok(queries.some((query) => query.includes('grpc_response_status=~"2|4|9|12|13|14|15"')));
    });

    it('says what went wrong when Prometheus refuses a query or is not there', async () => {
      failWith = { status: 400, body: JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'parse error at char 5' }) };
      const refused = io();
      assert.equal(await runCanary(['status', '--prometheus', url], refused), 1);
      assert.match(refused.stderr.join(''), /Prometheus refused .*: parse error at char 5/);

      failWith = { status: 502, body: '<html>bad gateway</html>' };
      const proxy = io();
      assert.equal(await runCanary(['status', '--prometheus', url], proxy), 1);
      assert.match(proxy.stderr.join(''), /answered HTTP 502 with something that is not its API's JSON: <html>bad gateway/);

      // A port that was free a moment ago: nothing listens there.
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const down = io();
      assert.equal(await runCanary(['status', '--prometheus', `http://127.0.0.1:${closedPort}`], down), 1);
      assert.match(down.stderr.join(''), new RegExp(`Prometheus at http://127\\.0\\.0\\.1:${closedPort} did not answer: .*ECONNREFUSED`));
    });
  });

  describe('the decision rule', () => {
    const limits = { minRequests: 100, maxErrorRatioIncrease: 0.01, maxP99Increase: 0.25, window: '5m' };
    const health = (version: string, requests: number, errorRatio: number, p99Seconds: number) => ({ version, requests, errorRatio, p99Seconds });

    it('needs traffic on both versions, then judges errors before latency', () => {
      assert.equal(decide(health('1', 50, 0, 0.01), health('2', 500, 0, 0.01), limits).decision, 'wait');
      assert.equal(decide(health('1', 500, 0.001, 0.01), health('2', 500, 0.0109, 0.0125), limits).decision, 'promote');
      assert.equal(decide(health('1', 500, 0.001, 0.01), health('2', 500, 0.0111, 0.01), limits).decision, 'rollback');
      assert.equal(decide(health('1', 500, 0, 0.01), health('2', 500, 0, 0.0126), limits).decision, 'rollback');
      assert.equal(decide(health('1', 500, 0, NaN), health('2', 500, 0, 0.01), limits).decision, 'wait', 'no latency data yet');
      assert.equal(decide(health('1', 500, 0, NaN), health('2', 500, 0.5, NaN), limits).decision, 'rollback', 'errors alone suffice');
    });

    it('builds its app and gateway queries for the model asked about', () => {
      for (const source of ['app', 'gateway'] as const) {
        const queries = canaryQueries(source, { model: 'topic', namespace: 'imesh', window: '1h' });
        assert.ok([queries.requests, queries.failures, queries.p99].every((q) => q.includes('model_name="topic"') && q.includes('[1h]')), source);
      }
    });
  });
});

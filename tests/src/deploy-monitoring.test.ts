// The monitoring queries as a real Prometheus runs them when the prod PodMonitors scrape a pod twice (its `metrics`
// port, and Istio's merged stats, which repeat the app's metrics: k8s/overlays/prod/pod-monitors.yaml). Fake pods
// serve fixed gauges and counters growing at fixed rates, so every query has one right answer: the autoscaling
// queries (k8s/monitoring/queries.yaml and the ScaledObjects), the alert signals (k8s/monitoring/alerts.yaml) and
// `imesh canary status` (both sources) must count each pod once, whichever pods are scraped twice.
import { REPO_ROOT } from '@inference-mesh/launcher';
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { buildOverlay, NAMESPACE, ofKind, readYaml } from './deploy-support';
import { startPrometheus, type RunningPrometheus } from './prometheus';
import { eventually } from './eventually';

const run = promisify(execFile);
/** The window the counters are read over; the test waits until Prometheus holds a full one. */
const WINDOW_SECONDS = 15;

interface FakePod {
  readonly name: string;
  /** The model version it serves, with its queue depth and request rates per status. */
  readonly model?: { readonly version: string; readonly queueRows: number; readonly perSecond: Readonly<Record<string, number>> };
  /** A gateway's sidecar: Istio's requests to each model subset per second, by grpc_response_status. */
  readonly istio?: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Scraped by the merged-stats job too. */
  readonly twice: boolean;
}

const PODS: readonly FakePod[] = [
  { name: 'model-v1-a', model: { version: '1', queueRows: 10, perSecond: { OK: 16, INTERNAL: 4 } }, twice: true },
  { name: 'model-v1-b', model: { version: '1', queueRows: 6, perSecond: { OK: 20 } }, twice: false },
  { name: 'model-v2-a', model: { version: '2', queueRows: 3, perSecond: { OK: 19, INTERNAL: 1 } }, twice: false },
  { name: 'gateway-a', istio: { v1: { '0': 40 }, v2: { '0': 18, '14': 2 } }, twice: true },
];

/** What each query must read, from the pods above, each counted once. */
const EXPECTED = {
  queueRows: { '1': 16, '2': 3 } as Record<string, number>,
  queueRowsPerPod: { '1': 8, '2': 3 } as Record<string, number>,
  errorRatio: { '1': 4 / 40, '2': 1 / 20 } as Record<string, number>,
  appRequests: { '1': 40 * WINDOW_SECONDS, '2': 20 * WINDOW_SECONDS } as Record<string, number>,
  istioRequests: { '1': 40 * WINDOW_SECONDS, '2': 20 * WINDOW_SECONDS } as Record<string, number>,
};

/** Counters started long ago, so that each grows linearly over the whole window. */
const EPOCH_MS = Date.now() - 3_600_000;

function exposition(pod: FakePod): string {
  const seconds = (Date.now() - EPOCH_MS) / 1000;
  const lines: string[] = [];
  if (pod.model) {
    const { version, queueRows, perSecond } = pod.model;
    const labels = `model_name="sentiment",model_version="${version}"`;
    lines.push('# TYPE imesh_model_queue_rows gauge', `imesh_model_queue_rows{${labels}} ${queueRows}`);
    lines.push('# TYPE imesh_model_requests_total counter');
    for (const [code, rate] of Object.entries(perSecond)) lines.push(`imesh_model_requests_total{${labels},rpc_grpc_status_code="${code}"} ${rate * seconds}`);
    // One request a second, each taking 5-10 ms.
    lines.push('# TYPE imesh_model_request_duration histogram');
    for (const [le, share] of [['0.005', 0], ['0.01', 1], ['0.1', 1], ['+Inf', 1]] as const) lines.push(`imesh_model_request_duration_bucket{${labels},le="${le}"} ${share * seconds}`);
    lines.push(`imesh_model_request_duration_sum{${labels}} ${0.008 * seconds}`, `imesh_model_request_duration_count{${labels}} ${seconds}`);
  }
  if (pod.istio) {
    lines.push('# TYPE imesh_gateway_breaker_state gauge', 'imesh_gateway_breaker_state{downstream="postprocess"} 1', 'imesh_gateway_breaker_state{downstream="model"} 0');
    const base = `reporter="source",destination_service_name="model",destination_service_namespace="${NAMESPACE}",response_code="200"`;
    lines.push('# TYPE istio_requests_total counter');
    for (const [subset, byStatus] of Object.entries(pod.istio)) {
      for (const [status, rate] of Object.entries(byStatus)) lines.push(`istio_requests_total{${base},destination_version="${subset}",grpc_response_status="${status}"} ${rate * seconds}`);
    }
    lines.push('# TYPE istio_request_duration_milliseconds histogram');
    for (const subset of Object.keys(pod.istio)) {
      const total = Object.values(pod.istio[subset]!).reduce((sum, rate) => sum + rate, 0) * seconds;
      for (const [le, share] of [['5', 0], ['10', 1], ['+Inf', 1]] as const) {
        lines.push(`istio_request_duration_milliseconds_bucket{${base},destination_version="${subset}",le="${le}"} ${share * total}`);
      }
      lines.push(`istio_request_duration_milliseconds_sum{${base},destination_version="${subset}"} ${8 * total}`);
      lines.push(`istio_request_duration_milliseconds_count{${base},destination_version="${subset}"} ${total}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function assertNear(actual: number | undefined, expected: number, tolerance: number, what: string): void {
  assert.ok(actual !== undefined && Math.abs(actual - expected) <= tolerance * expected, `${what}: ${actual}, expected ${expected} (within ${tolerance * 100}%)`);
}

describe('monitoring queries against pods scraped twice (the prod PodMonitors under Istio)', function () {
  this.timeout(120_000);
  const servers: Server[] = [];
  let prometheus: RunningPrometheus | undefined;

  /** One sample per label value of `label`; rejects on a query Prometheus refuses. */
  async function byLabel(query: string, label: string): Promise<Record<string, number>> {
    const samples = await prometheus!.query(query);
    return Object.fromEntries(samples.map((s) => [s.metric[label] ?? '', s.value]));
  }

  /**
   * What `read` returns once it equals `expected`, or, after 10 s, the assertion that it does not. On a busy machine
   * a scrape can miss its 1 s timeout, and Prometheus then hides that target's gauges until the next scrape: a
   * moment's wrong answer, which a query that over-counts pods gives for good.
   */
  async function settlesTo<T>(read: () => Promise<T>, expected: T, message: string): Promise<void> {
    let last: T | undefined;
    await eventually(message, 10_000, async () => {
      last = await read();
      try {
        assert.deepEqual(last, expected);
        return true;
      } catch {
        return undefined;
      }
    }).catch((error: unknown) => {
      if (last === undefined) throw error; // the query itself failed
      assert.deepEqual(last, expected, message);
    });
  }

  before(async function () {
    this.timeout(90_000);
    const address: Record<string, string> = {};
    for (const pod of PODS) {
      const server = createServer((_, response) => response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(exposition(pod)));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push(server);
      address[pod.name] = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    }
    // The jobs the two PodMonitors make, with the target labels the Prometheus Operator gives a pod's targets.
    const job = (name: string, pods: readonly FakePod[]) => ({
      job_name: name,
      static_configs: pods.map((pod) => ({ targets: [address[pod.name]!], labels: { namespace: NAMESPACE, pod: pod.name } })),
    });
    prometheus = await startPrometheus({
      targets: {},
      scrapeConfigs: [job(`${NAMESPACE}/inference-mesh`, PODS), job(`${NAMESPACE}/inference-mesh-istio`, PODS.filter((pod) => pod.twice))],
      ruleFiles: [],
    });
    // A full window of samples for rate() and increase().
    await eventually(`${WINDOW_SECONDS} s of samples`, 60_000, async () => {
      const [sample] = await prometheus!.query(`min(count_over_time(up[${WINDOW_SECONDS}s]))`);
      return sample && sample.value >= WINDOW_SECONDS ? true : undefined;
    });
  });

  after(async function () {
    this.timeout(30_000);
    await prometheus?.stop();
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });

  it('the fixture does scrape some pods twice: a plain sum over-counts', async () => {
    await settlesTo(async () => (await prometheus!.query('up')).map((s) => s.value), Array(PODS.length + PODS.filter((pod) => pod.twice).length).fill(1), 'every target up');
    await settlesTo(() => byLabel('sum by (model_version) (imesh_model_queue_rows)', 'model_version'), { '1': 26, '2': 3 }, 'a plain sum');
  });

  it('the autoscaling queries (queries.yaml and every prod ScaledObject trigger) read each version\'s queued rows once per pod', async () => {
    const canonical = readYaml('k8s/monitoring/queries.yaml').autoscaling as { version: string; query: string }[];
    const triggers = ofKind(buildOverlay('prod'), 'ScaledObject').flatMap((scaledObject) =>
      scaledObject.spec.triggers.map((trigger: { metadata: { query: string } }) => ({ source: `ScaledObject ${scaledObject.metadata.name}`, query: trigger.metadata.query })),
    );
    assert.equal(triggers.length, 2);
    for (const { source, version, query } of [
      ...canonical.map((entry) => ({ ...entry, source: `queries.yaml ${entry.version}` })),
      ...triggers.map((trigger) => ({ ...trigger, version: canonical.find((entry) => entry.query === trigger.query)?.version ?? '?' })),
    ]) {
      await settlesTo(async () => (await prometheus!.query(query)).map((s) => s.value), [EXPECTED.queueRows[version]], `${source}: ${query}`);
    }
  });

  it('the alert signals average and divide over pods, not over scrapes', async () => {
    const rules = (parse(readFileSync(join(REPO_ROOT, 'k8s', 'monitoring', 'alerts.yaml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }).groups.flatMap((g) => g.rules);
    const signal = (alert: string): string => {
      const rule = rules.find((r) => r.alert === alert);
      assert.ok(rule, alert);
      return /^([\s\S]+?)\s*(?:>|<|>=|<=|==|!=)\s*[0-9.]+\s*$/.exec(rule.expr)![1]!;
    };
    await settlesTo(() => byLabel(signal('ModelQueueBackingUp'), 'model_version'), EXPECTED.queueRowsPerPod, 'ModelQueueBackingUp');
    const ratios = await byLabel(signal('ModelVersionErrorRatioHigh'), 'model_version');
    // rate() over 5m holds only the test's seconds of samples: each series' estimate is a little off (counting a pod
    // twice would be off by a third for version 1).
    for (const version of ['1', '2']) assertNear(ratios[version], EXPECTED.errorRatio[version]!, 0.1, `error ratio of version ${version}`);
    await settlesTo(() => byLabel(signal('GatewayCircuitBreakerOpen'), 'downstream'), { model: 0, postprocess: 1 }, 'GatewayCircuitBreakerOpen');
  });

  for (const source of ['app', 'istio'] as const) {
    it(`imesh canary status --source ${source} counts each version's requests once per pod`, async () => {
      const cli = join(REPO_ROOT, 'tools', 'cli', 'bin', 'imesh.js');
      const args = [cli, 'canary', 'status', '--prometheus', prometheus!.url, '--source', source, '-n', NAMESPACE, '--stable', '1', '--canary', '2', '--window', `${WINDOW_SECONDS}s`, '--min-requests', '1'];
      const { stdout, code } = await run(process.execPath, args).then(
        ({ stdout }) => ({ stdout, code: 0 }),
        (error: { stdout: string; stderr: string; code: number }) => ({ stdout: `${error.stdout}${error.stderr}`, code: error.code }),
      );
      assert.ok([0, 3].includes(code), `a verdict (exit status 0 or 3), got ${code}:\n${stdout}`);
      const expected = source === 'app' ? EXPECTED.appRequests : EXPECTED.istioRequests;
      for (const [version, role] of [['1', 'stable'], ['2', 'canary']] as const) {
        const row = new RegExp(`^${version} \\(${role}\\)\\s+(\\d+)\\s+([0-9.]+)%\\s+([0-9.]+) ms$`, 'm').exec(stdout);
        assert.ok(row, `no row for version ${version}:\n${stdout}`);
        assertNear(Number(row[1]), expected[version]!, 0.1, `${source}: version ${version}'s requests`);
        const failures = source === 'app' ? EXPECTED.errorRatio[version]! : version === '2' ? 0.1 : 0;
        assert.ok(Math.abs(Number(row[2]) / 100 - failures) < 0.005, `${source}: version ${version}'s error ratio ${row[2]}%, expected ${failures * 100}%`);
      }
    });
  }
});

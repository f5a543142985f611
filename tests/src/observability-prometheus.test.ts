import { isPipelineError, PipelineClient } from '@inference-mesh/client';
import { REPO_ROOT, startMesh, MESH_SERVICES, type MeshService, type RunningMesh } from '@inference-mesh/launcher';
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { alertRules as alertRulesOf, dashboardExpressions, QUEUE_PANEL_SERIES } from './monitoring-expressions';
import { startPrometheus, type RunningPrometheus } from './prometheus';
import { eventually } from './eventually';

const run = promisify(execFile);
const MONITORING = join(REPO_ROOT, 'k8s', 'monitoring');
const ALERT_RULES = join(MONITORING, 'alerts.yaml');
const MAX_IN_FLIGHT = 56;
const TEXT = 'a gorgeous, witty, seductive movie.';

interface AutoscalingQuery {
  readonly source: string;
  readonly version: string;
  readonly query: string;
  readonly threshold: number;
}

/** The canonical autoscaling queries, one per model version. */
function canonicalQueries(): AutoscalingQuery[] {
  const file = parse(readFileSync(join(MONITORING, 'queries.yaml'), 'utf8')) as {
    autoscaling: { model: string; version: string; query: string; threshold: string }[];
  };
  return file.autoscaling.map((entry) => ({
    source: `queries.yaml ${entry.model}/${entry.version}`,
    version: entry.version,
    query: entry.query,
    threshold: Number(entry.threshold),
  }));
}

/** The prometheus triggers of every KEDA ScaledObject under k8s/ (outside k8s/monitoring). */
function scaledObjectQueries(): { source: string; query: string; threshold: number }[] {
  const found: { source: string; query: string; threshold: number }[] = [];
  const visit = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        if (path !== MONITORING) visit(path);
      } else if (/\.ya?ml$/.test(name)) {
        for (const document of parseAllDocuments(readFileSync(path, 'utf8'))) {
          const manifest = document.toJS() as { kind?: string; metadata?: { name?: string }; spec?: { triggers?: { type: string; metadata: Record<string, string> }[] } } | null;
          if (manifest?.kind !== 'ScaledObject') continue;
          for (const trigger of manifest.spec?.triggers ?? []) {
            if (trigger.type !== 'prometheus') continue;
            found.push({
              source: `${relative(REPO_ROOT, path)} ${manifest.metadata?.name}`,
              query: trigger.metadata.query!,
              threshold: Number(trigger.metadata.threshold),
            });
          }
        }
      }
    }
  };
  visit(join(REPO_ROOT, 'k8s'));
  return found;
}

/** Every alert, split into the signal it watches and its comparison with a threshold. */
const alertRules = () => alertRulesOf(ALERT_RULES);

describe('observability: a real Prometheus scraping the real mesh', function () {
  this.timeout(180_000);
  const logs: string[] = [];
  let mesh: RunningMesh | undefined;
  let prometheus: RunningPrometheus | undefined;
  let client: PipelineClient;

  before(async function () {
    this.timeout(150_000);
    mesh = await startMesh({
      env: {
        // Free ports for /metrics too (each service logs the one it bound).
        ...Object.fromEntries(MESH_SERVICES.map((service) => [`IMESH_${service.toUpperCase()}_METRICS_PORT`, '0'])),
        // Requests wait up to 1 s for company and a batch holds 64 rows: with fewer callers than that, a version's
        // queue holds its callers nearly all the time, whatever the machine's speed.
        IMESH_MODEL_MAX_QUEUE_DELAY_US: '1000000',
        IMESH_MODEL_CUT_WHEN_IDLE: 'false',
        IMESH_MODEL_MAX_BATCH_SIZE: '64',
        // Room for the 48 load callers; a burst of more is shed (imesh.gateway.shed).
        IMESH_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT),
        // A canary split with every unpinned merged call shadowed: the dashboard's rollout panels have data.
        // The load below pins its versions, so only the unpinned calls of the dashboard test are split.
        IMESH_MODEL_VERSION_WEIGHTS: '1=50,2=50',
        IMESH_SHADOW_SAMPLE: '1',
      },
      onLog: (service, line) => logs.push(`${service}: ${line}`),
    });
    const targets: Partial<Record<MeshService, string>> = {};
    for (const line of logs) {
      const match = /^(\w+): (\{.*"msg":"metrics listening".*\})$/.exec(line);
      if (match) targets[match[1] as MeshService] = `127.0.0.1:${(JSON.parse(match[2]!) as { port: number }).port}`;
    }
    assert.deepEqual(Object.keys(targets).sort(), [...MESH_SERVICES].sort(), 'every service logs its metrics port');
    prometheus = await startPrometheus({ targets, ruleFiles: [ALERT_RULES] });
    client = new PipelineClient({ target: mesh.gateway });
    // Unpinned calls, split between the versions and each shadowed to the other: from now on Prometheus scrapes the
    // series of the dashboard's agreement panel (the tests below pin their versions).
    await Promise.all(Array.from({ length: 8 }, () => client.classify([TEXT])));
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') process.stderr.write(`--- service logs (last 40 lines)\n${logs.slice(-40).join('\n')}\n`);
  });
  after(async function () {
    this.timeout(60_000);
    client?.close();
    await prometheus?.stop();
    await mesh?.stop();
  });

  it('passes promtool check rules on the alert rules', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', ALERT_RULES]);
    assert.match(stdout, /SUCCESS: 3 rules found/);
  });

  it('scrapes all four services', async () => {
    const up = await eventually('every target up', 30_000, async () => {
      const samples = await prometheus!.query('up');
      return samples.length === MESH_SERVICES.length && samples.every((s) => s.value === 1) ? samples : undefined;
    });
    assert.deepEqual(up.map((s) => s.metric.job).sort(), [...MESH_SERVICES].sort());
  });

  for (const source of ['app', 'gateway'] as const) it(`imesh canary status --source ${source} finds requests and a p99 for both versions (${source === 'app' ? "the model service's own metrics" : "the gateway's model calls"})`, async () => {
    const cli = join(REPO_ROOT, 'tools', 'cli', 'bin', 'imesh.js');
    const args = [cli, 'canary', 'status', '--prometheus', prometheus!.url, '--source', source, '--stable', '1', '--canary', '2', '--min-requests', '10', '--window', '10m'];
    // increase() sees only what came after a series' first scrape: keep both versions busy until it has seen enough.
    // Exit status 0 (promote) or 3 (roll back) is a verdict; 4 (too little seen) until then.
    let last = '';
    await eventually('a canary verdict', 40_000, async () => {
      for (const version of ['1', '2']) await Promise.all(Array.from({ length: 10 }, () => client.classify([TEXT], { version })));
      const { stdout, exitCode } = await run(process.execPath, args).then(
        ({ stdout }) => ({ stdout, exitCode: 0 }),
        (error: { stdout: string; code: number }) => ({ stdout: error.stdout, exitCode: error.code }),
      );
      last = `exit status ${exitCode}:\n${stdout}`;
      return (exitCode === 0 || exitCode === 3) && !/n\/a/.test(stdout) ? stdout : undefined;
    }).catch((error: Error) => assert.fail(`${error.message}; last report, ${last}`));
  });

  it('the autoscaling query rises above its threshold under load and falls back to 0 when idle', async () => {
    const canonical = canonicalQueries();
    assert.deepEqual(canonical.map((q) => q.version).sort(), ['1', '2']);
    // The ScaledObjects must carry the canonical queries verbatim, every one of them, and are run too.
    const scaled = scaledObjectQueries();
    for (const { source, query } of canonical) {
      assert.ok(scaled.some((trigger) => trigger.query === query), `${source}: no ScaledObject under k8s/ scales on ${query}`);
    }
    for (const trigger of scaled) {
      const match = canonical.find((q) => q.query === trigger.query);
      assert.ok(match, `${trigger.source}: query ${trigger.query} is not one of k8s/monitoring/queries.yaml`);
      assert.equal(trigger.threshold, match.threshold, `${trigger.source}: threshold`);
    }
    const queries = [...canonical, ...scaled.map((trigger) => ({ ...trigger, version: canonical.find((q) => q.query === trigger.query)!.version }))];

    let loading = true;
    const failures: unknown[] = [];
    // More callers per version than the threshold's rows: with every request held about 1 s in the model's queue,
    // a version's queued rows stay near its caller count, merged by the gateway or not.
    const callersPerVersion = 24;
    const workers = ['1', '2'].flatMap((version) =>
      Array.from({ length: callersPerVersion }, async () => {
        while (loading) {
          await client.classify([TEXT], { version, deadlineMs: 30_000 }).catch((error: unknown) => failures.push(error));
        }
      }),
    );
    try {
      for (const { source, query, threshold } of queries) {
        const value = await eventually(`${source} above ${threshold} under load`, 45_000, async () => {
          const [sample] = await prometheus!.query(query);
          return sample && sample.value > threshold ? sample.value : undefined;
        });
        assert.ok(value > threshold && value <= callersPerVersion, `${source}: ${value}`);
      }
    } finally {
      loading = false;
      await Promise.all(workers);
    }
    assert.deepEqual(failures, []);
    for (const { source, query } of queries) {
      await eventually(`${source} back to 0 when idle`, 30_000, async () => {
        const samples = await prometheus!.query(query);
        return samples.length === 1 && samples[0]!.value === 0 ? true : undefined;
      });
    }
  });

  it('counts the requests the gateway sheds', async () => {
    // Every request waits about 1 s in the model's queue, so a burst keeps the gateway full while it arrives.
    const burst = await Promise.allSettled(Array.from({ length: MAX_IN_FLIGHT + 8 }, () => client.classify([TEXT], { deadlineMs: 30_000 })));
    const shed = burst.filter((r) => r.status === 'rejected' && isPipelineError(r.reason) && r.reason.codeName === 'RESOURCE_EXHAUSTED').length;
    assert.ok(shed >= 8, `${shed} of the burst shed`);
    assert.equal(burst.filter((r) => r.status === 'fulfilled').length + shed, burst.length, 'every other request is served');
    await eventually('imesh_gateway_shed_total counts them', 15_000, async () => {
      const [sample] = await prometheus!.query('sum(imesh_gateway_shed_total{downstream="gateway"})');
      return sample && sample.value >= shed ? true : undefined;
    });
  });

  it('shows retries and an open circuit breaker when a downstream dies', async () => {
    const postprocess = mesh!.services.postprocess.process;
    const exited = new Promise((resolve) => postprocess.once('exit', resolve));
    postprocess.kill('SIGKILL');
    await exited;
    const [alert] = alertRules().filter((rule) => rule.alert === 'GatewayCircuitBreakerOpen');
    const firing = await eventually('the breaker alert expression selects postprocess', 45_000, async () => {
      // Each call is retried on UNAVAILABLE; consecutive failures open the breaker, and keep it from closing.
      await client.classify([TEXT], { deadlineMs: 10_000 }).catch(() => undefined);
      const samples = await prometheus!.query(alert!.expr);
      return samples.some((s) => s.metric.downstream === 'postprocess') ? samples : undefined;
    });
    assert.deepEqual(firing.map((s) => s.metric.downstream), ['postprocess']);
    const [retries] = await prometheus!.query('sum(imesh_gateway_retries_total{downstream="postprocess"})');
    assert.ok(retries && retries.value > 0, `retries: ${JSON.stringify(retries)}`);
  });

  it('every dashboard and alert expression parses and returns series', async () => {
    // The rollout controller's own series (imesh_rollout_*) need a controller running: tests/src/canary-rollout.test.ts
    // runs those panels' queries against the controller it runs. Here they must still parse.
    const controllerPanels = dashboardExpressions().filter(({ expr }) => /\bimesh_rollout_/.test(expr));
    assert.ok(controllerPanels.length > 0);
    for (const { expr } of controllerPanels) await prometheus!.query(expr);
    // The queue row needs a queue worker and its broker: tests/src/queue-scale-from-zero.test.ts runs it against them.
    const queuePanels = dashboardExpressions().filter(({ expr }) => QUEUE_PANEL_SERIES.test(expr));
    assert.ok(queuePanels.length > 0);
    for (const { expr } of queuePanels) await prometheus!.query(expr);
    const dashboard = dashboardExpressions().filter(({ expr }) => !/\bimesh_rollout_/.test(expr) && !QUEUE_PANEL_SERIES.test(expr));
    assert.ok(dashboard.length >= 20, `the dashboard has ${dashboard.length} queries`);
    const empty: string[] = [];
    for (const { panel, expr } of dashboard) {
      // query() rejects with Prometheus's parse error for an expression it cannot run.
      if ((await prometheus!.query(expr)).length === 0) empty.push(`dashboard "${panel}": ${expr}`);
    }
    for (const { alert, expr, signal } of alertRules()) {
      await prometheus!.query(expr);
      if ((await prometheus!.query(signal)).length === 0) empty.push(`alert ${alert}: ${signal}`);
    }
    // `or` fallbacks keep some panels defined before any event; each metric they name must still be exported.
    const names = new Set([...dashboard.map((d) => d.expr), ...alertRules().map((a) => a.expr)].flatMap((expr) => expr.match(/\b(imesh_[a-z_]+|rpc_(server|client)_[a-z_]+)\b/g) ?? []));
    for (const name of names) {
      if ((await prometheus!.query(name)).length === 0) empty.push(`metric ${name}`);
    }
    assert.deepEqual(empty, [], 'expressions that return no series');
    // Prometheus itself evaluates the loaded rules every second: each must have run without an error.
    const { groups } = await eventually('every alert rule evaluated', 15_000, async () => {
      const data = await prometheus!.api<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>('/api/v1/rules');
      return data.groups.flatMap((g) => g.rules).every((rule) => rule.health !== 'unknown') ? data : undefined;
    });
    const rules = groups.flatMap((g) => g.rules);
    assert.deepEqual(rules.map((rule) => [rule.name, rule.health, rule.lastError ?? '']), rules.map((rule) => [rule.name, 'ok', '']));
  });
});

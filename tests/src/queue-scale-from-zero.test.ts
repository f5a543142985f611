// Issue 17's scale from zero, as KEDA would see it, with a real broker (management and Prometheus plugins), a real
// Prometheus and the real mesh: with no worker, requests wait and the queue length KEDA's rabbitmq trigger reads is
// above k8s/queue-worker's activationValue; one worker started drains them and the signal returns to 0. And the
// worker's own health and metrics: a worker started before its broker waits for it, NOT_SERVING, then consumes.
import { freePort } from '@inference-mesh/launcher';
import { QueueClient } from '@inference-mesh/client/queue';
import { readSst2 } from '@inference-mesh/model-tools';
import { SERVICE_NAMES } from '@inference-mesh/protos';
import { HealthChecker } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readQueueWorkerScaledObject, type QueueWorkerScaling } from './deploy-queue-worker';
import { eventually } from './eventually';
import { alertRules, dashboardExpressions, MONITORING_DIR, QUEUE_PANEL_SERIES } from './monitoring-expressions';
import { inProcessPredictions } from './in-process-predictions';
import { useMesh } from './mesh-fixture';
import { startPrometheus, type RunningPrometheus } from './prometheus';
import { startWorker, stopWorker, type WorkerProcess } from './queue-worker-process';
import { useTestBroker } from './rabbitmq';

const BROKER_HEALTH_SERVICE = SERVICE_NAMES.queueWorkerBroker;
const QUEUE_ALERTS = join(MONITORING_DIR, 'queue-alerts.yaml');
const REQUESTS = 300;

describe('queue-worker: scale from zero as KEDA sees it, health and metrics (real RabbitMQ, Prometheus, mesh)', function () {
  this.timeout(180_000);
  const brokerFixture = useTestBroker({ monitoring: true });
  const meshFixture = useMesh();
  const texts = readSst2('dev').map((row) => row.text).slice(0, REQUESTS);
  let scaling: QueueWorkerScaling;
  let prometheus: RunningPrometheus;
  let workerMetricsPort: number;
  let worker: WorkerProcess | undefined;
  const report: string[] = [];

  before(async () => {
    scaling = readQueueWorkerScaledObject();
    const { broker } = brokerFixture;
    workerMetricsPort = await freePort();
    prometheus = await startPrometheus({
      targets: { 'queue-worker': `127.0.0.1:${workerMetricsPort}` },
      // The plugin's /metrics aggregates over queues; per queue is /metrics/per-object.
      scrapeConfigs: [{ job_name: 'rabbitmq', metrics_path: '/metrics/per-object', static_configs: [{ targets: [`127.0.0.1:${broker.prometheusPort}`] }] }],
      ruleFiles: [QUEUE_ALERTS],
    });
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && worker) process.stderr.write(`--- worker logs (last 30 lines)\n${worker.logs.slice(-30).join('\n')}\n`);
    await stopWorker(worker);
    worker = undefined;
  });
  after(async () => {
    await prometheus?.stop();
    if (report.length) process.stdout.write(report.map((line) => `      ${line}\n`).join(''));
  });

  const workerEnv = () => ({
    IMESH_AMQP_URL: brokerFixture.broker.url,
    IMESH_QUEUE_NAME: scaling.queueName,
    IMESH_GATEWAY_TARGET: meshFixture.mesh.gateway,
    IMESH_QUEUE_WORKER_METRICS_PORT: String(workerMetricsPort),
    IMESH_RECONNECT_INITIAL_DELAY_MS: '200',
    IMESH_RECONNECT_MAX_DELAY_MS: '1000',
  });

  /** The queue as KEDA's rabbitmq scaler reads it with `protocol: http`: the management API's `messages` (ready + unacked). */
  async function managementQueue(): Promise<{ messages: number; consumers: number } | undefined> {
    const { broker } = brokerFixture;
    const vhost = encodeURIComponent(scaling.vhostName);
    const response = await fetch(`http://127.0.0.1:${broker.managementPort}/api/queues/${vhost}/${encodeURIComponent(scaling.queueName)}`, {
      headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
    });
    if (!response.ok) throw new Error(`management API: HTTP ${response.status}`);
    const body = (await response.json()) as { messages?: number; consumers?: number };
    // The counts appear with the first statistics round after the queue is declared.
    return body.messages === undefined ? undefined : { messages: body.messages, consumers: body.consumers ?? 0 };
  }

  async function prometheusValue(expression: string): Promise<number | undefined> {
    const [sample] = await prometheus.query(expression);
    return sample?.value;
  }

  async function workerHealth(port: number, service: string): Promise<string> {
    const checker = new HealthChecker(`127.0.0.1:${port}`);
    try {
      return await checker.check(service, Date.now() + 3_000);
    } finally {
      checker.close();
    }
  }

  it('a worker started before its broker: alive (health "" SERVING), not ready (Broker NOT_SERVING, broker_connected 0), retries, then consumes once the broker is up', async () => {
    const { broker } = brokerFixture;
    await broker.stop();
    worker = await startWorker(workerEnv(), { until: 'listening' });
    try {
      await eventually('a failed first connection logged', 10_000, async () => (worker!.logs.some((line) => line.includes('cannot reach the broker: trying again')) ? true : undefined));
      assert.equal(await workerHealth(worker.healthPort, ''), 'SERVING', 'the process is alive: liveness passes');
      assert.equal(await workerHealth(worker.healthPort, BROKER_HEALTH_SERVICE), 'NOT_SERVING', 'not connected: readiness fails');
      const metrics = await (await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`)).text();
      assert.match(metrics, /^imesh_queue_worker_broker_connected(\{[^}]*\})? 0$/m);
      assert.equal(worker.child.exitCode, null, 'still running, not exited');
    } finally {
      await broker.start();
    }
    const startedAt = Date.now();
    await eventually('Broker SERVING after the broker started', 30_000, async () => ((await workerHealth(worker!.healthPort, BROKER_HEALTH_SERVICE)) === 'SERVING' ? true : undefined));
    const failures = worker.logs.filter((line) => line.includes('cannot reach the broker: trying again')).length;
    assert.ok(worker.logs.some((line) => line.includes('"msg":"consuming"')), 'consuming');
    const metrics = await (await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`)).text();
    assert.match(metrics, /^imesh_queue_worker_broker_connected(\{[^}]*\})? 1$/m);
    worker.child.kill('SIGTERM');
    assert.deepEqual(await worker.exited, { code: 0, signal: null });
    report.push(`worker before its broker: ${failures} failed connection attempts logged, SERVING ${Date.now() - startedAt} ms after the broker's start returned`);
  });

  it(`${REQUESTS} requests with no worker wait, above activationValue; one worker drains them, each answered as in-process; the signal returns to 0`, async () => {
    const { broker } = brokerFixture;
    const expected = await inProcessPredictions('2', texts);
    const client = await QueueClient.connect({ url: broker.url, queue: scaling.queueName });
    try {
      const answers = texts.map((text) => client.submit([text], { timeoutMs: 120_000 }));
      // Nothing consumes: KEDA's view is the management API's count, Prometheus's the plugin's per-queue series.
      const waiting = await eventually(`${REQUESTS} messages in the management API`, 30_000, async () => {
        const queue = await managementQueue();
        return queue?.messages === REQUESTS ? queue : undefined;
      });
      assert.equal(waiting.consumers, 0, 'no worker');
      assert.ok(waiting.messages > scaling.activationValue, `${waiting.messages} messages > activationValue ${scaling.activationValue}: KEDA activates the ScaledObject (0 -> 1 replica)`);
      const signal = `rabbitmq_queue_messages{queue="${scaling.queueName}"}`;
      const scraped = await eventually(`${signal} = ${REQUESTS} in Prometheus`, 30_000, async () => ((await prometheusValue(signal)) === REQUESTS ? REQUESTS : undefined));
      const desired = Math.min(scaling.maxReplicaCount, Math.ceil(waiting.messages / scaling.value));
      report.push(
        `no worker: ${waiting.messages} messages (management API), ${scraped} (Prometheus ${signal}), activationValue ${scaling.activationValue}, value ${scaling.value}: KEDA wants ${desired} replica(s)`,
      );

      const startedAt = Date.now();
      worker = await startWorker(workerEnv());
      const results = await Promise.all(answers);
      const drainedMs = Date.now() - startedAt;
      results.forEach(([result], i) => {
        assert.equal(result!.label, expected[i]!.label === 1 ? 'positive' : 'negative', texts[i]);
        assert.ok(Math.abs(result!.score - expected[i]!.score) < 1e-4, `${texts[i]}: ${result!.score} vs ${expected[i]!.score}`);
      });

      const drained = await eventually('the management API at 0 messages', 30_000, async () => {
        const queue = await managementQueue();
        return queue?.messages === 0 ? queue : undefined;
      });
      assert.ok(drained.messages <= scaling.activationValue, 'KEDA deactivates: back to 0 replicas after the cooldown');
      assert.equal(drained.consumers, 1, 'the one worker');
      await eventually(`${signal} back to 0 in Prometheus`, 30_000, async () => ((await prometheusValue(signal)) === 0 ? true : undefined));

      // The worker's own series, scraped by the same Prometheus.
      const acked = await eventually('the worker acked every request (Prometheus)', 30_000, async () => {
        const value = await prometheusValue('sum(imesh_queue_worker_acked_total{outcome="result"})');
        return value === REQUESTS ? value : undefined;
      });
      assert.equal(await prometheusValue('sum(imesh_queue_worker_consumed_total)'), REQUESTS);
      assert.equal(await prometheusValue('sum(imesh_queue_worker_end_to_end_duration_count)'), REQUESTS, 'every result timed from its publish');
      assert.equal(await prometheusValue('sum(imesh_queue_worker_inflight)'), 0);
      const p50 = await prometheusValue('histogram_quantile(0.5, sum by (le) (imesh_queue_worker_end_to_end_duration_bucket))');
      assert.ok(p50 !== undefined && p50 > 0, 'publish-to-result latency recorded');
      report.push(`one worker drained ${acked} requests in ${drainedMs} ms (start included); median publish-to-result ${p50!.toFixed(2)} s (they waited for the worker)`);
    } finally {
      await client.close();
    }
  });

  it("the dashboard's queue row and k8s/monitoring/queue-alerts.yaml: promtool passes, every expression returns series from the real worker and broker, every rule evaluates", async () => {
    await promisify(execFile)('promtool', ['check', 'rules', QUEUE_ALERTS]);
    worker = await startWorker(workerEnv());
    const client = await QueueClient.connect({ url: brokerFixture.broker.url, queue: scaling.queueName });
    try {
      await client.submit([texts[0]!]);
      // A dead letter, for the dead-lettering series.
      await assert.rejects(client.submit(['fine'], { model: 'no-such-model' }), /NOT_FOUND/);
    } finally {
      await client.close();
    }
    const panels = dashboardExpressions().filter(({ expr }) => QUEUE_PANEL_SERIES.test(expr));
    assert.ok(panels.length >= 4, `${panels.length} queue panel queries`);
    const rules = alertRules(QUEUE_ALERTS);
    assert.deepEqual(rules.map((rule) => rule.alert), ['QueueWorkerDeadLettering', 'QueueWorkerNotConsuming', 'QueueResultsSlow']);
    // rate() needs two scrapes of a series: within seconds at the 1 s scrape interval.
    await eventually('every queue panel and alert signal returns series', 30_000, async () => {
      for (const { expr } of [...panels, ...rules.map((rule) => ({ expr: rule.signal }))]) if ((await prometheus.query(expr)).length === 0) return undefined;
      return true;
    });
    assert.deepEqual((await prometheus.query('max by (namespace, pod) (imesh_queue_worker_broker_connected)')).map((sample) => sample.value), [1], 'consuming: QueueWorkerNotConsuming stays quiet');
    const [deadLetters] = await prometheus.query('sum by (grpc_status) (imesh_queue_worker_dead_lettered_total)');
    assert.deepEqual([deadLetters?.metric['grpc_status'], deadLetters?.value], ['NOT_FOUND', 1]);
    const { groups } = await eventually('the queue rules evaluated', 15_000, async () => {
      const data = await prometheus.api<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>('/api/v1/rules');
      return data.groups.flatMap((group) => group.rules).every((rule) => rule.health === 'ok') ? data : undefined;
    });
    assert.equal(groups.flatMap((group) => group.rules).length, rules.length);
  });
});

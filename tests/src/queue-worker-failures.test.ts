// The queue-worker's failures (issue 17): a worker killed mid-batch (SIGKILL: no drain, no close) and a broker
// restart lose nothing. The broker takes back the unacked deliveries and a worker answers them again; duplicates
// are possible (a result confirmed just before the failure, its ack never sent) and carry the same id and answer.
import { readSst2 } from '@inference-mesh/model-tools';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { strict as assert } from 'node:assert';
import { inProcessPredictions } from './in-process-predictions';
import { useMesh } from './mesh-fixture';
import { assertSameAnswer, checkAgainstInProcess, collectResults, publishTextMessages, startWorker, stopWorker, until, type Received, type WorkerProcess } from './queue-worker-process';
import { useTestBroker } from './rabbitmq';
import { SERVICE_NAMES } from '@inference-mesh/protos';
import { HealthChecker } from '@inference-mesh/service-kit';

/** Issue 17's acceptance: a worker killed while 5,000 messages are in flight (published, not yet answered). */
const IN_FLIGHT_AT_KILL = 5_000;
const CRASH_MESSAGES = 5_500;

describe('queue-worker failures: SIGKILL mid-batch, a broker restart (real RabbitMQ, real mesh)', function () {
  this.timeout(180_000);
  const brokerFixture = useTestBroker();
  const meshFixture = useMesh();
  const texts = readSst2('dev').map((row) => row.text);
  let connection: ChannelModel;
  let channel: Channel;
  const workers: WorkerProcess[] = [];
  let expected: { label: number; score: number }[];
  const workerEnv = (queue: string) => ({ IMESH_AMQP_URL: brokerFixture.broker.url, IMESH_QUEUE_NAME: queue, IMESH_GATEWAY_TARGET: meshFixture.mesh.gateway });

  before(async () => {
    expected = await inProcessPredictions('2', texts);
    connection = await connect(brokerFixture.broker.url);
    connection.on('error', () => undefined);
    channel = await connection.createConfirmChannel();
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') for (const worker of workers) process.stderr.write(`--- worker logs (last 20 lines)\n${worker.logs.slice(-20).join('\n')}\n`);
    for (const worker of workers) await stopWorker(worker);
    workers.length = 0;
  });
  after(async () => {
    await connection?.close().catch(() => undefined);
  });

  it(`SIGKILL mid-batch with at least ${IN_FLIGHT_AT_KILL} in flight, then another worker: every message gets a result; any duplicate has the same id and answer; nothing is left unacked or lost`, async () => {
    const queue = 'imesh.test.crash';
    const results = 'imesh.test.crash.results';
    const env = { ...workerEnv(queue), IMESH_QUEUE_PREFETCH: '64' };
    await channel.assertQueue(results, { durable: true });
    const received: Received[] = [];
    const { consumerTag } = await collectResults(channel, results, received);
    await publishTextMessages(channel, texts, queue, results, 'crash', CRASH_MESSAGES);
    const first = await startWorker(env);
    workers.push(first);
    await until(() => received.length >= 300, 60_000, 'the first results');
    first.child.kill('SIGKILL');
    assert.deepEqual(await first.exited, { code: null, signal: 'SIGKILL' });
    const answeredByFirst = new Set(received.map((r) => r.id)).size;
    assert.ok(CRASH_MESSAGES - answeredByFirst >= IN_FLIGHT_AT_KILL, `${CRASH_MESSAGES - answeredByFirst} messages in flight (published, not answered) at the kill`);
    const second = await startWorker(env);
    workers.push(second);
    await until(() => new Set(received.map((r) => r.id)).size >= CRASH_MESSAGES, 120_000, 'a result for every message');
    await stopWorker(second);
    assert.deepEqual(await second.exited, { code: 0, signal: null });
    await until(async () => (await channel.checkQueue(results)).messageCount === 0, 10_000, 'the results to be read');
    await channel.cancel(consumerTag);
    const byId = new Map<string, Received>();
    for (const result of received) {
      checkAgainstInProcess(result, 'crash', texts, expected);
      const earlier = byId.get(result.id);
      if (earlier) assertSameAnswer(result, earlier);
      else byId.set(result.id, result);
    }
    assert.equal(byId.size, CRASH_MESSAGES);
    const duplicates = received.length - byId.size;
    assert.ok(duplicates <= 64, `${duplicates} duplicates: at most the killed worker's prefetch`);
    assert.equal((await channel.checkQueue(queue)).messageCount, 0, 'nothing left on the request queue, acked or unacked');
    process.stdout.write(
      `      SIGKILL after ${answeredByFirst} of ${CRASH_MESSAGES} results (${CRASH_MESSAGES - answeredByFirst} in flight); the second worker answered the rest; ${duplicates} duplicates (same id and answer)\n`,
    );
  });

  it('the broker cancels the consumer (its queue deleted): the worker says so, connects again, declares the queue again and consumes it', async () => {
    const queue = 'imesh.test.cancelled';
    const results = 'imesh.test.cancelled.results';
    await channel.assertQueue(results, { durable: true });
    const worker = await startWorker({ ...workerEnv(queue), IMESH_RECONNECT_INITIAL_DELAY_MS: '200', IMESH_RECONNECT_MAX_DELAY_MS: '1000' });
    workers.push(worker);
    await channel.deleteQueue(queue);
    await until(() => worker.logs.some((line) => line.includes('the broker cancelled the consumer')), 10_000, 'the cancel noticed');
    await until(() => worker.logs.some((line) => line.includes('"reconnected: consuming again"')), 20_000, 'consuming again');
    const checker = new HealthChecker(`127.0.0.1:${worker.healthPort}`);
    try {
      assert.equal(await checker.check(SERVICE_NAMES.queueWorkerBroker, Date.now() + 3_000), 'SERVING', 'ready again');
    } finally {
      checker.close();
    }
    const received: Received[] = [];
    const { consumerTag } = await collectResults(channel, results, received);
    await publishTextMessages(channel, texts, queue, results, 'cancelled', 50);
    await until(() => received.length >= 50, 30_000, 'a result for every message');
    await channel.cancel(consumerTag);
    for (const result of received) checkAgainstInProcess(result, 'cancelled', texts, expected);
    assert.equal((await channel.checkQueue(queue)).consumerCount, 1, 'the worker consumes the queue it declared again');
  });

  it('a broker restart during a run: the worker reconnects and every message gets a result, any duplicate with the same id and answer, nothing left', async () => {
    const { broker } = brokerFixture;
    const queue = 'imesh.test.restart';
    const results = 'imesh.test.restart.results';
    await channel.assertQueue(results, { durable: true });
    await publishTextMessages(channel, texts, queue, results, 'restart', 1000);
    // Results read with acks, on a connection of their own reopened after the restart: a result the broker handed
    // over but never saw acked comes again rather than being lost with the socket.
    const received: Received[] = [];
    const readResults = async () => {
      const resultsConnection = await connect(broker.url);
      resultsConnection.on('error', () => undefined);
      const resultsChannel = await resultsConnection.createChannel();
      await resultsChannel.prefetch(200);
      await resultsChannel.consume(results, (message) => {
        if (!message) return;
        const body = JSON.parse(message.content.toString()) as { id: string; results: Received['results'] };
        received.push({ id: body.id, messageId: message.properties.messageId, correlationId: message.properties.correlationId, results: body.results });
        resultsChannel.ack(message);
      });
      return resultsConnection;
    };
    let resultsConnection = await readResults();
    const worker = await startWorker({ ...workerEnv(queue), IMESH_RECONNECT_INITIAL_DELAY_MS: '200', IMESH_RECONNECT_MAX_DELAY_MS: '1000' });
    workers.push(worker);
    const distinct = () => new Set(received.map((r) => r.id)).size;
    await until(() => received.length >= 200, 60_000, 'the first results');
    const restartedAt = Date.now();
    await broker.stop();
    const answeredBeforeStop = distinct();
    await broker.start();
    const restartMs = Date.now() - restartedAt;
    connection = await connect(broker.url);
    connection.on('error', () => undefined);
    channel = await connection.createConfirmChannel();
    await resultsConnection.close().catch(() => undefined);
    resultsConnection = await readResults();
    try {
      await until(() => distinct() >= 1000, 90_000, 'a result for every message after the restart');
      const completedMs = Date.now() - restartedAt;
      assert.ok(worker.logs.some((line) => line.includes('"reconnected: consuming again"')), 'the worker reconnected');
      const stoppedWorker = worker;
      await stopWorker(worker);
      assert.deepEqual(await stoppedWorker.exited, { code: 0, signal: null });
      const byId = new Map<string, Received>();
      for (const result of received) {
        checkAgainstInProcess(result, 'restart', texts, expected);
        const first = byId.get(result.id);
        if (first) assertSameAnswer(result, first);
        else byId.set(result.id, result);
      }
      assert.equal(byId.size, 1000);
      const left = await channel.checkQueue(queue);
      assert.equal(left.messageCount, 0, 'nothing left on the request queue, acked or unacked');
      process.stdout.write(
        '      ' +
        `broker restart after ${answeredBeforeStop} results: stop and start took ${restartMs} ms, all 1,000 answered ${completedMs} ms after the stop, ` +
          `${received.length - byId.size} duplicates (same id and answer)\n`,
      );
    } finally {
      await resultsConnection.close().catch(() => undefined);
    }
  });
});

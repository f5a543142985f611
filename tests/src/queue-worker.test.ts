// Asynchronous inference over a real broker (issue 17, first slice): the queue-worker process consumes a durable
// RabbitMQ queue, classifies each message through the real mesh's gateway, publishes the result to reply_to and acks
// only after the broker confirmed it; bad messages are dead-lettered with their reason; SIGTERM drains cleanly.
import { REPO_ROOT } from '@inference-mesh/launcher';
import { readSst2 } from '@inference-mesh/model-tools';
import { connect, type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { spawn, type ChildProcess } from 'node:child_process';
import { strict as assert } from 'node:assert';
import { createServer, connect as connectTcp, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { freePort } from './free-port';
import { inProcessPredictions } from './in-process-predictions';
import { useMesh } from './mesh-fixture';
import { useTestBroker } from './rabbitmq';

const WORKER_MAIN = join(REPO_ROOT, 'services', 'queue-worker', 'dist', 'main.js');

interface WorkerProcess {
  readonly child: ChildProcess;
  readonly logs: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The worker as it runs in production: its own process, configured by the environment; resolves once it consumes. */
async function startWorker(env: Readonly<Record<string, string>>): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [WORKER_MAIN], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const consuming = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      logs.push(...chunk.toString().split('\n').filter(Boolean));
      if (logs.some((line) => line.includes('"consuming"'))) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(({ code, signal }) => reject(new Error(`the worker exited (${signal ?? code}) before consuming:\n${logs.join('\n')}`)));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    await consuming;
  } finally {
    clearTimeout(timer);
  }
  return { child, logs, exited };
}

async function stopWorker(worker: WorkerProcess | undefined): Promise<void> {
  if (!worker || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), 10_000);
  await worker.exited;
  clearTimeout(timer);
}

interface Received {
  readonly id: string;
  readonly messageId: string | undefined;
  readonly correlationId: string | undefined;
  readonly results: { label: string; score: number; modelVersion: string }[];
}

/** Consumes `queue` (no acks needed: the test is its only reader) into `into`; resolves `whenCount` at `count` results. */
async function collectResults(channel: Channel, queue: string, into: Received[]): Promise<{ consumerTag: string }> {
  return channel.consume(
    queue,
    (message: ConsumeMessage | null) => {
      if (!message) return;
      const body = JSON.parse(message.content.toString()) as { id: string; results: Received['results'] };
      into.push({ id: body.id, messageId: message.properties.messageId, correlationId: message.properties.correlationId, results: body.results });
    },
    { noAck: true },
  );
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('queue-worker: asynchronous inference over a real RabbitMQ broker and the real mesh', function () {
  this.timeout(180_000);
  const brokerFixture = useTestBroker();
  const meshFixture = useMesh();
  const texts = readSst2('dev').map((row) => row.text);
  let expected: { label: number; score: number }[];
  let connection: ChannelModel;
  let channel: Channel;
  let worker: WorkerProcess | undefined;
  const report: string[] = [];

  before(async () => {
    expected = await inProcessPredictions('2', texts);
    connection = await connect(brokerFixture.broker.url);
    // The broker fixture's own `after` stops the node before this suite's `after` runs (mocha runs them in the order
    // they were declared): the forced close that follows is expected.
    connection.on('error', () => undefined);
    channel = await connection.createConfirmChannel();
    report.push(`broker ${brokerFixture.broker.nodeName} started in ${brokerFixture.broker.lastStartMs} ms`);
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && worker) process.stderr.write(`--- worker logs (last 30 lines)\n${worker.logs.slice(-30).join('\n')}\n`);
    await stopWorker(worker);
    worker = undefined;
  });
  after(async () => {
    await connection?.close().catch(() => undefined);
    if (report.length) process.stdout.write(report.map((line) => `      ${line}\n`).join(''));
  });

  const workerEnv = (queue: string, gateway = meshFixture.mesh.gateway) => ({
    IMESH_AMQP_URL: brokerFixture.broker.url,
    IMESH_QUEUE_NAME: queue,
    IMESH_GATEWAY_TARGET: gateway,
    IMESH_LOG_LEVEL: 'info',
  });

  /** Publishes `count` persistent one-text messages (`<prefix>-<n>`, text n of dev.tsv, cycling) and waits for the broker's confirms. */
  async function publishMessages(queue: string, replyTo: string, prefix: string, count: number): Promise<void> {
    const confirm = channel as Channel & { waitForConfirms(): Promise<void> };
    await channel.assertQueue(queue, { durable: true });
    for (let n = 0; n < count; n++) {
      const id = `${prefix}-${n}`;
      channel.sendToQueue(queue, Buffer.from(JSON.stringify({ id, texts: [texts[n % texts.length]] })), { persistent: true, replyTo, correlationId: `c-${id}`, messageId: id });
    }
    await confirm.waitForConfirms();
  }

  function checkResult(received: Received, prefix: string): void {
    const n = Number(received.id.slice(prefix.length + 1));
    const want = expected[n % texts.length]!;
    assert.equal(received.messageId, received.id, 'the result carries the message id in its properties');
    assert.equal(received.correlationId, `c-${received.id}`);
    assert.equal(received.results.length, 1);
    const [result] = received.results;
    assert.equal(result!.modelVersion, '2');
    assert.equal(result!.label, want.label === 1 ? 'positive' : 'negative', `${received.id}: "${texts[n % texts.length]}"`);
    assert.ok(Math.abs(result!.score - want.score) < 1e-4, `${received.id}: score ${result!.score}, in-process ${want.score}`);
  }

  it('1,000 persistent messages from dev.tsv: 1,000 results on reply_to, each as in-process classification and with its message id', async () => {
    const queue = 'imesh.test.bulk';
    const results = 'imesh.test.bulk.results';
    await channel.assertQueue(results, { durable: true });
    const received: Received[] = [];
    const { consumerTag } = await collectResults(channel, results, received);
    worker = await startWorker(workerEnv(queue));
    const startedAt = Date.now();
    await publishMessages(queue, results, 'bulk', 1000);
    await until(() => received.length >= 1000, 60_000, '1,000 results');
    const elapsedMs = Date.now() - startedAt;
    await channel.cancel(consumerTag);
    assert.equal(received.length, 1000);
    assert.equal(new Set(received.map((r) => r.id)).size, 1000, 'one result per message');
    for (const result of received) checkResult(result, 'bulk');
    const depth = await channel.checkQueue(queue);
    assert.equal(depth.messageCount, 0, 'the request queue is drained and acked');
    report.push(`1,000 messages published and answered in ${elapsedMs} ms (${Math.round(1000 / (elapsedMs / 1000))} messages/s, prefetch 64)`);
  });

  it('dead-letters each kind of bad message at once with its reason and gRPC status, and acks it', async () => {
    const queue = 'imesh.test.bad';
    const results = 'imesh.test.bad.results';
    await channel.assertQueue(queue, { durable: true });
    await channel.assertQueue(results, { durable: true });
    worker = await startWorker(workerEnv(queue));
    const bad: [string, Buffer, { replyTo?: string }][] = [
      ['not-json', Buffer.from('{"id": "not-json", texts'), { replyTo: results }],
      ['no-id', Buffer.from(JSON.stringify({ texts: ['fine'] })), { replyTo: results }],
      ['no-texts', Buffer.from(JSON.stringify({ id: 'no-texts' })), { replyTo: results }],
      ['not-a-string', Buffer.from(JSON.stringify({ id: 'not-a-string', texts: [7] })), { replyTo: results }],
      ['empty-text', Buffer.from(JSON.stringify({ id: 'empty-text', texts: ['fine', ''] })), { replyTo: results }],
      ['too-many', Buffer.from(JSON.stringify({ id: 'too-many', texts: Array.from({ length: 257 }, () => 'fine') })), { replyTo: results }],
      ['unknown-model', Buffer.from(JSON.stringify({ id: 'unknown-model', texts: ['fine'], model: 'no-such-model' })), { replyTo: results }],
      ['unknown-version', Buffer.from(JSON.stringify({ id: 'unknown-version', texts: ['fine'], version: '99' })), { replyTo: results }],
      ['no-reply-to', Buffer.from(JSON.stringify({ id: 'no-reply-to', texts: ['fine'] })), {}],
    ];
    for (const [tag, body, options] of bad) channel.sendToQueue(queue, body, { persistent: true, correlationId: tag, ...options });
    await (channel as Channel & { waitForConfirms(): Promise<void> }).waitForConfirms();
    const dead = `${queue}.dead`;
    await until(async () => (await channel.checkQueue(dead)).messageCount >= bad.length, 30_000, 'the dead letters');
    const letters = new Map<string, { reason: string; status: string; body: string }>();
    for (let message = await channel.get(dead, { noAck: true }); message; message = await channel.get(dead, { noAck: true })) {
      const headers = message.properties.headers ?? {};
      letters.set(String(message.properties.correlationId), { reason: String(headers['x-imesh-reason']), status: String(headers['x-imesh-grpc-status']), body: message.content.toString() });
    }
    const seen = Object.fromEntries([...letters].map(([tag, letter]) => [tag, [letter.status, letter.reason]]));
    const expectReason: Record<string, [string, RegExp]> = {
      'not-json': ['none', /^not JSON$/],
      'no-id': ['none', /^no id/],
      'no-texts': ['none', /^no texts/],
      'not-a-string': ['none', /texts\[0\] is not a string/],
      'empty-text': ['INVALID_ARGUMENT', /empty/],
      'too-many': ['INVALID_ARGUMENT', /256/],
      'unknown-model': ['NOT_FOUND', /no-such-model/],
      'unknown-version': ['NOT_FOUND', /99/],
      'no-reply-to': ['none', /^no reply_to/],
    };
    assert.deepEqual(new Set(letters.keys()), new Set(Object.keys(expectReason)), JSON.stringify(seen));
    for (const [tag, [status, reason]] of Object.entries(expectReason)) {
      const letter = letters.get(tag)!;
      assert.equal(letter.status, status, `${tag}: ${JSON.stringify(seen[tag])}`);
      assert.match(letter.reason, reason, tag);
    }
    assert.equal(letters.get('not-json')!.body, '{"id": "not-json", texts', 'dead-lettered as it came');
    assert.equal((await channel.checkQueue(queue)).messageCount, 0, 'acked: nothing requeued');
    assert.equal((await channel.checkQueue(results)).messageCount, 0, 'no result for a bad message');
    report.push(`dead letters: ${JSON.stringify(seen)}`);
  });

  it('SIGTERM with messages in flight: stops consuming, acks what it finished, exits 0 within seconds, nothing left unacked', async () => {
    const queue = 'imesh.test.drain';
    const results = 'imesh.test.drain.results';
    await channel.assertQueue(results, { durable: true });
    const received: Received[] = [];
    const { consumerTag } = await collectResults(channel, results, received);
    await publishMessages(queue, results, 'drain', 1000);
    worker = await startWorker(workerEnv(queue));
    await until(() => received.length >= 150, 60_000, 'the first results');
    const signalledAt = Date.now();
    worker.child.kill('SIGTERM');
    const exit = await worker.exited;
    const exitMs = Date.now() - signalledAt;
    assert.deepEqual(exit, { code: 0, signal: null }, worker.logs.slice(-10).join('\n'));
    assert.ok(exitMs < 5_000, `exited ${exitMs} ms after SIGTERM`);
    // Every result the worker published was confirmed before its ack; they are all on the results queue by now.
    await until(async () => (await channel.checkQueue(results)).messageCount === 0, 10_000, 'the results to be read');
    await channel.cancel(consumerTag);
    const left: string[] = [];
    let redelivered = 0;
    for (let message = await channel.get(queue, { noAck: true }); message; message = await channel.get(queue, { noAck: true })) {
      left.push(String(message.properties.messageId));
      if (message.fields.redelivered) redelivered++;
    }
    const answered = received.map((r) => r.id);
    assert.ok(left.length > 0, 'the worker was stopped before the end of the run');
    assert.equal(new Set(answered).size, answered.length, 'exactly one result per processed message');
    assert.equal(answered.length + left.length, 1000, `${answered.length} answered + ${left.length} left in the queue`);
    assert.deepEqual(answered.filter((id) => left.includes(id)), [], 'no processed message went back to the queue');
    assert.equal(redelivered, 0, 'no delivery was returned unacked: what was in flight was finished and acked');
    for (const result of received) checkResult(result, 'drain');
    report.push(`SIGTERM after ${answered.length} results: exit 0 in ${exitMs} ms, ${left.length} messages left in the queue, none unacked`);
  });

  it('a gateway outage: messages are retried through the delay queues and answered after recovery, or dead-lettered after the maximum attempts', async () => {
    // The outage: the worker's gateway address is a port where nothing listens until a TCP forwarder to the real
    // gateway opens on it.
    const port = await freePort();
    const gatewayPort = Number(meshFixture.mesh.gateway.split(':').pop());
    const queue = 'imesh.test.outage';
    const results = 'imesh.test.outage.results';
    await channel.assertQueue(results, { durable: true });
    const received: Received[] = [];
    const { consumerTag } = await collectResults(channel, results, received);
    worker = await startWorker({ ...workerEnv(queue, `127.0.0.1:${port}`), IMESH_RETRY_MAX_ATTEMPTS: '40', IMESH_RETRY_INITIAL_DELAY_MS: '100', IMESH_RETRY_MAX_DELAY_MS: '400' });
    await publishMessages(queue, results, 'outage', 20);
    const retries = () => worker!.logs.filter((line) => line.includes('"retrying after a transient failure"')).length;
    await until(() => retries() >= 40, 30_000, 'two retries of each message');
    assert.equal(received.length, 0, 'no result while the gateway is away');
    const sockets = new Set<Socket>();
    const forwarder: Server = createServer((socket) => {
      const upstream = connectTcp(gatewayPort, '127.0.0.1');
      sockets.add(socket).add(upstream);
      socket.pipe(upstream).pipe(socket);
      const close = () => (socket.destroy(), upstream.destroy());
      socket.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    await new Promise<void>((resolve) => forwarder.listen(port, '127.0.0.1', resolve));
    const recoveredAt = Date.now();
    try {
      await until(() => received.length >= 20, 60_000, 'the results after recovery');
      const recoveryMs = Date.now() - recoveredAt;
      await stopWorker(worker);
      await channel.cancel(consumerTag);
      assert.equal(received.length, 20);
      assert.equal(new Set(received.map((r) => r.id)).size, 20, 'one result per message');
      for (const result of received) checkResult(result, 'outage');
      assert.equal((await channel.checkQueue(`${queue}.dead`)).messageCount, 0);
      report.push(`gateway outage: ${retries()} retries of 20 messages, all 20 answered ${recoveryMs} ms after the gateway came back`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => forwarder.close(resolve));
    }

    // An outage longer than the retries: dead-lettered with the last status and the attempts.
    const giveUp = 'imesh.test.giveup';
    worker = await startWorker({ ...workerEnv(giveUp, `127.0.0.1:${await freePort()}`), IMESH_RETRY_MAX_ATTEMPTS: '3', IMESH_RETRY_INITIAL_DELAY_MS: '100', IMESH_RETRY_MAX_DELAY_MS: '200' });
    await publishMessages(giveUp, results, 'giveup', 5);
    await until(async () => (await channel.checkQueue(`${giveUp}.dead`)).messageCount >= 5, 30_000, 'the dead letters after the last attempt');
    for (let n = 0; n < 5; n++) {
      const letter = await channel.get(`${giveUp}.dead`, { noAck: true });
      assert.ok(letter, 'a dead letter');
      const headers = letter.properties.headers ?? {};
      assert.equal(headers['x-imesh-grpc-status'], 'UNAVAILABLE');
      assert.equal(headers['x-imesh-attempts'], 3);
      assert.match(String(headers['x-imesh-reason']), /^gave up after 3 attempts: /);
    }
    assert.equal((await channel.checkQueue(giveUp)).messageCount, 0);
    report.push('a longer outage: 5 of 5 messages dead-lettered after 3 attempts with UNAVAILABLE');
  });

  it('a broker restart during a run: the worker reconnects and every message gets a result, any duplicate with the same id and answer, nothing left', async () => {
    const { broker } = brokerFixture;
    const queue = 'imesh.test.restart';
    const results = 'imesh.test.restart.results';
    await channel.assertQueue(results, { durable: true });
    await publishMessages(queue, results, 'restart', 1000);
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
    worker = await startWorker({ ...workerEnv(queue), IMESH_RECONNECT_INITIAL_DELAY_MS: '200', IMESH_RECONNECT_MAX_DELAY_MS: '1000' });
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
        checkResult(result, 'restart');
        const first = byId.get(result.id);
        if (first) assert.deepEqual(result.results, first.results, `${result.id}: a duplicate with the same answer`);
        else byId.set(result.id, result);
      }
      assert.equal(byId.size, 1000);
      const left = await channel.checkQueue(queue);
      assert.equal(left.messageCount, 0, 'nothing left on the request queue, acked or unacked');
      report.push(
        `broker restart after ${answeredBeforeStop} results: stop and start took ${restartMs} ms, all 1,000 answered ${completedMs} ms after the stop, ` +
          `${received.length - byId.size} duplicates (same id and answer)`,
      );
    } finally {
      await resultsConnection.close().catch(() => undefined);
    }
  });
});

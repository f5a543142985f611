// Asynchronous inference over a real broker (issue 17, first slice): the queue-worker process consumes a durable
// RabbitMQ queue, classifies each message through the real mesh's gateway, publishes the result to reply_to and acks
// only after the broker confirmed it; bad messages are dead-lettered with their reason; SIGTERM drains cleanly.
import { freePort } from '@inference-mesh/launcher';
import { readSst2 } from '@inference-mesh/model-tools';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { strict as assert } from 'node:assert';
import { createServer, connect as connectTcp, type Server, type Socket } from 'node:net';
import { inProcessPredictions } from './in-process-predictions';
import { useMesh } from './mesh-fixture';
import {
  checkAgainstInProcess,
  collectResults,
  publishTextMessages,
  startWorker,
  stopWorker,
  until,
  type Received,
  type WorkerProcess,
} from './queue-worker-process';
import { useTestBroker } from './rabbitmq';

/** Issue 17's acceptance size: dev.tsv's 872 texts, cycled. */
const BULK_MESSAGES = 10_000;

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

  const publishMessages = (queue: string, replyTo: string, prefix: string, count: number) => publishTextMessages(channel, texts, queue, replyTo, prefix, count);
  const checkResult = (received: Received, prefix: string) => checkAgainstInProcess(received, prefix, texts, expected);

  it('10,000 persistent messages from dev.tsv: 10,000 results on reply_to, each as in-process classification and with its message id', async () => {
    const queue = 'imesh.test.bulk';
    const results = 'imesh.test.bulk.results';
    await channel.assertQueue(results, { durable: true });
    const received: Received[] = [];
    const { consumerTag } = await collectResults(channel, results, received);
    worker = await startWorker(workerEnv(queue));
    const startedAt = Date.now();
    await publishMessages(queue, results, 'bulk', BULK_MESSAGES);
    await until(() => received.length >= BULK_MESSAGES, 120_000, `${BULK_MESSAGES} results`);
    const elapsedMs = Date.now() - startedAt;
    await channel.cancel(consumerTag);
    assert.equal(received.length, BULK_MESSAGES);
    assert.equal(new Set(received.map((r) => r.id)).size, BULK_MESSAGES, 'one result per message');
    for (const result of received) checkResult(result, 'bulk');
    const depth = await channel.checkQueue(queue);
    assert.equal(depth.messageCount, 0, 'the request queue is drained and acked');
    report.push(`${BULK_MESSAGES.toLocaleString("en")} messages published and answered in ${elapsedMs} ms (${Math.round(BULK_MESSAGES / (elapsedMs / 1000))} messages/s, one text each, prefetch 64)`);
  });

  it('dead-letters each kind of bad message at once with its reason and gRPC status, answers its reply_to with them, and acks it', async () => {
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
    // Every one with a reply_to is answered there with its reason and code, so that its producer need not time out
    // (each answer is published after its dead letter).
    await until(async () => (await channel.checkQueue(results)).messageCount >= bad.length - 1, 30_000, 'the answers on reply_to');
    const answers = new Map<string, { id: string; error?: { code: string; message: string }; results?: unknown }>();
    for (let message = await channel.get(results, { noAck: true }); message; message = await channel.get(results, { noAck: true })) {
      answers.set(String(message.properties.correlationId), JSON.parse(message.content.toString()) as { id: string; error?: { code: string; message: string } });
    }
    assert.deepEqual(new Set(answers.keys()), new Set(Object.keys(expectReason).filter((tag) => tag !== 'no-reply-to')), 'an answer for each but the one without reply_to');
    for (const [tag, answer] of answers) {
      const [status] = expectReason[tag]!;
      assert.equal(answer.results, undefined, `${tag}: no results`);
      assert.deepEqual(answer.error, { code: status === 'none' ? 'INVALID_ARGUMENT' : status, message: letters.get(tag)!.reason }, `${tag}: the dead letter's reason, with the gateway's code`);
    }
    assert.equal(answers.get('unknown-model')!.id, 'unknown-model', 'the request id, where the message had one');
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
});

// Issue 17's producer side against a real broker, a real queue-worker process and the real mesh: QueueClient
// (@inference-mesh/client/queue) submits and gets each result as direct classification gives it, drops duplicate
// results, rejects on timeout and abort; `imesh submit --file` prints what `imesh classify --file` prints, in input
// order; `imesh queue stats` counts a dead-lettered message and the worker's consumer.
import { readSst2 } from '@inference-mesh/model-tools';
import { isQueueSubmitError, QueueClient, type QueueSubmitError } from '@inference-mesh/client/queue';
import { connect, type Channel, type ChannelModel, type GetMessage } from 'amqplib';
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runImesh } from './imesh-cli';
import { inProcessPredictions } from './in-process-predictions';
import { useMesh } from './mesh-fixture';
import { startWorker, stopWorker, until, type WorkerProcess } from './queue-worker-process';
import { useTestBroker } from './rabbitmq';

const QUEUE = 'imesh.test.submit';
/** A queue no worker consumes: its requests never get a result. */
const IDLE_QUEUE = 'imesh.test.idle';

/** A QueueSubmitError of this reason whose message matches. */
const submitError = (reason: QueueSubmitError['reason'], message: RegExp) => (error: unknown) => isQueueSubmitError(error) && error.reason === reason && message.test(error.message);

describe('queue submit: QueueClient and imesh submit / queue stats against a real broker, worker and mesh', function () {
  this.timeout(180_000);
  const brokerFixture = useTestBroker();
  const meshFixture = useMesh();
  const texts = readSst2('dev').map((row) => row.text).slice(0, 200);
  let expected: { label: number; score: number }[];
  let worker: WorkerProcess | undefined;
  let client: QueueClient | undefined;
  let connection: ChannelModel;
  let channel: Channel;
  let dir: string;
  const report: string[] = [];

  before(async () => {
    expected = await inProcessPredictions('2', texts);
    dir = mkdtempSync(join(tmpdir(), 'imesh-queue-submit-'));
    connection = await connect(brokerFixture.broker.url);
    // The broker fixture's `after` stops the node before this suite's `after` runs: the forced close is expected.
    connection.on('error', () => undefined);
    channel = await connection.createConfirmChannel();
    worker = await startWorker({ IMESH_AMQP_URL: brokerFixture.broker.url, IMESH_QUEUE_NAME: QUEUE, IMESH_GATEWAY_TARGET: meshFixture.mesh.gateway, IMESH_LOG_LEVEL: 'info' });
    client = await QueueClient.connect({ url: brokerFixture.broker.url, queue: QUEUE });
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed' && worker) process.stderr.write(`--- worker logs (last 30 lines)\n${worker.logs.slice(-30).join('\n')}\n`);
  });
  after(async () => {
    await client?.close();
    await stopWorker(worker);
    await connection?.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    if (report.length) process.stdout.write(report.map((line) => `      ${line}\n`).join(''));
  });

  it('200 texts in messages of 10 through submitMany: each result as in-process classification, in the order of its texts', async () => {
    const messages = Array.from({ length: 20 }, (_, m) => texts.slice(m * 10, m * 10 + 10));
    const startedAt = Date.now();
    const seen = new Set<number>();
    for await (const outcome of client!.submitMany(messages, { maxInFlight: 8, timeoutMs: 60_000 })) {
      assert.equal(outcome.error, undefined, String(outcome.error));
      assert.ok(!seen.has(outcome.index));
      seen.add(outcome.index);
      assert.equal(outcome.result!.length, 10);
      outcome.result!.forEach((result, i) => {
        const n = outcome.index * 10 + i;
        assert.equal(result.label, expected[n]!.label === 1 ? 'positive' : 'negative', texts[n]);
        assert.ok(Math.abs(result.score - expected[n]!.score) < 1e-4, `${texts[n]}: ${result.score} vs in-process ${expected[n]!.score}`);
        assert.equal(result.modelVersion, '2');
      });
    }
    assert.equal(seen.size, 20);
    assert.equal(client!.inFlight, 0);
    report.push(`submitMany: 200 texts in 20 messages answered in ${Date.now() - startedAt} ms`);
  });

  it('a single submit publishes a persistent message with reply_to, correlation id, timestamp and x-imesh-published-at', async () => {
    const idle = await QueueClient.connect({ url: brokerFixture.broker.url, queue: IDLE_QUEUE });
    try {
      const before = Date.now();
      const waiting = idle.submit(['a fine film'], { model: 'sentiment', topK: 1, timeoutMs: 30_000 });
      let message: GetMessage | false = false;
      await until(async () => (message = await channel.get(IDLE_QUEUE, { noAck: true })) !== false, 10_000, 'the request on the idle queue');
      const { properties, content } = message as unknown as GetMessage;
      const body = JSON.parse(content.toString()) as { id: string; texts: string[]; model: string; topK: number };
      assert.deepEqual({ ...body, id: undefined }, { id: undefined, texts: ['a fine film'], model: 'sentiment', topK: 1 });
      assert.equal(properties.messageId, body.id);
      assert.equal(properties.correlationId, body.id);
      assert.equal(properties.replyTo, idle.replyQueue);
      assert.equal(properties.deliveryMode, 2, 'persistent');
      const publishedAt = Number(properties.headers?.['x-imesh-published-at']);
      assert.ok(publishedAt >= before && publishedAt <= Date.now(), String(publishedAt));
      assert.equal(properties.timestamp, Math.floor(publishedAt / 1000));

      // At least once: the same result twice (a redelivery), and one of nobody's; the first settles, the rest are dropped.
      const result = { label: 'positive', score: 0.9, scores: [], model: 'sentiment', modelVersion: '2', truncated: false, degraded: false };
      for (const correlationId of [body.id, body.id, 'nobody']) {
        channel.sendToQueue(idle.replyQueue, Buffer.from(JSON.stringify({ id: body.id, results: [result] })), { correlationId });
      }
      await (channel as Channel & { waitForConfirms(): Promise<void> }).waitForConfirms();
      assert.deepEqual(await waiting, [result]);
      await until(() => idle.droppedResults === 2, 10_000, 'the duplicate and the stray result dropped');
    } finally {
      await idle.close();
    }
  });

  it('a request the worker dead-letters is rejected with its code and reason, not left to time out; imesh submit prints them', async () => {
    // A timeout of a minute: a rejection for `refused` can only come from the worker's answer.
    await assert.rejects(client!.submit(['fine'], { model: 'no-such-model', timeoutMs: 60_000 }), (error: unknown) => {
      assert.ok(isQueueSubmitError(error), String(error));
      assert.deepEqual([error.reason, error.code], ['refused', 'NOT_FOUND']);
      assert.match(error.message, /refused by the queue-worker: NOT_FOUND: model "no-such-model" not found/);
      return true;
    });
    const file = join(dir, 'unknown-model.txt');
    writeFileSync(file, 'a fine film\nanother one\n');
    const submitted = await runImesh(['submit', '--file', file, '--amqp-url', brokerFixture.broker.url, '--queue', QUEUE, '--model', 'no-such-model', '--timeout-ms', '60000']);
    assert.equal(submitted.code, 1, submitted.stderr);
    const lines = submitted.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { line: number; error: { code: string; message: string } });
    assert.deepEqual(lines.map((line) => [line.line, line.error.code]), [[1, 'NOT_FOUND'], [2, 'NOT_FOUND']]);
    assert.match(lines[0]!.error.message, /no-such-model/);
    // Both requests (the submit's, and the file's two lines in one message) dead-lettered too: the worker's record.
    await until(async () => (await channel.checkQueue(`${QUEUE}.dead`)).messageCount === 2, 10_000, 'the two dead letters');
    await channel.purgeQueue(`${QUEUE}.dead`);
  });

  it('rejects when no result comes in time (no worker on the queue) and when aborted', async () => {
    const idle = await QueueClient.connect({ url: brokerFixture.broker.url, queue: IDLE_QUEUE });
    try {
      await assert.rejects(idle.submit(['never answered'], { timeoutMs: 300 }), submitError('timeout', /no result for request .* within 300 ms/));
      const controller = new AbortController();
      const waiting = idle.submit(['never answered'], { signal: controller.signal });
      setTimeout(() => controller.abort(new Error('the caller gave up')), 50);
      await assert.rejects(waiting, submitError('aborted', /the caller gave up/));
      assert.equal(idle.inFlight, 0);
    } finally {
      await idle.close();
    }
    await channel.purgeQueue(IDLE_QUEUE);
  });

  it('imesh submit --file prints what imesh classify --file prints, in input order; an empty line gets an error line (exit 1)', async () => {
    const lines = [...texts.slice(0, 40), '', ...texts.slice(40, 60)];
    const file = join(dir, 'in.txt');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const startedAt = Date.now();
    const submitted = await runImesh(['submit', '--file', file, '--amqp-url', brokerFixture.broker.url, '--queue', QUEUE, '--texts-per-message', '8', '--max-in-flight', '3']);
    const submitMs = Date.now() - startedAt;
    const classified = await runImesh(['classify', '--file', file, '--target', meshFixture.mesh.gateway]);
    assert.equal(submitted.code, 1, submitted.stderr);
    assert.equal(classified.code, 1, classified.stderr);
    const submitLines = submitted.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const classifyLines = classified.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(submitLines.length, 61);
    submitLines.forEach((line, i) => {
      const want = classifyLines[i]!;
      assert.deepEqual(Object.keys(line), Object.keys(want), `line ${i + 1}`);
      assert.equal(line['text'], lines[i], `line ${i + 1} in input order`);
      if (want['error']) {
        assert.equal(line['line'], want['line']);
        assert.equal((line['error'] as { code: string }).code, (want['error'] as { code: string }).code);
      } else {
        assert.deepEqual([line['label'], line['model'], line['model_version']], [want['label'], want['model'], want['model_version']], `line ${i + 1}`);
        assert.ok(Math.abs(Number(line['score']) - Number(want['score'])) <= 2e-4, `line ${i + 1}: ${String(line['score'])} vs ${String(want['score'])}`);
      }
    });
    assert.match(submitted.stderr, /submit: 61 of 61 texts done in [\d.]+ s, \d+ texts\/s/);
    assert.match(submitted.stderr, /1 of 61 lines of .*in\.txt got no result/);
    report.push(`imesh submit --file: 61 lines (8 a message) in ${submitMs} ms, the CLI's start included`);
  });

  it('imesh queue stats shows a dead-lettered message and the worker as the consumer; errors name the broker without its password', async () => {
    channel.sendToQueue(QUEUE, Buffer.from('{not json'), { persistent: true, replyTo: 'nowhere' });
    await (channel as Channel & { waitForConfirms(): Promise<void> }).waitForConfirms();
    await until(async () => (await channel.checkQueue(`${QUEUE}.dead`)).messageCount === 1, 20_000, 'the bad message dead-lettered');
    const json = await runImesh(['queue', 'stats', '--json', '--queue', QUEUE, '--amqp-url', brokerFixture.broker.url]);
    assert.equal(json.code, 0, json.stderr);
    const { queues } = JSON.parse(json.stdout) as { queues: { name: string; role: string; exists: boolean; messages?: number; consumers?: number }[] };
    assert.deepEqual(queues.slice(0, 2), [
      { role: 'requests', name: QUEUE, exists: true, messages: 0, consumers: 1 },
      { role: 'dead-letter', name: `${QUEUE}.dead`, exists: true, messages: 1, consumers: 0 },
    ]);
    assert.deepEqual(queues.slice(2).map((q) => [q.name, q.role, q.exists, q.messages]), [1000, 2000, 4000, 8000].map((ms) => [`${QUEUE}.retry.${ms}ms`, 'retry', true, 0]));
    const table = await runImesh(['queue', 'stats', '--queue', QUEUE, '--amqp-url', brokerFixture.broker.url]);
    assert.match(table.stdout, new RegExp(`^${QUEUE.replace(/\./g, '\\.')}\\.dead +dead-letter +1 +0$`, 'm'));
    // Port 1: nothing listens there. One line, the URL without its password.
    for (const command of [['submit', '--file', '-'], ['queue', 'stats']]) {
      const unreachable = await runImesh([...command, '--amqp-url', 'amqp://guest:hunter2@127.0.0.1:1']);
      assert.equal(unreachable.code, 1, command.join(' '));
      assert.match(unreachable.stderr, /^imesh: cannot reach the broker at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1: \S.*\n$/);
      assert.ok(!unreachable.stderr.includes('hunter2'));
    }
  });
});

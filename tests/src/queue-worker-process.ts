// What the queue-worker feature tests share: the worker process (the launcher's, under the tests' names), publishing
// one-text requests, collecting and checking their results.
import type { Channel, ConsumeMessage } from 'amqplib';
import { strict as assert } from 'node:assert';

export { startQueueWorker as startWorker, stopQueueWorker as stopWorker, type QueueWorkerProcess as WorkerProcess } from '@inference-mesh/launcher';

export interface Received {
  readonly id: string;
  readonly messageId: string | undefined;
  readonly correlationId: string | undefined;
  readonly results: { label: string; score: number; modelVersion: string }[];
}

/** Consumes `queue` into `into` without acks (the test is its only reader). */
export async function collectResults(channel: Channel, queue: string, into: Received[]): Promise<{ consumerTag: string }> {
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

export async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Publishes `count` persistent one-text messages (`<prefix>-<n>`, text n of `texts`, cycling) and waits for the broker's confirms. */
export async function publishTextMessages(channel: Channel, texts: readonly string[], queue: string, replyTo: string, prefix: string, count: number): Promise<void> {
  const confirm = channel as Channel & { waitForConfirms(): Promise<void> };
  await channel.assertQueue(queue, { durable: true });
  for (let n = 0; n < count; n++) {
    const id = `${prefix}-${n}`;
    channel.sendToQueue(queue, Buffer.from(JSON.stringify({ id, texts: [texts[n % texts.length]] })), { persistent: true, replyTo, correlationId: `c-${id}`, messageId: id });
  }
  await confirm.waitForConfirms();
}

/** A result of publishTextMessages's message: its ids, and the answer in-process classification (version 2) gives. */
export function checkAgainstInProcess(received: Received, prefix: string, texts: readonly string[], expected: readonly { label: number; score: number }[]): void {
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

/**
 * A duplicate result answers as the first did: same labels and versions, scores equal up to float32 noise (the
 * model service may batch the redelivered text with others, padded differently, which moves the last bits).
 */
export function assertSameAnswer(duplicate: Received, first: Received): void {
  assert.equal(duplicate.results.length, first.results.length, duplicate.id);
  duplicate.results.forEach((result, i) => {
    const earlier = first.results[i]!;
    assert.deepEqual([result.label, result.modelVersion], [earlier.label, earlier.modelVersion], `${duplicate.id}: a duplicate with the same answer`);
    assert.ok(Math.abs(result.score - earlier.score) < 1e-5, `${duplicate.id}: duplicate score ${result.score}, first ${earlier.score}`);
  });
}

// The queue-worker as a real process, for the feature tests (queue-worker.test.ts, queue-worker-crash.test.ts).
import { REPO_ROOT } from '@inference-mesh/launcher';
import type { Channel, ConsumeMessage } from 'amqplib';
import { spawn, type ChildProcess } from 'node:child_process';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';

const WORKER_MAIN = join(REPO_ROOT, 'services', 'queue-worker', 'dist', 'main.js');

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly logs: string[];
  /** Its grpc.health.v1 port and its /metrics port, bound on free ports. */
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The worker as it runs in production: its own process, configured by the environment (health and metrics on free
 * ports unless `env` says otherwise); resolves once it consumes, or with `until: 'listening'` once its health and
 * metrics ports are bound (a worker that cannot reach its broker never consumes).
 */
export async function startWorker(env: Readonly<Record<string, string>>, { until = 'consuming' }: { until?: 'consuming' | 'listening' } = {}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [WORKER_MAIN], {
    env: { ...process.env, IMESH_QUEUE_WORKER_PORT: '0', IMESH_QUEUE_WORKER_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const consuming = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      logs.push(...chunk.toString().split('\n').filter(Boolean));
      const ready = until === 'consuming' ? logs.some((line) => line.includes('"msg":"consuming"')) : loggedPort(logs, 'listening') !== undefined && loggedPort(logs, 'metrics listening') !== undefined;
      if (ready) resolve();
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
  return { child, logs, exited, healthPort: loggedPort(logs, 'listening')!, metricsPort: loggedPort(logs, 'metrics listening')! };
}

function loggedPort(logs: readonly string[], message: string): number | undefined {
  for (const line of logs) {
    const port = line.includes(`"msg":"${message}"`) ? /"port":(\d+)/.exec(line)?.[1] : undefined;
    if (port !== undefined) return Number(port);
  }
  return undefined;
}

export async function stopWorker(worker: WorkerProcess | undefined): Promise<void> {
  if (!worker || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), 10_000);
  await worker.exited;
  clearTimeout(timer);
}

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

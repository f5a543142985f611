import { PipelineClient } from '@inference-mesh/client';
import { createLogger, isConfigError, parseConfig, type Logger } from '@inference-mesh/service-kit';
import { connect, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { readQueueWorkerConfig, redactUrl, type QueueWorkerConfig } from './config';
import { handleDelivery, type DeliveryPorts, type PublishOptions } from './handlers';
import { retryQueues } from './retry-policy';

/** running: consuming; draining: consumer cancelled, messages in flight finishing; stopped: channel and connection closed. */
export type WorkerState = 'starting' | 'running' | 'draining' | 'stopped';

export interface QueueWorkerCounts {
  readonly results: number;
  readonly deadLettered: number;
  readonly retried: number;
  readonly inFlight: number;
}

/**
 * Consumes the request queue on one confirm channel (manual acks, `prefetch` unacked at a time), hands every
 * delivery to handleDelivery at once, and acks it only after its result (or dead letter) is confirmed by the broker.
 * No reconnection yet: when the connection drops, `closed` resolves with the error and the process should exit for
 * its supervisor to restart it; unacked messages go back to the queue.
 */
export class QueueWorker {
  private state: WorkerState = 'starting';
  private connection: ChannelModel | undefined;
  private channel: ConfirmChannel | undefined;
  private consumerTag: string | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private counts = { results: 0, deadLettered: 0, retried: 0 };
  private stopping: Promise<void> | undefined;
  private resolveClosed!: (error: Error | undefined) => void;
  /** Resolves when the connection has gone: undefined after stop(), the error when it dropped on its own. */
  readonly closed = new Promise<Error | undefined>((resolve) => (this.resolveClosed = resolve));

  constructor(
    private readonly config: QueueWorkerConfig,
    private readonly client: Pick<PipelineClient, 'classify'>,
    private readonly logger: Logger,
  ) {}

  get currentState(): WorkerState {
    return this.state;
  }

  get stats(): QueueWorkerCounts {
    return { ...this.counts, inFlight: this.inFlight.size };
  }

  async start(): Promise<void> {
    const { config } = this;
    const connection = await connect(config.amqpUrl);
    this.connection = connection;
    connection.on('error', (error: Error) => this.logger.warn('broker connection error', { error: error.message }));
    connection.on('close', (error?: Error) => {
      if (this.state !== 'stopped') this.logger.error('broker connection closed', { error: error?.message ?? 'closed' });
      this.state = 'stopped';
      this.resolveClosed(this.stopping ? undefined : (error ?? new Error('the broker closed the connection')));
    });
    const channel = await connection.createConfirmChannel();
    this.channel = channel;
    channel.on('error', (error: Error) => this.logger.warn('channel error', { error: error.message }));
    await channel.assertQueue(config.queueName, { durable: true });
    await channel.assertQueue(config.deadLetterQueueName, { durable: true });
    // Delay queues: nobody consumes them; a message expires after the queue's TTL back into the request queue.
    for (const { name, delayMs } of retryQueues(config.queueName, config.retry)) {
      await channel.assertQueue(name, { durable: true, arguments: { 'x-message-ttl': delayMs, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': config.queueName } });
    }
    await channel.prefetch(config.prefetch);
    const { consumerTag } = await channel.consume(config.queueName, (message) => this.onMessage(message), { noAck: false });
    this.consumerTag = consumerTag;
    this.state = 'running';
    this.logger.info('consuming', { broker: redactUrl(config.amqpUrl), queue: config.queueName, deadLetterQueue: config.deadLetterQueueName, prefetch: config.prefetch, gateway: config.gatewayTarget });
  }

  /**
   * Stops taking messages (basic.cancel), lets those in flight finish and be acked within the grace, then closes
   * the channel and the connection. Messages still unfinished after the grace stay unacked and are redelivered by
   * the broker once the connection is gone. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= this.drainAndClose();
    return this.stopping;
  }

  private async drainAndClose(): Promise<void> {
    const { channel, connection } = this;
    if (!channel || !connection || this.state === 'stopped') {
      this.stopping = undefined;
      return;
    }
    this.state = 'draining';
    if (this.consumerTag !== undefined) await channel.cancel(this.consumerTag).catch(() => undefined);
    let graceTimer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<boolean>((resolve) => (graceTimer = setTimeout(() => resolve(false), this.config.shutdownGraceMs)));
    const drained = (async () => {
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
      return true;
    })();
    try {
      const inTime = await Promise.race([drained, graceOver]);
      if (!inTime) this.logger.warn('shutdown grace over: closing with messages in flight, the broker redelivers them', { inFlight: this.inFlight.size });
    } finally {
      clearTimeout(graceTimer);
    }
    this.state = 'stopped';
    await channel.close().catch(() => undefined);
    await connection.close().catch(() => undefined);
    this.logger.info('stopped', { ...this.counts });
  }

  private onMessage(message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer (the queue was deleted): nothing more will come.
      this.logger.error('the broker cancelled the consumer', { queue: this.config.queueName });
      return;
    }
    const handled = this.handle(message).finally(() => this.inFlight.delete(handled));
    this.inFlight.add(handled);
  }

  private async handle(message: ConsumeMessage): Promise<void> {
    const channel = this.channel!;
    const ports: DeliveryPorts = {
      classify: (texts, options) => this.client.classify(texts, options),
      publish: (queue, body, options) => publishConfirmed(channel, queue, body, options),
      deadLetterQueue: this.config.deadLetterQueueName,
      queue: this.config.queueName,
      retry: this.config.retry,
    };
    const { properties } = message;
    try {
      const disposition = await handleDelivery(
        {
          body: message.content,
          ...(properties.replyTo ? { replyTo: String(properties.replyTo) } : {}),
          ...(properties.correlationId ? { correlationId: String(properties.correlationId) } : {}),
          ...(properties.headers ? { headers: properties.headers } : {}),
        },
        ports,
        { deadlineMs: this.config.classifyDeadlineMs },
      );
      channel.ack(message);
      if (disposition.outcome === 'result') this.counts.results++;
      else if (disposition.outcome === 'retried') {
        this.counts.retried++;
        this.logger.warn('retrying after a transient failure', { reason: disposition.reason, attempt: disposition.attempt, delayMs: disposition.delayMs, messageId: properties.messageId });
      } else {
        this.counts.deadLettered++;
        this.logger.warn('dead-lettered', { reason: disposition.reason, messageId: properties.messageId });
      }
    } catch (error) {
      // Publishing was not confirmed (nacked, or the channel went): leave the delivery to the broker rather than ack
      // a message whose result may not exist. On a closed channel it is redelivered anyway.
      this.logger.error('result not confirmed: requeueing', { error: error instanceof Error ? error.message : String(error) });
      try {
        channel.nack(message, false, true);
      } catch {
        // the channel is gone; the broker requeues every unacked delivery itself
      }
    }
  }
}

function publishConfirmed(channel: ConfirmChannel, queue: string, body: Buffer, options: PublishOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    channel.sendToQueue(
      queue,
      body,
      {
        persistent: true,
        contentType: 'application/json',
        ...(options.replyTo === undefined ? {} : { replyTo: options.replyTo }),
        ...(options.messageId === undefined ? {} : { messageId: options.messageId }),
        ...(options.correlationId === undefined ? {} : { correlationId: options.correlationId }),
        ...(options.headers === undefined ? {} : { headers: options.headers }),
      },
      (error: unknown) => (error ? reject(error instanceof Error ? error : new Error(`the broker did not confirm the publish to ${queue}`)) : resolve()),
    );
  });
}

/**
 * The process frame: config from the environment (a bad value exits 2 naming the variable), the gateway client,
 * the worker; SIGTERM or SIGINT drains it and the process exits 0; a lost broker connection exits 1, for the
 * supervisor to restart the worker (reconnection in place is not built yet).
 */
export async function runQueueWorker(env: Readonly<Record<string, string | undefined>>): Promise<void> {
  let config: QueueWorkerConfig;
  try {
    config = parseConfig(env, readQueueWorkerConfig);
  } catch (error) {
    if (!isConfigError(error)) throw error;
    process.stderr.write(`queue-worker: ${error.message}\n`);
    process.exit(2);
  }
  const logger = createLogger('queue-worker', config.logLevel);
  const client = new PipelineClient({ target: config.gatewayTarget, defaultDeadlineMs: config.classifyDeadlineMs });
  const worker = new QueueWorker(config, client, logger);
  let stopRequested = false;
  const shutdown = (signal: string) => {
    logger.info('stopping', { signal });
    stopRequested = true;
    void worker.stop();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  await worker.start();
  // A signal during start() found nothing to stop yet.
  if (stopRequested) void worker.stop();
  const lost = await worker.closed;
  client.close();
  if (lost) {
    logger.error('the broker connection was lost; exiting for the supervisor to restart the worker', { error: lost.message });
    process.exit(1);
  }
}

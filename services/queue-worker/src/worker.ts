import type { PipelineClient } from '@inference-mesh/client';
import { PUBLISHED_AT_HEADER, REQUEST_QUEUE_OPTIONS, redactUrl } from '@inference-mesh/client/queue';
import type { Logger } from '@inference-mesh/service-kit';
import { context } from '@opentelemetry/api';
import { connect, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import type { QueueWorkerConfig } from './config';
import { handleDelivery, type DeliveryPorts, type Disposition, type PublishOptions } from './handlers';
import { retryQueues } from './retry-policy';
import { endDeliverySpan, startDeliverySpan } from './delivery-span';
import { QueueWorkerMetrics, type AckOutcome } from './worker-metrics';

/**
 * starting: the first connection not made yet (tried again with backoff until it is: a worker may start before its
 * broker); running: consuming; reconnecting: the connection dropped, trying again with backoff; draining: consumer
 * cancelled, messages in flight finishing; stopped: channel and connection closed.
 */
export type WorkerState = 'starting' | 'running' | 'reconnecting' | 'draining' | 'stopped';

export interface QueueWorkerCounts {
  readonly results: number;
  readonly deadLettered: number;
  readonly retried: number;
  readonly reconnects: number;
  readonly inFlight: number;
}

/**
 * Consumes the request queue on one confirm channel (manual acks, `prefetch` unacked at a time), hands every
 * delivery to handleDelivery at once, and acks it only after its result (or dead letter) is confirmed by the broker.
 * When the connection drops, the broker takes back every unacked delivery; the worker reconnects with backoff and
 * consumes again. Deliveries of the lost channel still being handled are neither acked nor nacked (the channel is
 * gone): they come again, so a result may be published twice, with the same id and answer (at least once).
 */
export class QueueWorker {
  private state: WorkerState = 'starting';
  private connection: ChannelModel | undefined;
  private channel: ConfirmChannel | undefined;
  private consumerTag: string | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private counts = { results: 0, deadLettered: 0, retried: 0, reconnects: 0 };
  private stopping: Promise<void> | undefined;
  private readonly stopSignal = new AbortController();
  private connecting: Promise<void> | undefined;
  private readonly metrics: QueueWorkerMetrics;
  private resolveClosed!: () => void;
  /** Resolves once stop() has closed everything. */
  readonly closed = new Promise<void>((resolve) => (this.resolveClosed = resolve));

  /** `onStateChange` hears every change of state (the service's health follows it). */
  constructor(
    private readonly config: QueueWorkerConfig,
    private readonly client: Pick<PipelineClient, 'classify'>,
    private readonly logger: Logger,
    private readonly onStateChange: (state: WorkerState) => void = () => {},
  ) {
    this.metrics = new QueueWorkerMetrics({ inFlight: () => this.inFlight.size, connected: () => this.state === 'running' });
  }

  get currentState(): WorkerState {
    return this.state;
  }

  get stats(): QueueWorkerCounts {
    return { ...this.counts, inFlight: this.inFlight.size };
  }

  /**
   * Connects and consumes, in the background: a first connection that fails is tried again with the reconnect
   * backoff, each failure logged (an orchestrator often starts the worker before its broker; a wrong URL or password
   * shows in the log and in the health, never as a crash loop). Resolves once consuming, or stopped.
   */
  start(): Promise<void> {
    this.connecting ??= this.connectUntilConsuming('start').finally(() => (this.connecting = undefined));
    return this.connecting;
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

  private async connectAndConsume(): Promise<void> {
    const { config } = this;
    const connection = await connect(config.amqpUrl, { timeout: CONNECT_TIMEOUT_MS });
    connection.on('error', (error: Error) => this.logger.warn('broker connection error', { error: error.message }));
    connection.on('close', (error?: Error) => this.onConnectionClosed(connection, error));
    // A memory or disk alarm: the broker stops reading from publishing connections, so results and acks wait.
    connection.on('blocked', (reason: string) => this.logger.warn('the broker blocked the connection: results wait until it unblocks', { reason }));
    connection.on('unblocked', () => this.logger.info('the broker unblocked the connection'));
    try {
      const channel = await connection.createConfirmChannel();
      channel.on('error', (error: Error) => this.logger.warn('channel error', { error: error.message }));
      channel.on('close', () => this.onChannelLost(connection, channel, 'the broker closed the channel'));
      await channel.assertQueue(config.queueName, REQUEST_QUEUE_OPTIONS);
      await channel.assertQueue(config.deadLetterQueueName, { durable: true });
      // Delay queues: nobody consumes them; a message expires after the queue's TTL back into the request queue.
      for (const { name, delayMs } of retryQueues(config.queueName, config.retry)) {
        await channel.assertQueue(name, { durable: true, arguments: { 'x-message-ttl': delayMs, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': config.queueName } });
      }
      await channel.prefetch(config.prefetch);
      this.connection = connection;
      this.channel = channel;
      const ports = this.deliveryPorts(channel);
      const { consumerTag } = await channel.consume(config.queueName, (message) => this.onMessage(channel, ports, message), { noAck: false });
      // Lost while consume-ok was on its way: this attempt failed (onConnectionClosed left it to this loop).
      if (this.connection !== connection || this.channel !== channel) throw new Error('the connection closed as consuming started');
      this.consumerTag = consumerTag;
      this.setState('running');
    } catch (error) {
      this.connection = undefined;
      this.channel = undefined;
      await connection.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * The channel went while its connection stayed (a channel error such as an unknown delivery tag, the broker's
   * consumer_timeout) or the broker cancelled the consumer (its queue deleted): nothing more would come on this
   * connection. Closing it runs the reconnect, which declares the queues and consumes again.
   */
  private onChannelLost(connection: ChannelModel, channel: ConfirmChannel, why: string): void {
    // A channel also closes with its connection, just before the connection says so: then that reconnect is enough.
    setImmediate(() => {
      if (channel !== this.channel || this.stopping) return;
      this.logger.error(`${why}: reconnecting`, { queue: this.config.queueName, inFlight: this.inFlight.size });
      void connection.close().catch(() => undefined);
    });
  }

  private onConnectionClosed(connection: ChannelModel, error: Error | undefined): void {
    if (connection !== this.connection) return;
    this.connection = undefined;
    this.channel = undefined;
    this.consumerTag = undefined;
    if (this.stopping) return;
    this.logger.error('broker connection lost: reconnecting', { error: error?.message ?? 'closed', inFlight: this.inFlight.size });
    this.setState('reconnecting');
    this.connecting ??= this.connectUntilConsuming('reconnect').finally(() => (this.connecting = undefined));
  }

  /** At start the first attempt is made at once; every later one after the reconnect backoff's wait. Until stopped. */
  private async connectUntilConsuming(why: 'start' | 'reconnect'): Promise<void> {
    const { initialDelayMs, maxDelayMs } = this.config.reconnect;
    for (let attempt = 1; !this.stopSignal.signal.aborted; attempt++) {
      const waits = why === 'reconnect' ? attempt : attempt - 1;
      if (waits > 0) await sleep(Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(waits - 1, 30)), this.stopSignal.signal);
      if (this.stopSignal.signal.aborted) return;
      try {
        await this.connectAndConsume();
      } catch (error) {
        this.logger.warn(why === 'start' ? 'cannot reach the broker: trying again' : 'reconnect failed', {
          attempt,
          broker: redactUrl(this.config.amqpUrl),
          error: error instanceof Error ? error.message : String(error),
        });
        continue;
      }
      if (this.stopSignal.signal.aborted) {
        // stop() came while connecting: it found no channel to drain, so this one is closed here.
        const connection = this.connection;
        this.connection = undefined;
        this.channel = undefined;
        await connection?.close().catch(() => undefined);
        return;
      }
      if (why === 'start') {
        this.logger.info('consuming', {
          broker: redactUrl(this.config.amqpUrl),
          queue: this.config.queueName,
          deadLetterQueue: this.config.deadLetterQueueName,
          prefetch: this.config.prefetch,
          gateway: this.config.gatewayTarget,
          ...(attempt > 1 && { attempt }),
        });
      } else {
        this.counts.reconnects++;
        this.metrics.recordReconnect();
        this.logger.info('reconnected: consuming again', { attempt, queue: this.config.queueName });
      }
      return;
    }
  }

  private setState(state: WorkerState): void {
    if (state === this.state) return;
    this.state = state;
    this.onStateChange(state);
  }

  private async drainAndClose(): Promise<void> {
    this.stopSignal.abort();
    // A connect hanging on an unreachable address is left behind (it closes what it gets once it returns).
    const connectWait = new AbortController();
    await Promise.race([this.connecting, sleep(this.config.server.drainTimeoutMs, connectWait.signal)]);
    connectWait.abort();
    const { channel, connection } = this;
    this.setState('draining');
    if (channel && this.consumerTag !== undefined) await channel.cancel(this.consumerTag).catch(() => undefined);
    let graceTimer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<boolean>((resolve) => (graceTimer = setTimeout(() => resolve(false), this.config.server.drainTimeoutMs)));
    const drained = (async () => {
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
      return true;
    })();
    try {
      const inTime = await Promise.race([drained, graceOver]);
      if (!inTime) this.logger.warn('drain timeout: closing with messages in flight, the broker redelivers them', { inFlight: this.inFlight.size });
    } finally {
      clearTimeout(graceTimer);
    }
    this.setState('stopped');
    this.connection = undefined;
    this.channel = undefined;
    await channel?.close().catch(() => undefined);
    await connection?.close().catch(() => undefined);
    this.logger.info('stopped', { ...this.counts });
    this.resolveClosed();
  }

  private onMessage(channel: ConfirmChannel, ports: DeliveryPorts, message: ConsumeMessage | null): void {
    if (message === null) {
      if (this.connection) this.onChannelLost(this.connection, channel, 'the broker cancelled the consumer (was the queue deleted?)');
      return;
    }
    this.metrics.recordConsumed(message.fields.redelivered);
    const handled = this.handle(channel, ports, message).finally(() => this.inFlight.delete(handled));
    this.inFlight.add(handled);
  }

  /** What handleDelivery needs of a channel: made once per channel, not per message. */
  private deliveryPorts(channel: ConfirmChannel): DeliveryPorts {
    return {
      classify: (texts, options) => this.client.classify(texts, options),
      publish: (queue, body, options) => publishConfirmed(channel, queue, body, options),
      deadLetterQueue: this.config.deadLetterQueueName,
      queue: this.config.queueName,
      retry: this.config.retry,
    };
  }

  private async handle(channel: ConfirmChannel, ports: DeliveryPorts, message: ConsumeMessage): Promise<void> {
    const { properties } = message;
    const delivery = startDeliverySpan(this.config.queueName, properties, message.fields.redelivered);
    let disposition: Disposition;
    try {
      disposition = await context.with(delivery.context, () =>
        handleDelivery(
          {
            body: message.content,
            ...(properties.replyTo ? { replyTo: String(properties.replyTo) } : {}),
            ...(properties.correlationId ? { correlationId: String(properties.correlationId) } : {}),
            ...(properties.headers ? { headers: properties.headers } : {}),
          },
          ports,
          { deadlineMs: this.config.classifyDeadlineMs },
        ),
      );
    } catch (error) {
      // Publishing was not confirmed (nacked, or the channel went): leave the delivery to the broker rather than ack
      // a message whose result may not exist. On a closed channel it is redelivered anyway.
      this.logger.error('result not confirmed: requeueing', { error: error instanceof Error ? error.message : String(error) });
      this.metrics.recordRequeued();
      endDeliverySpan(delivery.span, error instanceof Error ? error : new Error(String(error)));
      // A failure that repeats (a publish the broker refuses every time) must not spin through the queue: the
      // delivery is held a while before it goes back (at once when stopping).
      await sleep(REQUEUE_DELAY_MS, this.stopSignal.signal);
      try {
        channel.nack(message, false, true);
      } catch {
        // the channel is gone; the broker requeues every unacked delivery itself
      }
      return;
    }
    try {
      channel.ack(message);
    } catch (error) {
      // Published and confirmed, but the channel went before the ack: the broker hands the message out again, and its
      // result comes twice (same id, same answer: at least once).
      this.logger.warn('ack not sent: the channel is gone, the broker redelivers the message', { messageId: properties.messageId, error: error instanceof Error ? error.message : String(error) });
    }
    endDeliverySpan(delivery.span, disposition);
    this.metrics.recordAcked(ACK_OUTCOMES[disposition.outcome], disposition.grpcStatus, disposition.outcome === 'result' ? secondsSincePublished(message) : undefined);
    if (disposition.outcome === 'result') this.counts.results++;
    else if (disposition.outcome === 'retried') {
      this.counts.retried++;
      this.logger.warn('retrying after a transient failure', { reason: disposition.reason, attempt: disposition.attempt, delayMs: disposition.delayMs, messageId: properties.messageId });
    } else {
      this.counts.deadLettered++;
      this.logger.warn('dead-lettered', { reason: disposition.reason, messageId: properties.messageId });
    }
  }
}

/** A connect that gets no answer (an address that drops packets) fails after this and is tried again. */
const CONNECT_TIMEOUT_MS = 10_000;
/** How long a delivery whose result was not confirmed is held before it goes back to the queue. */
const REQUEUE_DELAY_MS = 1_000;

const ACK_OUTCOMES: Readonly<Record<Disposition['outcome'], AckOutcome>> = { result: 'result', retried: 'retried', 'dead-lettered': 'dead_lettered' };

/**
 * From the producer's PUBLISHED_AT_HEADER (epoch ms), else from the AMQP `timestamp` (whole seconds, which any
 * client can set); undefined when the message carries neither.
 */
function secondsSincePublished(message: ConsumeMessage): number | undefined {
  const header: unknown = message.properties.headers?.[PUBLISHED_AT_HEADER];
  const publishedAtMs = typeof header === 'number' ? header : typeof message.properties.timestamp === 'number' ? message.properties.timestamp * 1000 : undefined;
  return publishedAtMs === undefined ? undefined : Math.max(0, Date.now() - publishedAtMs) / 1000;
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

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

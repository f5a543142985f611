import type { ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { randomUUID } from 'node:crypto';
import type { ClassifyResult, ModelSelection } from '../types';
import { boundedSubmissions, type BulkOutcome } from './bounded';
import { connectBroker, errorText } from './broker';
import { encodeRequestMessage, parseResultMessage, PUBLISHED_AT_HEADER } from './messages';
import { PendingReplies, QueueSubmitError } from './pending-replies';
import { DEFAULT_QUEUE_NAME, REQUEST_QUEUE_OPTIONS } from './queues';

export interface QueueClientOptions {
  /** `amqp://user:password@host:port/vhost`. */
  readonly url: string;
  /** The request queue the worker consumes (default `imesh.classify`, the worker's IMESH_QUEUE_NAME default). */
  readonly queue?: string;
}

/** `model`, `version`, `topK` as for PipelineClient.classify. */
export interface SubmitOptions extends ModelSelection {
  /** Rejects the wait with reason `aborted`; the message, once published, is still classified. */
  readonly signal?: AbortSignal;
  /**
   * How long to wait for the result from publishing, default 120000; undefined in the options keeps the default,
   * `Infinity` waits for ever. A request the worker dead-letters is answered with its reason (reason `refused`), so
   * this bounds the wait for a worker: none running, or a backlog ahead.
   */
  readonly timeoutMs?: number;
}

export interface SubmitManyOptions extends Omit<SubmitOptions, 'signal'> {
  /** Messages published and not yet answered, at most (default 2000): the bound on the queue depth this adds. */
  readonly maxInFlight?: number;
  readonly signal?: AbortSignal;
}

/** An outcome of submitMany: `index` is the message's position in the input, `request` its texts. */
export type SubmitManyOutcome = BulkOutcome<readonly string[], readonly ClassifyResult[]>;

export const DEFAULT_SUBMIT_TIMEOUT_MS = 120_000;
const noop = () => undefined;
export const DEFAULT_MAX_IN_FLIGHT = 2_000;

/**
 * Classification through the broker: requests are published, persistent, to the request queue, and the worker
 * (services/queue-worker) publishes each result to this client's reply queue, where it is matched to its request
 * by correlation id. One exclusive, auto-delete, server-named reply queue per client rather than RabbitMQ's direct
 * reply-to: the worker publishes results on a confirm channel and acks the request only after the confirm, which
 * direct reply-to does not support. Delivery is at least once; duplicate results are dropped. Results that come
 * while this client is not connected are lost with its reply queue: their requests time out.
 */
export class QueueClient {
  private readonly pending = new PendingReplies();
  private closing = false;
  /** Set once the connection is gone, for requests submitted after. */
  private lost: QueueSubmitError | undefined;
  private drain: Promise<void> | undefined;

  private constructor(
    private readonly connection: ChannelModel,
    private readonly channel: ConfirmChannel,
    /** The request queue. */
    readonly queue: string,
    /** This client's reply queue. */
    readonly replyQueue: string,
  ) {
    const onClose = (what: string) => (error?: Error) => {
      this.lost ??= new QueueSubmitError('closed', this.closing ? 'the queue client was closed' : `the ${what} to the broker was lost${error ? `: ${errorText(error)}` : ''}`);
      this.pending.failAll(this.lost);
    };
    connection.on('close', onClose('connection'));
    // The broker may close the channel alone (an error of its own); its consumer and its confirms go with it.
    channel.on('close', onClose('channel'));
  }

  /**
   * Connects, declares the request queue as the worker does (durable, no arguments: a producer may start before
   * any worker), and consumes a reply queue of its own. Rejects with a one-line error naming the broker (without
   * its password) or the queue.
   */
  static async connect(options: QueueClientOptions): Promise<QueueClient> {
    const queue = options.queue ?? DEFAULT_QUEUE_NAME;
    const connection = await connectBroker(options.url);
    try {
      const channel = await connection.createConfirmChannel();
      channel.on('error', () => undefined);
      try {
        await channel.assertQueue(queue, REQUEST_QUEUE_OPTIONS);
      } catch (error) {
        throw new Error(`cannot declare the request queue ${JSON.stringify(queue)}: ${errorText(error)}`, { cause: error });
      }
      const { queue: replyQueue } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
      const client = new QueueClient(connection, channel, queue, replyQueue);
      // No acks: the queue is this client's alone and goes with it, so a result it has received is not needed again.
      await channel.consume(replyQueue, (message) => client.onResult(message), { noAck: true });
      return client;
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
  }

  /** Results dropped: duplicates (at-least-once delivery) and results that came after their request gave up. */
  get droppedResults(): number {
    return this.pending.droppedResults;
  }

  /** Requests published (or being published) and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Publishes one request (persistent, a fresh id as its `id`, `message_id` and `correlation_id`) and resolves with
   * one result per text, in order. Rejects with a QueueSubmitError: `refused` (the worker dead-lettered it: an
   * empty text, an unknown model, retries run out; `code` is the gRPC status name), `nacked` (the broker refused
   * the message), `timeout`, `aborted`, `closed`.
   */
  async submit(texts: readonly string[], options: SubmitOptions = {}): Promise<readonly ClassifyResult[]> {
    if (this.lost) throw this.lost;
    const id = randomUUID();
    const timeoutMs = options.timeoutMs ?? DEFAULT_SUBMIT_TIMEOUT_MS;
    // Registered before publishing: the result may come before the publish's confirm.
    const result = this.pending.wait(id, { ...(Number.isFinite(timeoutMs) ? { timeoutMs } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    const body = encodeRequestMessage({
      id,
      texts,
      ...(options.model === undefined ? {} : { model: options.model }),
      ...(options.version === undefined ? {} : { version: options.version }),
      ...(options.topK === undefined ? {} : { topK: options.topK }),
    });
    const now = Date.now();
    try {
      const written = this.channel.sendToQueue(
        this.queue,
        body,
        {
          persistent: true,
          contentType: 'application/json',
          messageId: id,
          correlationId: id,
          replyTo: this.replyQueue,
          // AMQP's timestamp is whole seconds; the header carries the milliseconds.
          timestamp: Math.floor(now / 1000),
          headers: { [PUBLISHED_AT_HEADER]: now },
        },
        (error: unknown) => {
          if (error) this.pending.fail(id, new QueueSubmitError('nacked', `the broker refused request ${id} (nack) on ${this.queue}`, { cause: error }));
        },
      );
      // The channel's buffer is full: wait for it to drain, so that a bulk producer is slowed rather than buffered;
      // or for the request to settle (a lost connection never drains). The handler also keeps a rejection that
      // comes meanwhile from counting as unhandled.
      if (!written) await Promise.race([this.drained(), result.then(noop, noop)]);
    } catch (error) {
      // sendToQueue throws on a closed channel.
      this.pending.fail(id, this.lost ?? new QueueSubmitError('closed', `cannot publish request ${id}: ${errorText(error)}`, { cause: error }));
    }
    return result;
  }

  /**
   * Submits each element of `requests` (the texts of one message) with at most `maxInFlight` unanswered at once,
   * pulling the input only when there is room, and yields each outcome as it arrives (arrival order; `index` is
   * the position in the input). A request that failed (timeout, nack) is yielded with its `error`; the rest go on.
   */
  submitMany(requests: Iterable<readonly string[]> | AsyncIterable<readonly string[]>, options: SubmitManyOptions = {}): AsyncGenerator<SubmitManyOutcome> {
    const { maxInFlight = DEFAULT_MAX_IN_FLIGHT, ...submitOptions } = options;
    return boundedSubmissions(requests, (texts) => this.submit(texts, submitOptions), maxInFlight);
  }

  /** Closes the connection; requests still waiting reject with reason `closed`. */
  async close(): Promise<void> {
    this.closing = true;
    await this.connection.close().catch(() => undefined);
    // A connection already gone emits no second 'close'.
    this.pending.failAll(this.lost ?? new QueueSubmitError('closed', 'the queue client was closed'));
  }

  /** The channel's next 'drain', one listener however many submissions wait for it. */
  private drained(): Promise<void> {
    this.drain ??= new Promise<void>((resolve) =>
      this.channel.once('drain', () => {
        this.drain = undefined;
        resolve();
      }),
    );
    return this.drain;
  }

  private onResult(message: ConsumeMessage | null): void {
    // null: the broker cancelled the consumer (the reply queue was deleted); the requests will time out.
    if (!message) return;
    const correlationId = message.properties.correlationId as string | undefined;
    const parsed = parseResultMessage(message.content);
    // Not a result of this client's (no correlation id, not the result format): counted with the dropped ones.
    if (correlationId === undefined || typeof parsed === 'string') return void this.pending.settle('', []);
    if ('error' in parsed) {
      const { code, message: reason } = parsed.error;
      this.pending.settle(String(correlationId), new QueueSubmitError('refused', `request ${parsed.id} refused by the queue-worker: ${code}: ${reason}`, { code }));
    } else {
      this.pending.settle(String(correlationId), parsed.results);
    }
  }
}

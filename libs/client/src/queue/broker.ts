import { connect, type ChannelModel } from 'amqplib';
import { redactUrl } from './queues';

/**
 * Connects to the broker; a failure names the URL without its password (`cannot reach the broker at
 * amqp://guest:***@host:5672: connect ECONNREFUSED ...`), for a one-line error.
 */
export async function connectBroker(url: string): Promise<ChannelModel> {
  try {
    const connection = await connect(url);
    // Without a listener an 'error' event would throw; the 'close' that follows it is what callers act on.
    connection.on('error', () => undefined);
    return connection;
  } catch (error) {
    throw new Error(`cannot reach the broker at ${redactUrl(url)}: ${errorText(error)}`, { cause: error });
  }
}

export function errorText(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(errorText).join('; ');
  return error instanceof Error ? error.message || error.name : String(error);
}

/** What `imesh queue stats` shows of one queue; `exists: false` when the broker has no queue of that name. */
export type QueueDepth =
  | { readonly name: string; readonly exists: true; readonly messages: number; readonly consumers: number }
  | { readonly name: string; readonly exists: false };

/**
 * Messages ready and consumers of each queue (basic `queue.declare passive`: no management plugin needed; messages
 * delivered but unacked are not counted). Declares nothing: a missing queue closes the channel with NOT_FOUND, so
 * each check that fails gets a new channel.
 */
export async function queueDepths(url: string, names: readonly string[]): Promise<QueueDepth[]> {
  const connection = await connectBroker(url);
  try {
    const depths: QueueDepth[] = [];
    let channel = await connection.createChannel();
    for (const name of names) {
      channel.on('error', () => undefined);
      try {
        const { messageCount, consumerCount } = await channel.checkQueue(name);
        depths.push({ name, exists: true, messages: messageCount, consumers: consumerCount });
      } catch (error) {
        if ((error as { code?: unknown }).code !== 404) throw error;
        depths.push({ name, exists: false });
        channel = await connection.createChannel();
      }
    }
    await channel.close().catch(() => undefined);
    return depths;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

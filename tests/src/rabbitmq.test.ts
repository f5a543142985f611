// The test broker itself (rabbitmq.ts): its own node that accepts AMQP, keeps durable queues and persistent messages
// across a restart on the same ports (what the broker-restart test of issue 17 needs), and is gone after stop().
import { connect } from 'amqplib';
import { strict as assert } from 'node:assert';
import { useTestBroker } from './rabbitmq';

describe('the test broker (a real rabbitmq-server node of its own)', function () {
  this.timeout(120_000);
  const fixture = useTestBroker();

  it('keeps a persistent message on a durable queue across stop() and start(), and refuses connections while stopped', async () => {
    const { broker } = fixture;
    const firstStartMs = broker.lastStartMs;
    const queue = 'imesh.test.restart';
    const before = await connect(broker.url);
    const channel = await before.createConfirmChannel();
    await channel.assertQueue(queue, { durable: true });
    channel.sendToQueue(queue, Buffer.from('kept'), { persistent: true, messageId: 'm-1' });
    await channel.waitForConfirms();
    await before.close();

    await broker.stop();
    assert.equal(broker.running, false);
    await assert.rejects(connect(broker.url), 'a stopped broker accepts no connections');
    await broker.start();

    const after = await connect(broker.url);
    try {
      const reopened = await after.createChannel();
      const message = await reopened.get(queue, { noAck: true });
      assert.ok(message, 'the message survived the restart');
      assert.equal(message.content.toString(), 'kept');
      assert.equal(message.properties.messageId, 'm-1');
    } finally {
      await after.close();
    }
    process.stdout.write(`      broker ${broker.nodeName}: first start ${firstStartMs} ms, restart ${broker.lastStartMs} ms\n`);
  });
});

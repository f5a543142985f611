import { Metadata, status } from '@grpc/grpc-js';
import { SERVER_MS_TRAILER } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { formatTimingTrailer, hopOverheadMs, readServerMs, RequestTimer, type HopTiming } from './timing';

const statusWith = (code: status, serverMs?: string) => {
  const metadata = new Metadata();
  if (serverMs !== undefined) metadata.set(SERVER_MS_TRAILER, serverMs);
  return { code, details: '', metadata };
};

describe('timing', () => {
  it("reads a service's own time from an OK answer's trailer only", () => {
    const hop: HopTiming = { clientMs: 2, serverMs: Number.NaN };
    readServerMs(statusWith(status.UNAVAILABLE, '9.000'), hop);
    assert.ok(Number.isNaN(hop.serverMs), 'a failed attempt says nothing of the one that answers');
    readServerMs(statusWith(status.OK), hop);
    assert.ok(Number.isNaN(hop.serverMs), 'a service that reports nothing leaves it unknown');
    readServerMs(statusWith(status.OK, '1.250'), hop);
    assert.equal(hop.serverMs, 1.25);
    assert.equal(hopOverheadMs(hop), 0.75);
    assert.equal(hopOverheadMs({ clientMs: 2, serverMs: Number.NaN }), undefined);
  });

  it('formats every part in the Server-Timing syntax, unknown server times as 0', () => {
    const timer = new RequestTimer();
    timer.pipelineStarted();
    Object.assign(timer.hops.tokenizer, { clientMs: 1, serverMs: 0.5 });
    Object.assign(timer.hops.model, { clientMs: 3, serverMs: 2.5 });
    timer.hops.postprocess.clientMs = 0.75;
    timer.hops.modelQueueMs = 0.25;
    timer.hops.modelComputeMs = 2;
    const message = timer.toMessage();
    assert.ok(message.totalMs >= message.admissionMs && message.admissionMs >= 0);
    assert.deepEqual(message.postprocess, { clientMs: 0.75, serverMs: 0 });
    const trailer = formatTimingTrailer({ ...message, totalMs: 9, admissionMs: 0.1, coalesceMs: 0 });
    assert.equal(
      trailer,
      'total;dur=9.000,admission;dur=0.100,coalesce;dur=0.000,tokenizer;dur=1.000,tokenizer.server;dur=0.500,' +
        'model;dur=3.000,model.server;dur=2.500,model.queue;dur=0.250,model.compute;dur=2.000,' +
        'postprocess;dur=0.750,postprocess.server;dur=0.000',
    );
  });

  it('shares a merged call\'s hop times between its members until one runs on its own again', async () => {
    const leader = new RequestTimer();
    const member = new RequestTimer();
    member.pipelineStarted();
    await new Promise((resolve) => setTimeout(resolve, 5));
    leader.joined(leader);
    member.joined(leader);
    assert.ok(member.coalesceMs >= 4, `waited ${member.coalesceMs} ms to be merged`);
    assert.equal(member.hops, leader.hops);
    member.detach();
    assert.notEqual(member.hops, leader.hops);
  });
});

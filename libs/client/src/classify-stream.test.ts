import { status } from '@grpc/grpc-js';
import type { pipeline } from '@inference-mesh/protos';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { ClassifyStream, type ClassifyStreamCall } from './classify-stream';
import { isPipelineError } from './errors';

/** A stand-in for grpc-js's duplex call: records writes, and write() answers what `accepting` says. */
class FakeCall extends EventEmitter implements ClassifyStreamCall {
  readonly written: pipeline.ClassifyRequest[] = [];
  accepting = true;
  ended = false;
  cancelled = false;

  write(request: pipeline.ClassifyRequest): boolean {
    this.written.push(request);
    return this.accepting;
  }
  end(): void {
    this.ended = true;
  }
  cancel(): void {
    this.cancelled = true;
  }
  answer(index: number, label = 'positive', timing: pipeline.RequestTiming__Output | null = null): void {
    const request = this.written[index]!;
    const result = { label, score: 0.5, scores: [], modelName: 'm', modelVersion: '1', truncated: false, degraded: false };
    const response: pipeline.ClassifyResponse__Output = {
      requestId: request.requestId!,
      results: (request.texts ?? []).map(() => result),
      error: null,
      timing,
    };
    this.emit('data', response);
  }
  finish(code = status.OK, details = ''): void {
    if (code !== status.OK) this.emit('error', Object.assign(new Error(details), { code, details }));
    this.emit('status', { code, details, metadata: undefined });
    this.emit('end');
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('ClassifyStream (with a fake call)', () => {
  it('writes nothing more after write() returns false until the call drains', async () => {
    const call = new FakeCall();
    const stream = new ClassifyStream(call, { maxInFlight: 64 });
    call.accepting = false;
    const first = stream.send(['a']);
    const second = stream.send(['b']);
    const third = stream.send(['c']);
    assert.equal(call.written.length, 1);

    call.accepting = true;
    call.emit('drain');
    assert.equal(call.written.length, 3);
    assert.deepEqual(call.written.map((request) => request.texts?.[0]?.toString()), ['a', 'b', 'c']);
    [0, 1, 2].forEach((index) => call.answer(index));
    await Promise.all([first, second, third]);
  });

  it('queues beyond maxInFlight and writes the next request as each is answered', async () => {
    const call = new FakeCall();
    const stream = new ClassifyStream(call, { maxInFlight: 1 });
    const first = stream.send(['a']);
    const second = stream.send(['b', 'c']);
    assert.equal(call.written.length, 1);
    call.answer(0);
    assert.equal(call.written.length, 2);
    call.answer(1, 'negative');
    assert.deepEqual((await first).results.map((result) => result.label), ['positive']);
    assert.deepEqual((await second).results.map((result) => result.label), ['negative', 'negative']);
  });

  it('half-closes only after the queued requests are written, and resolves close() on OK', async () => {
    const call = new FakeCall();
    const stream = new ClassifyStream(call, { maxInFlight: 1 });
    const first = stream.send(['a']);
    const second = stream.send(['b']);
    const closed = stream.close();
    assert.equal(call.ended, false);
    call.answer(0);
    assert.equal(call.ended, true);
    call.answer(1);
    call.finish();
    await Promise.all([first, second, closed]);
  });

  it('gives ids unique on the stream, sharing one prefix', () => {
    const call = new FakeCall();
    const stream = new ClassifyStream(call, { maxInFlight: 8 });
    for (let index = 0; index < 3; index++) void stream.send(['x']).catch(() => {});
    const ids = call.written.map((request) => request.requestId!);
    assert.equal(new Set(ids).size, 3);
    assert.equal(new Set(ids.map((id) => id.replace(/-\d+$/, ''))).size, 1);
  });

  it('fails the stream on a response for an unknown id, cancelling the call', async () => {
    const call = new FakeCall();
    const stream = new ClassifyStream(call, { maxInFlight: 8 });
    const pending = stream.send(['a']);
    call.emit('data', { requestId: 'nobody', results: [], error: null });
    assert.equal(call.cancelled, true);
    call.finish(status.CANCELLED, 'Cancelled on client');
    const error = await pending.catch((caught: unknown) => caught);
    assert.ok(isPipelineError(error));
    assert.equal(error.code, status.INTERNAL);
    assert.match(error.details, /unknown request_id "nobody"/);
  });

  it('rejects a response whose result count does not match the texts, and keeps the stream', async () => {
    const call = new FakeCall();
    const stream = new ClassifyStream(call, { maxInFlight: 8 });
    const short = stream.send(['a', 'b']);
    const fine = stream.send(['c']);
    call.emit('data', { requestId: call.written[0]!.requestId!, results: [], error: null });
    call.answer(1);
    await assert.rejects(short, (error) => isPipelineError(error) && error.code === status.INTERNAL);
    await fine;
  });

  it('rejects a request answered with an error, with its code and message, and keeps the stream', async () => {
    const call = new FakeCall();
    const stream = new ClassifyStream(call, { maxInFlight: 8 });
    const refused = stream.send(['a']);
    const fine = stream.send(['b']);
    const error = { code: status.RESOURCE_EXHAUSTED, message: 'queue full' };
    call.emit('data', { requestId: call.written[0]!.requestId!, results: [], error });
    call.answer(1);
    await assert.rejects(refused, (caught) => isPipelineError(caught) && caught.message === 'RESOURCE_EXHAUSTED: queue full');
    assert.equal((await fine).results.length, 1);
  });

  it('rejects requests still unanswered when the server ends with OK', async () => {
    const call = new FakeCall();
    const stream = new ClassifyStream(call, { maxInFlight: 1 });
    const written = stream.send(['a']);
    const queued = stream.send(['b']);
    call.finish();
    for (const promise of [written, queued, stream.close()]) {
      await assert.rejects(promise, (error) => isPipelineError(error) && error.code === status.INTERNAL);
    }
  });

  it('settles only once the responses read before the status are delivered', async () => {
    const call = new FakeCall();
    const stream = new ClassifyStream(call, { maxInFlight: 8 });
    const pending = stream.send(['a']);
    call.emit('status', { code: status.OK, details: '', metadata: undefined });
    await tick();
    call.answer(0);
    call.emit('end');
    assert.equal((await pending).results.length, 1);
  });

  it('cancels the call at once for a signal already aborted, and on abort later', () => {
    const aborted = new FakeCall();
    new ClassifyStream(aborted, { maxInFlight: 1, signal: AbortSignal.abort() });
    assert.equal(aborted.cancelled, true);

    const controller = new AbortController();
    const later = new FakeCall();
    new ClassifyStream(later, { maxInFlight: 1, signal: controller.signal });
    assert.equal(later.cancelled, false);
    controller.abort();
    assert.equal(later.cancelled, true);
  });
});

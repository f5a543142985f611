import { status } from '@grpc/grpc-js';
import { SERVICE_NAMES } from '@inference-mesh/protos';
import assert from 'node:assert/strict';
import { withoutGrpcDiagnostics } from './errors';
import { isPipelineError, PipelineClient, PipelineError } from './index';
import { startFakePipelineServer, type FakePipelineServer } from './testing/fake-pipeline-server';
import type { RequestTiming } from './types';

/** FAKE_TIMING as the SDK maps it. */
const EXPECTED_TIMING: RequestTiming = {
  totalMs: 2,
  admissionMs: 0.125,
  coalesceMs: 0,
  tokenizer: { clientMs: 0.25, serverMs: 0.125 },
  model: { clientMs: 1, serverMs: 0.75, queueMs: 0.125, computeMs: 0.5 },
  postprocess: { clientMs: 0.25, serverMs: 0.0625 },
};

/** Asserts that `promise` rejects with a PipelineError of `code` (and `details` when given); returns it. */
async function rejectsWith(promise: Promise<unknown>, code: status, details?: string): Promise<PipelineError> {
  const error = await promise.then(
    () => assert.fail(`expected ${status[code]}, but it resolved`),
    (caught: unknown) => caught,
  );
  assert.ok(isPipelineError(error), `expected a PipelineError, got ${String(error)}`);
  assert.equal(error.codeName, status[code], error.message);
  assert.equal(error.code, code);
  if (details !== undefined) assert.equal(error.details, details);
  return error;
}

const F32_TOLERANCE = 1e-6;

describe('PipelineClient', () => {
  let server: FakePipelineServer;
  let client: PipelineClient;

  beforeEach(async () => {
    server = await startFakePipelineServer({
      '': 'SERVING',
      [SERVICE_NAMES.pipeline]: 'SERVING',
      [SERVICE_NAMES.tokenizer]: 'NOT_SERVING',
      [SERVICE_NAMES.postprocess]: 'SERVING',
    });
    client = new PipelineClient({ target: server.target });
  });

  afterEach(async () => {
    client.close();
    await server.stop();
  });

  describe('classify', () => {
    it('sends strings and bytes as UTF-8 bytes with the options, and maps the response', async () => {
      const response = await client.classify(['good day', Buffer.from('bad day'), new TextEncoder().encode('naïve good')], {
        requestId: 'req-1',
        model: 'sentiment-xl',
        version: '7',
        topK: 1,
      });

      assert.equal(response.requestId, 'req-1');
      assert.deepEqual(
        response.results.map((result) => [result.label, result.model, result.modelVersion, result.scores.length]),
        [
          ['positive', 'sentiment-xl', '7', 1],
          ['negative', 'sentiment-xl', '7', 1],
          ['positive', 'sentiment-xl', '7', 1],
        ],
      );
      assert.ok(Math.abs(response.results[0]!.score - 0.97314159) < F32_TOLERANCE);
      assert.equal(response.results[0]!.truncated, false);
      const [request] = server.requests;
      assert.deepEqual(request?.texts.map((bytes) => bytes.toString('utf8')), ['good day', 'bad day', 'naïve good']);
      assert.deepEqual(request?.options, { modelName: 'sentiment-xl', modelVersion: '7', topK: 1 });
    });

    it("gives where the time went from the answer's imesh-timing trailer", async () => {
      const response = await client.classify(['good']);
      assert.deepEqual(response.timing, EXPECTED_TIMING);
    });

    it('returns the id the server generated when none is given, and every label score without topK', async () => {
      const response = await client.classify(['a degraded text longer than twenty']);
      assert.match(response.requestId, /^srv-\d+$/);
      const [result] = response.results;
      assert.equal(result?.scores.length, 2);
      assert.equal(result?.truncated, true);
      assert.equal(result?.degraded, true);
      assert.deepEqual(server.requests[0]?.options, { modelName: '', modelVersion: '', topK: 0 });
    });

    it('rejects with a PipelineError carrying the server status', async () => {
      const error = await rejectsWith(
        client.classify(['fine', Buffer.from([0x66, 0xff, 0x66])]),
        status.INVALID_ARGUMENT,
        'texts[1] is not valid UTF-8',
      );
      assert.equal(error.message, 'INVALID_ARGUMENT: texts[1] is not valid UTF-8');
      assert.ok(error instanceof Error);
      assert.equal(isPipelineError(new Error('x')), false);
    });

    it('gives up at the per-call deadline with DEADLINE_EXCEEDED', async () => {
      const started = Date.now();
      await rejectsWith(client.classify(['sleep:1500'], { deadlineMs: 50 }), status.DEADLINE_EXCEEDED);
      assert.ok(Date.now() - started < 1000);
    });

    it('applies defaultDeadlineMs when the call sets none', async () => {
      const hasty = new PipelineClient({ target: server.target, defaultDeadlineMs: 50 });
      try {
        await rejectsWith(hasty.classify(['sleep:1500']), status.DEADLINE_EXCEEDED);
      } finally {
        hasty.close();
      }
    });

    it('cancels the call when the signal aborts', async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 30);
      const started = Date.now();
      await rejectsWith(client.classify(['sleep:1500'], { signal: controller.signal }), status.CANCELLED);
      assert.ok(Date.now() - started < 1000);
    });

    it('does not call at all with a signal already aborted', async () => {
      await rejectsWith(client.classify(['good'], { signal: AbortSignal.abort() }), status.CANCELLED);
      assert.equal(server.requests.length, 0);
    });

    it('rejects misuse with TypeError or RangeError before calling', async () => {
      await assert.rejects(client.classify([42 as unknown as string]), TypeError);
      await assert.rejects(client.classify(['x'], { topK: -1 }), RangeError);
      await assert.rejects(client.classify(['x'], { deadlineMs: 0 }), RangeError);
      assert.equal(server.requests.length, 0);
    });

    it('rejects with FAILED_PRECONDITION once the client is closed', async () => {
      client.close();
      client.close();
      await rejectsWith(client.classify(['good']), status.FAILED_PRECONDITION);
      assert.throws(() => client.classifyStream(), (error) => isPipelineError(error) && error.code === status.FAILED_PRECONDITION);
    });
  });

  describe('constructor', () => {
    it('checks the TLS options it is given', () => {
      assert.throws(() => new PipelineClient({ tls: { certChainPath: 'cert.pem' } }), /given together/);
      assert.throws(() => new PipelineClient({ tls: { rootCertsPath: '/nonexistent/ca.pem' } }), /cannot read tls\.rootCertsPath/);
      assert.throws(() => new PipelineClient({ maxMessageBytes: 0 }), RangeError);
      assert.throws(() => new PipelineClient({ target: '' }), RangeError);
    });
  });

  describe('classifyStream', () => {
    it("gives each answer's timing from its timing field", async () => {
      const stream = client.classifyStream();
      try {
        const [first, second] = await Promise.all([stream.send(['good']), stream.send(['bad'])]);
        assert.deepEqual(first.timing, EXPECTED_TIMING);
        assert.deepEqual(second.timing, EXPECTED_TIMING);
      } finally {
        await stream.close();
      }
    });

    it('matches out-of-order responses to their requests by id', async () => {
      const stream = client.classifyStream();
      const slow = stream.send(['sleep:150', 'good one']);
      const fast = stream.send(['good two']);
      const middle = stream.send(['sleep:60'], { model: 'other' });
      const [slowResponse, fastResponse, middleResponse] = await Promise.all([slow, fast, middle]);
      await stream.close();

      assert.deepEqual(slowResponse.results.map((result) => result.label), ['negative', 'positive']);
      assert.deepEqual(fastResponse.results.map((result) => result.label), ['positive']);
      assert.deepEqual(middleResponse.results.map((result) => result.model), ['other']);
      // Answered fast, middle, slow: the matching did the work, not the order.
      assert.deepEqual(server.streamAnswerOrder, [fastResponse.requestId, middleResponse.requestId, slowResponse.requestId]);
      const ids = [slowResponse.requestId, fastResponse.requestId, middleResponse.requestId];
      assert.equal(new Set(ids).size, 3);
      assert.deepEqual(server.requests.map((request) => request.requestId), ids);
    });

    it('keeps at most maxInFlight requests unanswered and queues the rest in order', async () => {
      const stream = client.classifyStream({ maxInFlight: 2 });
      const responses = await Promise.all(Array.from({ length: 6 }, (_, index) => stream.send([`sleep:${10 + index}`])));
      await stream.close();
      assert.equal(responses.length, 6);
      assert.equal(server.maxStreamOutstanding, 2);
      assert.deepEqual(server.requests.map((request) => request.texts[0]?.toString()), [
        'sleep:10', 'sleep:11', 'sleep:12', 'sleep:13', 'sleep:14', 'sleep:15',
      ]);
    });

    it('rejects only the request the server refused; the stream carries on', async () => {
      const stream = client.classifyStream();
      const pending = stream.send(['sleep:50', 'good']);
      const refused = stream.send(['good', '']);
      await rejectsWith(refused, status.INVALID_ARGUMENT, 'texts[1] is empty');
      assert.equal((await pending).results.length, 2);
      assert.equal((await stream.send(['good'])).results[0]?.label, 'positive');
      await stream.close();
    });

    it('rejects every pending request, close() and later sends when the stream itself fails', async () => {
      const stream = client.classifyStream();
      const pending = stream.send(['sleep:300']);
      const failing = stream.send(['fail-stream']);
      const firstError = await rejectsWith(failing, status.UNAVAILABLE, 'downstream gone');
      assert.equal(await pending.catch((error: unknown) => error), firstError);
      assert.equal(await stream.close().catch((error: unknown) => error), firstError);
      assert.equal(await stream.send(['good']).catch((error: unknown) => error), firstError);
    });

    it('still delivers a response that arrived just before the stream failed', async () => {
      const stream = client.classifyStream();
      const answered = stream.send(['good']);
      const failing = stream.send(['fail-stream']);
      assert.equal((await answered).results[0]?.label, 'positive');
      await rejectsWith(failing, status.UNAVAILABLE);
    });

    it('close() resolves after every pending request is answered; send() after close() is refused', async () => {
      const stream = client.classifyStream();
      let answered = false;
      const pending = stream.send(['sleep:50']).then(() => (answered = true));
      await stream.close();
      assert.equal(answered, true);
      await pending;
      await rejectsWith(stream.send(['good']), status.FAILED_PRECONDITION);
    });

    it('cancels the stream when the signal aborts', async () => {
      const controller = new AbortController();
      const stream = client.classifyStream({ signal: controller.signal });
      const pending = stream.send(['sleep:1500']);
      setTimeout(() => controller.abort(), 30);
      await rejectsWith(pending, status.CANCELLED);
      await waitFor(() => server.streamsCancelled === 1);
    });

    it('fails at the stream deadline', async () => {
      const stream = client.classifyStream({ deadlineMs: 50 });
      await rejectsWith(stream.send(['sleep:1500']), status.DEADLINE_EXCEEDED);
    });
  });

  describe('classifyAll', () => {
    it('yields every result in input order although batches are answered out of order', async () => {
      const texts = ['sleep:80', 'good 1', 'b', 'sleep:5', 'good 2', 'c', 'good 3', 'd', 'e', 'good 4'];
      const seen: { text: string; label: string }[] = [];
      for await (const { text, result } of client.classifyAll(texts, { batchSize: 3, maxInFlight: 4, topK: 1 })) {
        seen.push({ text, label: result!.label });
      }
      assert.deepEqual(seen.map((item) => item.text), texts);
      assert.deepEqual(
        seen.map((item) => item.label),
        texts.map((text) => (text.includes('good') ? 'positive' : 'negative')),
      );
      assert.deepEqual(server.requests.map((request) => request.texts.length), [3, 3, 3, 1]);
      assert.equal(server.requests[0]?.options?.topK, 1);
      // The first batch (with sleep:80) was answered after the later ones.
      assert.equal(server.streamAnswerOrder.at(-1), server.requests[0]?.requestId);
    });

    it('gives each text the timing of the request it rode in', async () => {
      const timings = [];
      for await (const item of client.classifyAll(['good', 'bad', 'fine'], { batchSize: 2 })) timings.push(item.timing);
      assert.deepEqual(timings, [EXPECTED_TIMING, EXPECTED_TIMING, EXPECTED_TIMING]);
    });

    it('reads an async source', async () => {
      async function* source() {
        for (const text of ['good a', 'b', 'good c']) yield text;
      }
      const labels: string[] = [];
      for await (const { result } of client.classifyAll(source(), { batchSize: 2 })) labels.push(result!.label);
      assert.deepEqual(labels, ['positive', 'negative', 'positive']);
    });

    it('sends what a slow source has ready instead of waiting for a full batch', async () => {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const tooLate = new Promise<never>((_, reject) => {
        const timer = setTimeout(() => reject(new Error('classifyAll waited for a full batch')), 1000);
        void released.then(() => clearTimeout(timer));
      });
      async function* source() {
        yield 'good 1';
        // The next text comes only once the first one's result is out.
        await Promise.race([released, tooLate]);
        yield 'good 2';
      }
      const seen: string[] = [];
      for await (const { text } of client.classifyAll(source(), { batchSize: 32 })) {
        seen.push(text);
        release();
      }
      assert.deepEqual(seen, ['good 1', 'good 2']);
      assert.deepEqual(server.requests.map((request) => request.texts.length), [1, 1]);
    });

    it('reads an endless source lazily and stops it when the consumer leaves', async () => {
      let pulled = 0;
      let sourceClosed = false;
      function* endless() {
        try {
          for (;;) {
            pulled++;
            // Fails fast rather than hanging if the window stops bounding the reads.
            if (pulled > 1000) throw new Error('classifyAll read too far ahead');
            yield `good ${pulled}`;
          }
        } finally {
          sourceClosed = true;
        }
      }
      const texts: string[] = [];
      for await (const { text } of client.classifyAll(endless(), { batchSize: 3, maxInFlight: 2 })) {
        texts.push(text);
        if (texts.length === 5) break;
      }
      assert.deepEqual(texts, ['good 1', 'good 2', 'good 3', 'good 4', 'good 5']);
      assert.equal(sourceClosed, true);
      // Two batches in flight, then one more once the first was yielded: never more than the window.
      assert.ok(pulled <= 9, `pulled ${pulled} texts`);
      await waitFor(() => server.streamsCancelled === 1);
    });

    it('goes on past refused texts: each gets its own error, named by its index in the input, and the rest are classified', async () => {
      const texts = ['good', 'bad', '', 'good again', '', '', 'last'];
      const yielded: { index: number; text: string; label?: string; error?: string }[] = [];
      for await (const item of client.classifyAll(texts, { batchSize: 4 })) {
        yielded.push({ index: item.index, text: item.text, ...(item.error ? { error: item.error.message } : { label: item.result.label }) });
      }
      assert.deepEqual(yielded.map((item) => item.index), [0, 1, 2, 3, 4, 5, 6]);
      assert.deepEqual(yielded.map((item) => item.label ?? item.error), [
        'positive',
        'negative',
        'INVALID_ARGUMENT: texts[2] is empty',
        'positive',
        'INVALID_ARGUMENT: texts[4] is empty',
        'INVALID_ARGUMENT: texts[5] is empty',
        'negative',
      ]);
      // Each refusal costs one request more, without the refused text: [4, 3] for the first batch, [3, 2, 1] for the second.
      assert.deepEqual(server.requests.map((request) => request.texts.length).sort(), [1, 2, 3, 3, 4]);
    });

    it('still ends with the error when the stream itself fails', async () => {
      const yielded: string[] = [];
      const iterate = async () => {
        for await (const { text } of client.classifyAll(['good', 'bad', 'fail-stream', 'never'], { batchSize: 2 })) yielded.push(text);
      };
      await rejectsWith(iterate(), status.UNAVAILABLE, 'downstream gone');
      assert.deepEqual(yielded, ['good', 'bad']);
    });

    it('stops when the signal aborts', async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 30);
      const iterate = async () => {
        for await (const _ of client.classifyAll(['sleep:1500'], { signal: controller.signal })) {
          // drain
        }
      };
      await rejectsWith(iterate(), status.CANCELLED);
    });

    it('refuses a bare string as the source', async () => {
      const iterator = client.classifyAll('good' as unknown as string[])[Symbol.asyncIterator]();
      await assert.rejects(iterator.next(), TypeError);
    });
  });

  describe('health', () => {
    it('maps grpc.health.v1 answers, NOT_FOUND included', async () => {
      assert.equal(await client.health(), 'SERVING');
      assert.equal(await client.health(SERVICE_NAMES.tokenizer), 'NOT_SERVING');
      assert.equal(await client.health('no.such.Service'), 'SERVICE_UNKNOWN');
    });

    it('healthAll reports the gateway, the pipeline service and the three downstreams', async () => {
      assert.deepEqual(await client.healthAll(), {
        '': 'SERVING',
        [SERVICE_NAMES.pipeline]: 'SERVING',
        [SERVICE_NAMES.tokenizer]: 'NOT_SERVING',
        [SERVICE_NAMES.inference]: 'SERVICE_UNKNOWN',
        [SERVICE_NAMES.postprocess]: 'SERVING',
      });
    });

    it('rejects with UNAVAILABLE when nothing listens', async () => {
      const gone = await startFakePipelineServer();
      await gone.stop();
      const orphan = new PipelineClient({ target: gone.target });
      try {
        const error = await rejectsWith(orphan.health(), status.UNAVAILABLE);
        assert.equal(error.details, `No connection established (connect ECONNREFUSED ${gone.target})`);
      } finally {
        orphan.close();
      }
    });
  });

  describe('errors', () => {
    it('keeps what matters of grpc-js\'s own failure texts, and the server\'s messages as they are', () => {
      assert.equal(
        withoutGrpcDiagnostics('No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: '),
        'No connection established (connect ECONNREFUSED 127.0.0.1:1)',
      );
      assert.equal(withoutGrpcDiagnostics('No connection established. Last error: null. Resolution note: '), 'No connection established');
      assert.equal(
        withoutGrpcDiagnostics('round_robin: No connection established. Last error: null. Resolution note: no addresses for x'),
        'No connection established; no addresses for x',
      );
      assert.equal(
        withoutGrpcDiagnostics('Deadline exceeded after 0.300s,name resolution: 0.015s,metadata filters: 0.001s,Waiting for LB pick'),
        'Deadline exceeded after 0.300s, before a connection was established',
      );
      assert.equal(withoutGrpcDiagnostics('Deadline exceeded after 0.502s,LB pick: 0.001s,remote_addr=127.0.0.1:50051'), 'Deadline exceeded after 0.502s');
      assert.equal(withoutGrpcDiagnostics('texts[1] is empty: every text needs at least one character'), 'texts[1] is empty: every text needs at least one character');
    });
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 1000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) assert.fail('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

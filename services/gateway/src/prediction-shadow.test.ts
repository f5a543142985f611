import { Metadata, status } from '@grpc/grpc-js';
import type { inference, postprocess, tokenizer } from '@inference-mesh/protos';
import { createLogger, type Logger } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import { HOPS, type Hop, type HopPolicyConfig } from './config';
import type { Downstreams } from './downstreams';
import { HopPolicy } from './hop-policy';
import type { AttemptOptions } from './hop-policy';
import { ClassifyPipeline } from './pipeline';
import { compareRows, PredictionShadow, type ShadowConfig, type ShadowHooks } from './prediction-shadow';
import { LiveVersionSplit, parseVersionWeights, VersionSplit } from './version-split';

const quiet = createLogger('test', 'error', () => {});

/** A version's answer per row: its label and score (the logits are not looked at by the fakes). */
type Answer = { label: string; score: number };

/**
 * The tokenizer, model and postprocess as the pipeline and the shadow see them: records every call with the options
 * it was given, answers each version from `answers`, and can hold or fail one version's ModelInfer.
 */
class FakeMesh implements Downstreams {
  readonly encoded: tokenizer.EncodeRequest[] = [];
  readonly metadata: inference.ModelMetadataRequest[] = [];
  readonly infer: { request: inference.ModelInferRequest; attempt: AttemptOptions }[] = [];
  readonly postprocessed: postprocess.PostprocessRequest[] = [];
  /** Per version: the answer of each row (default: every row positive at 0.9). */
  answers = new Map<string, (row: number) => Answer>();
  /** Versions whose ModelInfer fails with this error. */
  failInfer = new Map<string, unknown>();
  /** Versions whose ModelInfer waits for this promise first (or for its attempt's signal). */
  holdInfer = new Map<string, Promise<void>>();

  async encode(request: tokenizer.EncodeRequest): Promise<tokenizer.EncodeResponse__Output> {
    this.encoded.push(request);
    return encodedRows(request.texts!.length, request.modelVersion || '2');
  }
  async modelMetadata(request: inference.ModelMetadataRequest): Promise<inference.ModelMetadataResponse__Output> {
    this.metadata.push(request);
    return {
      name: request.name!,
      versions: [request.version!],
      platform: 'onnxruntime_onnx',
      inputs: ['input_ids', 'attention_mask'].map((name) => ({ name, datatype: 'INT64', shape: [-1, -1] })),
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 2] }],
    };
  }
  async modelInfer(request: inference.ModelInferRequest, attempt: AttemptOptions): Promise<inference.ModelInferResponse__Output> {
    this.infer.push({ request, attempt });
    const version = request.modelVersion!;
    const hold = this.holdInfer.get(version);
    if (hold) {
      const cancelled = new Promise((_, reject) => {
        const cancel = () => reject(grpcError(status.CANCELLED, 'cancelled'));
        if (attempt.signal.aborted) cancel();
        else attempt.signal.addEventListener('abort', cancel, { once: true });
      });
      await Promise.race([hold, cancelled]);
    }
    const failure = this.failInfer.get(version);
    if (failure) throw failure;
    const rows = Number(request.inputs![0]!.shape![0]);
    const bytes = Buffer.alloc(rows * 8);
    bytes.writeUInt8(Number(version), 0); // marks whose logits these are
    return {
      modelName: request.modelName!,
      modelVersion: version,
      id: '',
      parameters: {},
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [rows, 2], parameters: {}, contents: null }],
      rawOutputContents: [bytes],
    };
  }
  async postprocess(request: postprocess.PostprocessRequest): Promise<postprocess.PostprocessResponse__Output> {
    this.postprocessed.push(request);
    const answer = this.answers.get(request.modelVersion!) ?? (() => ({ label: 'positive', score: 0.9 }));
    return {
      predictions: Array.from({ length: request.rows! }, (_, row) => {
        const { label, score } = answer(row);
        const other = label === 'positive' ? 'negative' : 'positive';
        return { label, score, scores: [{ label, score }, { label: other, score: 1 - score }] };
      }),
    };
  }
  close(): void {}

  /** ModelInfer calls for `version`. */
  inferFor(version: string): number {
    return this.infer.filter((call) => call.request.modelVersion === version).length;
  }
}

function encodedRows(rows: number, modelVersion: string): tokenizer.EncodeResponse__Output {
  return {
    rows,
    sequenceLength: 4,
    inputIds: Buffer.alloc(rows * 4 * 8, 1),
    attentionMask: Buffer.alloc(rows * 4 * 8, 2),
    truncatedRows: [],
    maxLength: 128,
    tokenizerFingerprint: 'sha256:abc',
    modelVersion,
  };
}

function grpcError(code: status, details: string): Error {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata: new Metadata() });
}

/** What the shadow recorded, as the metrics would count it. */
class RecordedMetrics implements NonNullable<ShadowHooks['metrics']> {
  readonly rows: { pair: string; agree: number; disagree: number; scoreDifference: number }[] = [];
  readonly shed: string[] = [];
  readonly failed: string[] = [];
  recordShadowRows(model: string, served: string, shadow: string, agree: number, disagree: number, scoreDifference: number): void {
    this.rows.push({ pair: `${model}/${served}->${shadow}`, agree, disagree, scoreDifference });
  }
  recordShadowShed(model: string, served: string, shadow: string): void {
    this.shed.push(`${model}/${served}->${shadow}`);
  }
  recordShadowFailed(model: string, served: string, shadow: string, code: string): void {
    this.failed.push(`${model}/${served}->${shadow} ${code}`);
  }
}

const CONFIG: ShadowConfig = { sample: 1, timeoutMs: 2_000, maxInFlight: 2 };
const served = (answers: Answer[]) => answers;
const split = (weights: string, random: () => number = Math.random) => new VersionSplit(parseVersionWeights(weights), random);

describe('prediction agreement (PredictionShadow)', () => {
  describe('compareRows', () => {
    it('counts rows with the same label and sums |served score - shadow score|', () => {
      const comparison = compareRows(
        [
          { label: 'positive', score: 0.9 },
          { label: 'negative', score: 0.8 },
          { label: 'positive', score: 0.7 },
        ],
        [
          { label: 'positive', score: 0.6 },
          // Labels swapped, the same score: disagrees, and the scores do not differ.
          { label: 'positive', score: 0.8 },
          // Another label set altogether.
          { label: 'world', score: 1 },
        ],
      );
      assert.equal(comparison.agree, 1);
      assert.equal(comparison.disagree, 2);
      assert.ok(Math.abs(comparison.scoreDifference - (0.3 + 0 + 0.3)) < 1e-12, String(comparison.scoreDifference));
    });
  });

  describe('one merged call', () => {
    it("sends the served call's encoded inputs to the other version, postprocesses its logits, and records the comparison", async () => {
      const mesh = new FakeMesh();
      mesh.answers.set('2', (row) => (row === 1 ? { label: 'negative', score: 0.7 } : { label: 'positive', score: 0.85 }));
      const metrics = new RecordedMetrics();
      const shadow = new PredictionShadow(mesh, CONFIG, { metrics });
      const encoded = encodedRows(3, '1');
      const answers = served([{ label: 'positive', score: 0.9 }, { label: 'positive', score: 0.9 }, { label: 'positive', score: 0.8 }]);
      const before = Date.now();
      shadow.offer('sentiment', '1', split('1=50,2=50'), encoded, answers);
      await shadow.settled();

      assert.equal(mesh.encoded.length, 0, 'never tokenized again');
      assert.deepEqual(mesh.metadata.map((m) => [m.name, m.version]), [['sentiment', '2']]);
      assert.equal(mesh.infer.length, 1);
      const { request, attempt } = mesh.infer[0]!;
      assert.equal(request.modelVersion, '2', 'the version x-model-version is set from');
      const [ids, mask] = request.rawInputContents as Buffer[];
      assert.equal(ids, encoded.inputIds, "the tokenizer's bytes themselves");
      assert.equal(mask, encoded.attentionMask);
      assert.deepEqual(
        request.parameters,
        { tokenizer_fingerprint: { stringParam: 'sha256:abc' }, imesh_shadow: { boolParam: true } },
        'the model service checks the tokenizer against version 2, and keeps the shadow out of its request metrics',
      );
      assert.ok(attempt.deadlineMs >= before + CONFIG.timeoutMs && attempt.deadlineMs <= Date.now() + CONFIG.timeoutMs, 'its own deadline');
      const post = mesh.postprocessed[0]!;
      assert.deepEqual([post.modelVersion, post.rows, post.numLabels, post.topK], ['2', 3, 2, 1]);
      assert.equal((post.logits as Buffer).readUInt8(0), 2, "version 2's logits");

      assert.equal(metrics.rows.length, 1);
      const [rows] = metrics.rows;
      assert.deepEqual([rows!.pair, rows!.agree, rows!.disagree], ['sentiment/1->2', 2, 1]);
      assert.ok(Math.abs(rows!.scoreDifference - (0.05 + 0.2 + 0.05)) < 1e-9, String(rows!.scoreDifference));
      assert.deepEqual(answers, [{ label: 'positive', score: 0.9 }, { label: 'positive', score: 0.9 }, { label: 'positive', score: 0.8 }], 'the answers are only read');
      assert.deepEqual([metrics.shed, metrics.failed], [[], []]);
    });

    it("starts only after the callers' answers are on their way: nothing is sent before the promise jobs pending now have run", async () => {
      const mesh = new FakeMesh();
      const shadow = new PredictionShadow(mesh, CONFIG, { metrics: new RecordedMetrics() });
      const delivered: string[] = [];
      const callers = Promise.resolve()
        .then(() => delivered.push(`caller answered, ${mesh.infer.length} shadow calls`))
        .then(() => delivered.push(`second caller answered, ${mesh.infer.length} shadow calls`));
      shadow.offer('sentiment', '1', split('1=50,2=50'), encodedRows(1, '1'), served([{ label: 'positive', score: 0.9 }]));
      assert.equal(mesh.infer.length, 0, 'offer returns before anything is sent');
      assert.equal(shadow.inFlight, 1, 'its slot is taken at once');
      await callers;
      await shadow.settled();
      assert.deepEqual(delivered, ['caller answered, 0 shadow calls', 'second caller answered, 0 shadow calls']);
      assert.equal(mesh.infer.length, 1);
      assert.equal(shadow.inFlight, 0);
    });

    it('samples with probability IMESH_SHADOW_SAMPLE per merged call', async () => {
      const mesh = new FakeMesh();
      let draw = 0;
      const shadow = new PredictionShadow(mesh, { ...CONFIG, sample: 0.25, maxInFlight: 100 }, { random: () => draw, metrics: new RecordedMetrics() });
      for (draw of [0, 0.1, 0.2499, 0.25, 0.5, 0.9999]) shadow.offer('sentiment', '1', split('1=50,2=50'), encodedRows(1, '1'), served([{ label: 'positive', score: 0.9 }]));
      await shadow.settled();
      assert.equal(mesh.infer.length, 3, 'draws under 0.25 are shadowed');

      const sampled = new FakeMesh();
      const tenth = new PredictionShadow(sampled, { ...CONFIG, sample: 0.1, maxInFlight: 10_000 }, { metrics: new RecordedMetrics() });
      for (let i = 0; i < 4_000; i++) tenth.offer('sentiment', '1', split('1=50,2=50'), encodedRows(1, '1'), served([{ label: 'positive', score: 0.9 }]));
      await tenth.settled();
      // 400 expected, standard deviation 19: 100 either side is more than 5 of them.
      assert.ok(Math.abs(sampled.infer.length - 400) < 100, `${sampled.infer.length} of 4000 shadowed at 0.1`);
    });

    it('picks the shadow version among the other versions by their weights, never the served one nor one at weight 0', async () => {
      const mesh = new FakeMesh();
      const shadow = new PredictionShadow(mesh, { ...CONFIG, maxInFlight: 10_000 }, { metrics: new RecordedMetrics() });
      const threeWay = split('1=60,2=30,3=10,4=0');
      for (let i = 0; i < 2_000; i++) shadow.offer('sentiment', '1', threeWay, encodedRows(1, '1'), served([{ label: 'positive', score: 0.9 }]));
      await shadow.settled();
      assert.deepEqual([mesh.inferFor('1'), mesh.inferFor('4')], [0, 0]);
      // 2 and 3 weigh 30:10 among the others: 1500 of 2000 expected, standard deviation 19.
      assert.ok(Math.abs(mesh.inferFor('2') - 1_500) < 100, `version 2 got ${mesh.inferFor('2')} of 2000`);
      assert.equal(mesh.inferFor('2') + mesh.inferFor('3'), 2_000);
    });

    it('has nothing to do when the split has no other version at a weight above 0', async () => {
      const mesh = new FakeMesh();
      const shadow = new PredictionShadow(mesh, CONFIG, { metrics: new RecordedMetrics() });
      shadow.offer('sentiment', '1', split('1=100,2=0'), encodedRows(1, '1'), served([{ label: 'positive', score: 0.9 }]));
      // A served version outside the split (it changed meanwhile) is compared with the split's.
      shadow.offer('sentiment', '3', split('1=100,2=0'), encodedRows(1, '3'), served([{ label: 'positive', score: 0.9 }]));
      await shadow.settled();
      assert.deepEqual(mesh.infer.map((call) => call.request.modelVersion), ['1']);
    });
  });

  describe('shedding', () => {
    it('runs at most IMESH_SHADOW_MAX_IN_FLIGHT shadows at once and drops (and counts) a sampled call that finds them busy', async () => {
      const mesh = new FakeMesh();
      let release!: () => void;
      mesh.holdInfer.set('2', new Promise<void>((resolve) => (release = resolve)));
      const metrics = new RecordedMetrics();
      const shadow = new PredictionShadow(mesh, { ...CONFIG, maxInFlight: 1 }, { metrics });
      const offer = () => shadow.offer('sentiment', '1', split('1=50,2=50'), encodedRows(1, '1'), served([{ label: 'positive', score: 0.9 }]));
      offer();
      offer();
      offer();
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(shadow.inFlight, 1);
      assert.deepEqual(metrics.shed, ['sentiment/1->2', 'sentiment/1->2']);
      release();
      await shadow.settled();
      assert.equal(metrics.rows.length, 1);
      offer();
      await shadow.settled();
      assert.deepEqual([metrics.rows.length, metrics.shed.length, mesh.infer.length], [2, 2, 2], 'a slot freed takes the next one');
    });
  });

  describe('failures', () => {
    it('counts a failed shadow by its gRPC status code, compares nothing, and logs each kind once', async () => {
      const mesh = new FakeMesh();
      mesh.failInfer.set('2', grpcError(status.FAILED_PRECONDITION, 'the tokenizer of version 2 differs'));
      mesh.failInfer.set('3', new Error('not a gRPC error'));
      const metrics = new RecordedMetrics();
      const warnings: string[] = [];
      const logger = { ...quiet, warn: (message: string, fields?: Record<string, unknown>) => warnings.push(`${message} ${JSON.stringify(fields)}`) } as Logger;
      const shadow = new PredictionShadow(mesh, { ...CONFIG, maxInFlight: 10 }, { metrics, logger });
      for (let i = 0; i < 3; i++) shadow.offer('sentiment', '1', split('1=50,2=50'), encodedRows(1, '1'), served([{ label: 'positive', score: 0.9 }]));
      shadow.offer('sentiment', '1', split('1=50,3=50'), encodedRows(1, '1'), served([{ label: 'positive', score: 0.9 }]));
      await shadow.settled();
      assert.deepEqual(metrics.failed, ['sentiment/1->2 FAILED_PRECONDITION', 'sentiment/1->2 FAILED_PRECONDITION', 'sentiment/1->2 FAILED_PRECONDITION', 'sentiment/1->3 UNKNOWN']);
      assert.deepEqual(metrics.rows, []);
      assert.equal(warnings.length, 2, warnings.join('\n'));
      assert.match(warnings[0]!, /"shadowVersion":"2","code":"FAILED_PRECONDITION","error":".*tokenizer of version 2 differs/);
    });

    it('counts a shadow past its deadline as DEADLINE_EXCEEDED (the deadline goes to the call), an answer of the wrong shape as INTERNAL', async () => {
      const mesh = new FakeMesh();
      // The real connection turns the deadline into the call's: here the fake answers as grpc-js would.
      mesh.modelInfer = async (request, attempt) => {
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, attempt.deadlineMs - Date.now())));
        throw grpcError(status.DEADLINE_EXCEEDED, `deadline ${request.modelVersion}`);
      };
      const metrics = new RecordedMetrics();
      const shadow = new PredictionShadow(mesh, { ...CONFIG, timeoutMs: 20 }, { metrics });
      const started = Date.now();
      shadow.offer('sentiment', '1', split('1=50,2=50'), encodedRows(1, '1'), served([{ label: 'positive', score: 0.9 }]));
      await shadow.settled();
      assert.ok(Date.now() - started < 1_000);
      assert.deepEqual(metrics.failed, ['sentiment/1->2 DEADLINE_EXCEEDED']);

      const short = new FakeMesh();
      short.postprocess = async () => ({ predictions: [] });
      const shortMetrics = new RecordedMetrics();
      const another = new PredictionShadow(short, CONFIG, { metrics: shortMetrics });
      another.offer('sentiment', '1', split('1=50,2=50'), encodedRows(2, '1'), served([{ label: 'positive', score: 0.9 }, { label: 'positive', score: 0.9 }]));
      await another.settled();
      assert.deepEqual(shortMetrics.failed, ['sentiment/1->2 INTERNAL']);
    });

    it("asks for a shadow version's metadata once, and again after a failure", async () => {
      const mesh = new FakeMesh();
      const real = mesh.modelMetadata.bind(mesh);
      let failures = 1;
      mesh.modelMetadata = async (request) => {
        if (failures-- > 0) {
          mesh.metadata.push(request);
          throw grpcError(status.UNAVAILABLE, 'not yet');
        }
        return real(request);
      };
      const metrics = new RecordedMetrics();
      const shadow = new PredictionShadow(mesh, CONFIG, { metrics });
      for (let i = 0; i < 3; i++) {
        shadow.offer('sentiment', '1', split('1=50,2=50'), encodedRows(1, '1'), served([{ label: 'positive', score: 0.9 }]));
        await shadow.settled();
      }
      assert.equal(mesh.metadata.length, 2);
      assert.deepEqual([metrics.failed, metrics.rows.length], [['sentiment/1->2 UNAVAILABLE'], 2]);
    });

    it('close() cancels the shadows running, counts nothing for them and takes no more', async () => {
      const mesh = new FakeMesh();
      mesh.holdInfer.set('2', new Promise<void>(() => {}));
      const metrics = new RecordedMetrics();
      const shadow = new PredictionShadow(mesh, CONFIG, { metrics });
      shadow.offer('sentiment', '1', split('1=50,2=50'), encodedRows(1, '1'), served([{ label: 'positive', score: 0.9 }]));
      await new Promise((resolve) => setImmediate(resolve));
      shadow.close();
      shadow.close();
      await shadow.settled();
      shadow.offer('sentiment', '1', split('1=50,2=50'), encodedRows(1, '1'), served([{ label: 'positive', score: 0.9 }]));
      await shadow.settled();
      assert.deepEqual([mesh.infer.length, metrics.failed, metrics.rows, metrics.shed], [1, [], [], []]);
    });
  });

  describe('in the pipeline', () => {
    const policyConfig: HopPolicyConfig = {
      retryMaxAttempts: 2,
      retryInitialBackoffMs: 1,
      retryMaxBackoffMs: 1,
      // One failed call would open a circuit: shadows must never count.
      breakerConsecutiveFailures: 1,
      breakerHalfOpenAfterMs: 60_000,
      attemptTimeoutMs: 1_000,
      bulkheadLimit: 1,
      bulkheadQueue: 100,
    };
    const budget = () => ({ deadlineMs: Date.now() + 5_000, signal: new AbortController().signal });
    const texts = (...values: string[]) => values.map((value) => Buffer.from(value));

    /** A pipeline whose split always picks version 1 first (random 0), shadowing every merged call to 2. */
    function shadowedPipeline(mesh: FakeMesh, options: { weights?: string; coalescing?: boolean; shadowConfig?: Partial<ShadowConfig> } = {}) {
      const metrics = new RecordedMetrics();
      const modelCalls: string[] = [];
      const policies = Object.fromEntries(HOPS.map((hop) => [hop, new HopPolicy(hop, policyConfig, quiet)])) as Record<Hop, HopPolicy>;
      const live = new LiveVersionSplit();
      const weights = parseVersionWeights(options.weights ?? '1=50,2=50');
      live.current = new VersionSplit(weights, () => 0);
      live.weights = weights;
      const shadow = new PredictionShadow(mesh, { ...CONFIG, ...options.shadowConfig }, { metrics, random: () => 0 });
      const pipeline = new ClassifyPipeline(mesh, policies, {
        defaultModel: 'sentiment',
        maxBatchTexts: 16,
        liveVersionSplit: live,
        shadow,
        modelCalls: { recordModelCall: (modelName, modelVersion, code) => modelCalls.push(`${modelName}/${modelVersion} ${status[code]}`) },
        ...(options.coalescing && { coalescing: { maxRows: 16, maxInFlight: 1 } }),
      });
      return { pipeline, shadow, metrics, policies, modelCalls };
    }

    it('shadows the split\'s calls of the default model, not calls pinned to a version nor other models', async () => {
      const mesh = new FakeMesh();
      const { pipeline, shadow, metrics } = shadowedPipeline(mesh);
      const classify = (modelName: string, modelVersion: string) => pipeline.classify({ texts: texts('a', 'b'), modelName, modelVersion, topK: 1 }, budget());
      const results = await classify('', '');
      await classify('', '1');
      await classify('sentiment', '2');
      await classify('other', '');
      await shadow.settled();
      assert.deepEqual(results.map((r) => [r.label, r.modelVersion]), [['positive', '1'], ['positive', '1']]);
      assert.deepEqual(mesh.encoded.map((e) => `${e.modelName}/${e.modelVersion}`), ['sentiment/1', 'sentiment/1', 'sentiment/2', 'other/'], 'one tokenizer call per request: the shadow reuses its output');
      const inferred = mesh.infer.map((call) => `${call.request.modelName}/${call.request.modelVersion}`).sort();
      assert.deepEqual(inferred, ['other/2', 'sentiment/1', 'sentiment/1', 'sentiment/2', 'sentiment/2'], 'the four calls and one shadow, of the split call');
      assert.deepEqual(metrics.rows.map((r) => [r.pair, r.agree, r.disagree]), [['sentiment/1->2', 2, 0]]);
    });

    it('does not shadow without a second version at a weight above 0', async () => {
      const mesh = new FakeMesh();
      const { pipeline, shadow } = shadowedPipeline(mesh, { weights: '1=100,2=0' });
      await pipeline.classify({ texts: texts('a'), modelName: '', modelVersion: '', topK: 0 }, budget());
      await shadow.settled();
      assert.deepEqual(mesh.infer.map((call) => call.request.modelVersion), ['1']);
    });

    it("never fails, delays or changes a caller's answer, and never counts in the model hop's breaker, bulkhead or retries", async () => {
      const mesh = new FakeMesh();
      mesh.answers.set('2', () => ({ label: 'negative', score: 0.99 }));
      // Every shadow call fails as an unwell downstream would: with retries, and a breaker that opens on one failure.
      mesh.failInfer.set('2', grpcError(status.UNAVAILABLE, 'version 2 is down'));
      const { pipeline, shadow, metrics, policies, modelCalls } = shadowedPipeline(mesh, { shadowConfig: { maxInFlight: 100 } });
      for (let i = 0; i < 20; i++) {
        const results = await pipeline.classify({ texts: texts('a'), modelName: '', modelVersion: '', topK: 0 }, budget());
        assert.deepEqual(results.map((r) => [r.label, r.score, r.modelVersion]), [['positive', 0.9, '1']]);
      }
      await shadow.settled();
      assert.equal(policies.model.circuitState, 'closed');
      assert.deepEqual(new Set(modelCalls), new Set(['sentiment/1 OK']), "imesh.gateway.model.calls counts the callers' calls, never a shadow's");
      assert.equal(modelCalls.length, 20);
      assert.equal(mesh.inferFor('2'), 20, 'one attempt per shadow: no retries');
      assert.equal(metrics.failed.length, 20);

      // A shadow that never answers: callers go on at once (the model hop's bulkhead of 1 is not taken), and the
      // sampled calls that find the shadow slots busy are shed.
      const hung = new FakeMesh();
      hung.holdInfer.set('2', new Promise<void>(() => {}));
      const slow = shadowedPipeline(hung, { shadowConfig: { maxInFlight: 2 } });
      const started = Date.now();
      for (let i = 0; i < 10; i++) await slow.pipeline.classify({ texts: texts('a'), modelName: '', modelVersion: '', topK: 0 }, budget());
      assert.ok(Date.now() - started < 1_000, `10 calls took ${Date.now() - started} ms`);
      assert.deepEqual([slow.shadow.inFlight, slow.metrics.shed.length], [2, 8]);
      slow.shadow.close();
      await slow.shadow.settled();
    });

    it('merges calls the split chose apart from calls pinned to the same version', async () => {
      const mesh = new FakeMesh();
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const encode = mesh.encode.bind(mesh);
      mesh.encode = async (request) => {
        const answer = encode(request);
        if (mesh.encoded.length === 1) await held;
        return answer;
      };
      const { pipeline, shadow } = shadowedPipeline(mesh, { coalescing: true });
      const classify = (text: string, modelVersion: string) => pipeline.classify({ texts: texts(text), modelName: '', modelVersion, topK: 0 }, budget());
      const first = classify('first', '');
      const waiting = [classify('split a', ''), classify('pinned', '1'), classify('split b', '')];
      release();
      await Promise.all([first, ...waiting]);
      await shadow.settled();
      assert.deepEqual(mesh.encoded.map((e) => e.texts!.map(String)), [['first'], ['split a', 'split b'], ['pinned']]);
      assert.equal(mesh.inferFor('2'), 2, 'the two calls the split chose were shadowed');
    });
  });
});

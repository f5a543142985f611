import * as grpc from '@grpc/grpc-js';
import { loadInferenceProto, type inference, type tokenizer } from '@inference-mesh/protos';
import { EnvReader } from '@inference-mesh/service-kit';
import { strict as assert } from 'node:assert';
import type { Hop } from './config';
import { connectDownstreams, type Downstreams } from './downstreams';
import type { HopPolicy } from './hop-policy';
import { ClassifyPipeline } from './pipeline';
import { LiveVersionSplit, MODEL_VERSION_HEADER, parseVersionWeights, readVersionWeights, VersionSplit } from './version-split';

/** mulberry32: a seeded generator, so the proportions below are the same on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shares(split: VersionSplit, calls: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < calls; i++) {
    const version = split.pick();
    counts.set(version, (counts.get(version) ?? 0) + 1);
  }
  return new Map([...counts].map(([version, count]) => [version, (count / calls) * 100]));
}

function assertWithin(actual: Map<string, number>, expected: Record<string, number>, points: number): void {
  assert.deepEqual([...actual.keys()].sort(), Object.keys(expected).sort());
  for (const [version, percent] of Object.entries(expected)) {
    const got = actual.get(version)!;
    assert.ok(Math.abs(got - percent) <= points, `version ${version}: ${got.toFixed(2)}% of calls, expected ${percent} +/- ${points}`);
  }
}

describe('version split (IMESH_MODEL_VERSION_WEIGHTS)', () => {
  describe('parsing', () => {
    it('reads VERSION=PERCENT pairs that add up to 100', () => {
      assert.deepEqual(parseVersionWeights('1=95,2=5'), [
        { version: '1', weight: 95 },
        { version: '2', weight: 5 },
      ]);
      assert.deepEqual(parseVersionWeights(' 1 = 100 , 2 = 0 '), [
        { version: '1', weight: 100 },
        { version: '2', weight: 0 },
      ]);
    });

    it('says what is wrong with a bad value', () => {
      assert.throws(() => parseVersionWeights('1=95,2=4'), /add up to 99; they must add up to 100/);
      assert.throws(() => parseVersionWeights('1=95;2=5'), /"1=95;2=5" is not VERSION=PERCENT \(for example 1=95,2=5\)/);
      assert.throws(() => parseVersionWeights('v1=95,v2=5'), /"v1=95" is not VERSION=PERCENT/);
      assert.throws(() => parseVersionWeights('1=50,1=50'), /version 1 is listed twice/);
      assert.throws(() => parseVersionWeights('1=100,2=-0'), /"2=-0" is not VERSION=PERCENT/);
      assert.throws(() => parseVersionWeights('1=150'), /version 1 has weight 150; weights are percentages from 0 to 100/);
    });

    it('is off when unset, and a bad value is a configuration error naming the variable', () => {
      const unset = new EnvReader({});
      assert.deepEqual(readVersionWeights(unset), []);
      unset.done();
      const bad = new EnvReader({ IMESH_MODEL_VERSION_WEIGHTS: '1=90,2=5' });
      readVersionWeights(bad);
      assert.throws(() => bad.done(), /IMESH_MODEL_VERSION_WEIGHTS="1=90,2=5": the weights add up to 95; they must add up to 100/);
    });
  });

  describe('picking', () => {
    it('lands 10,000 calls at 95/5 within 1.5 points of the weights (seeded generator)', () => {
      assertWithin(shares(new VersionSplit(parseVersionWeights('1=95,2=5'), seeded(7)), 10_000), { '1': 95, '2': 5 }, 1.5);
    });

    it('lands 10,000 calls at 95/5 within 1.5 points with Math.random (a miss is about 7 standard deviations out)', () => {
      assertWithin(shares(new VersionSplit(parseVersionWeights('1=95,2=5')), 10_000), { '1': 95, '2': 5 }, 1.5);
    });

    it('splits three ways, and never picks a version at weight 0', () => {
      assertWithin(shares(new VersionSplit(parseVersionWeights('1=50,2=0,3=50'), seeded(11)), 10_000), { '1': 50, '3': 50 }, 1.5);
      assert.deepEqual([...shares(new VersionSplit(parseVersionWeights('1=0,2=100'), seeded(3)), 1_000).keys()], ['2']);
    });

    it('maps the edges of the random range to the first and last versions', () => {
      assert.equal(new VersionSplit(parseVersionWeights('1=95,2=5'), () => 0).pick(), '1');
      assert.equal(new VersionSplit(parseVersionWeights('1=95,2=5'), () => 0.9499).pick(), '1');
      assert.equal(new VersionSplit(parseVersionWeights('1=95,2=5'), () => 0.95).pick(), '2');
      assert.equal(new VersionSplit(parseVersionWeights('1=95,2=5'), () => 0.999999).pick(), '2');
    });

    it("picks another version than a given one by the others' weights (the shadow's), never one at weight 0", () => {
      const split = new VersionSplit(parseVersionWeights('1=60,2=0,3=30,4=10'), seeded(5));
      assert.equal(split.hasOtherVersions, true);
      const counts = new Map<string, number>();
      for (let i = 0; i < 10_000; i++) {
        const version = split.pickOther('1')!;
        counts.set(version, (counts.get(version) ?? 0) + 1);
      }
      assertWithin(new Map([...counts].map(([version, count]) => [version, count / 100])), { '3': 75, '4': 25 }, 1.5);
      assert.equal(split.pickOther('9') !== undefined, true, 'a version outside the split: any of the split');
      const edges = (draw: number) => new VersionSplit(parseVersionWeights('1=50,2=25,3=25'), () => draw).pickOther('2');
      assert.deepEqual([edges(0), edges(0.6666), edges(0.6667), edges(0.999999)], ['1', '1', '3', '3']);
    });

    it('has no other version when one version holds every request', () => {
      const alone = new VersionSplit(parseVersionWeights('1=100,2=0'));
      assert.equal(alone.hasOtherVersions, false);
      assert.equal(alone.pickOther('1'), undefined);
      assert.equal(alone.pickOther('2'), '1');
    });
  });

  describe('in the pipeline', () => {
    /** Records the version each tokenizer call asks for; the model answers with the version it was asked for. */
    class VersionRecorder implements Downstreams {
      readonly encoded: string[] = [];
      async encode(request: tokenizer.EncodeRequest): Promise<tokenizer.EncodeResponse__Output> {
        this.encoded.push(`${request.modelName}/${request.modelVersion}`);
        const rows = request.texts!.length;
        return {
          rows,
          sequenceLength: 1,
          inputIds: Buffer.alloc(rows * 8),
          attentionMask: Buffer.alloc(rows * 8),
          truncatedRows: [],
          maxLength: 8,
          tokenizerFingerprint: 'sha256:test',
          modelVersion: request.modelVersion || '9',
        };
      }
      async modelMetadata(request: inference.ModelMetadataRequest): Promise<inference.ModelMetadataResponse__Output> {
        return {
          name: request.name!,
          versions: [request.version!],
          platform: 'test',
          inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [-1, -1] }],
          outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 2] }],
        };
      }
      async modelInfer(request: inference.ModelInferRequest): Promise<inference.ModelInferResponse__Output> {
        const rows = Number(request.inputs![0]!.shape![0]);
        return {
          modelName: request.modelName!,
          modelVersion: request.modelVersion!,
          id: '',
          parameters: {},
          outputs: [{ name: 'logits', datatype: 'FP32', shape: [rows, 2], parameters: {}, contents: null }],
          rawOutputContents: [Buffer.alloc(rows * 8)],
        };
      }
      async postprocess(request: { rows?: number }) {
        return { predictions: Array.from({ length: request.rows! }, () => ({ label: 'positive', score: 1, scores: [] })) };
      }
      close(): void {}
    }

    // The policies are not under test: each runs its attempt once.
    const passThrough = { execute: (attempt: (o: unknown) => Promise<unknown>, deadlineMs: number, signal: AbortSignal) => attempt({ deadlineMs, signal }) };
    const policies = { tokenizer: passThrough, model: passThrough, postprocess: passThrough } as unknown as Record<Hop, HopPolicy>;
    const budget = () => ({ deadlineMs: Date.now() + 5_000, signal: new AbortController().signal });
    const texts = [Buffer.from('a text')];

    it('splits unpinned requests for the default model, keeps a named version, and leaves other models alone', async () => {
      const downstreams = new VersionRecorder();
      const pipeline = new ClassifyPipeline(downstreams as unknown as Downstreams, policies, {
        defaultModel: 'sentiment',
        maxBatchTexts: 8,
        modelVersionWeights: parseVersionWeights('1=50,2=50'),
      });
      const served = new Map<string, number>();
      for (let i = 0; i < 400; i++) {
        const [result] = await pipeline.classify({ texts, modelName: '', modelVersion: '', topK: 0 }, budget());
        const version = result!.modelVersion!;
        served.set(version, (served.get(version) ?? 0) + 1);
      }
      assert.deepEqual([...served.keys()].sort(), ['1', '2']);
      assert.ok(served.get('1')! > 120 && served.get('2')! > 120, `400 calls at 50/50 served ${JSON.stringify([...served])}`);

      downstreams.encoded.length = 0;
      for (let i = 0; i < 200; i++) {
        const [pinned] = await pipeline.classify({ texts, modelName: '', modelVersion: '2', topK: 0 }, budget());
        assert.equal(pinned!.modelVersion, '2');
        await pipeline.classify({ texts, modelName: 'sentiment', modelVersion: '1', topK: 0 }, budget());
        await pipeline.classify({ texts, modelName: 'other', modelVersion: '', topK: 0 }, budget());
      }
      assert.deepEqual(new Set(downstreams.encoded), new Set(['sentiment/2', 'sentiment/1', 'other/']));
    });

    it('follows a live split swapped while it runs (the reloaded file), per request', async () => {
      const downstreams = new VersionRecorder();
      const live = new LiveVersionSplit(parseVersionWeights('1=100,2=0'));
      const pipeline = new ClassifyPipeline(downstreams as unknown as Downstreams, policies, { defaultModel: 'sentiment', maxBatchTexts: 8, liveVersionSplit: live });
      const served = async () => (await pipeline.classify({ texts, modelName: '', modelVersion: '', topK: 0 }, budget()))[0]!.modelVersion;
      assert.equal(await served(), '1');
      live.set(parseVersionWeights('1=0,2=100'));
      assert.equal(await served(), '2');
      live.set([]);
      assert.equal(await served(), '9', 'no split: the version the tokenizer resolves');
    });

    it('asks the tokenizer for no version when no split is configured', async () => {
      const downstreams = new VersionRecorder();
      const pipeline = new ClassifyPipeline(downstreams as unknown as Downstreams, policies, { defaultModel: 'sentiment', maxBatchTexts: 8 });
      const [result] = await pipeline.classify({ texts, modelName: '', modelVersion: '', topK: 0 }, budget());
      assert.deepEqual(downstreams.encoded, ['sentiment/']);
      assert.equal(result!.modelVersion, '9');
    });
  });

  describe('the model call', () => {
    let server: grpc.Server;
    let downstreams: Downstreams;
    const seen: { method: string; header: string[] }[] = [];

    before(async () => {
      const { grpc: proto } = loadInferenceProto();
      server = new grpc.Server();
      const header = (call: grpc.ServerUnaryCall<unknown, unknown>) => call.metadata.get(MODEL_VERSION_HEADER).map(String);
      server.addService(proto.inference.GRPCInferenceService.service, {
        ModelMetadata: (call: grpc.ServerUnaryCall<inference.ModelMetadataRequest__Output, unknown>, callback: grpc.sendUnaryData<unknown>) => {
          seen.push({ method: 'ModelMetadata', header: header(call) });
          callback(null, { name: call.request.name, versions: [call.request.version] });
        },
        ModelInfer: (call: grpc.ServerUnaryCall<inference.ModelInferRequest__Output, unknown>, callback: grpc.sendUnaryData<unknown>) => {
          seen.push({ method: 'ModelInfer', header: header(call) });
          callback(null, { modelName: call.request.modelName, modelVersion: call.request.modelVersion });
        },
      });
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
      );
      const target = `127.0.0.1:${port}`;
      downstreams = connectDownstreams({ tokenizer: target, model: target, postprocess: target }, { maxMessageBytes: 4 * 1024 * 1024 });
    });

    after(() => {
      downstreams?.close();
      server?.forceShutdown();
    });

    it(`carries ${MODEL_VERSION_HEADER} with the version it is for, so a mesh can route it to that version's pods`, async () => {
      const attempt = () => ({ deadlineMs: Date.now() + 5_000, signal: new AbortController().signal });
      await downstreams.modelMetadata({ name: 'sentiment', version: '1' }, attempt());
      await downstreams.modelInfer({ modelName: 'sentiment', modelVersion: '2' }, attempt());
      await downstreams.modelInfer({ modelName: 'sentiment', modelVersion: '' }, attempt());
      assert.deepEqual(seen, [
        { method: 'ModelMetadata', header: ['1'] },
        { method: 'ModelInfer', header: ['2'] },
        { method: 'ModelInfer', header: [] },
      ]);
    });
  });
});

import { status } from '@grpc/grpc-js';
import { isPipelineError, PipelineClient, type ClassifyResult } from '@inference-mesh/client';
import { REPO_ROOT } from '@inference-mesh/launcher';
import { BatchEncoder } from '@inference-mesh/tokenization';
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { useMesh } from './mesh-fixture';

/**
 * A second Hugging Face-style classifier, served only by pointing the mesh at a repository that holds it:
 * tests/fixtures/model-repository/topic/1 (written by tools/model/make_fixture_model.py) is BERT-shaped, with
 * a third input token_type_ids, three labels and another name than the default model.
 */
const TOPIC_DIR = join(REPO_ROOT, 'tests', 'fixtures', 'model-repository', 'topic', '1');
const TOPIC_LABELS = ['world', 'sports', 'science'];
const MAX_LENGTH = 64; // config.json's max_position_embeddings
const TOLERANCE = 1e-5;

/** One text per topic (the fixture's keywords), then texts the fixture has no keyword for. */
const TEXTS = [
  'the war divided the nation and the world watched.',
  'the team won the match on the last day of the season.',
  'a space experiment run from a computer lab.',
  'a gorgeous, witty, seductive movie.',
  'the plot is a tedious, joyless mess.',
];
const KEYWORD_LABELS = ['world', 'sports', 'science'];
/** Well over 64 tokens. */
const LONG_TEXT = 'the team won the match on the last day of the season , and the crowd sang . '.repeat(6);

/**
 * A model repository holding the default model and the fixture, as the README's "Serving another Hugging Face
 * classifier" lays one out. The repository scanner takes real directories only, so the name and version folders
 * are made here and the files in them are links to the committed ones (no copy of the 12 MB default model).
 */
function buildRepository(): string {
  const root = mkdtempSync(join(tmpdir(), 'imesh-models-'));
  const linkVersion = (from: string, model: string, version: string) => {
    const dir = join(root, model, version);
    mkdirSync(dir, { recursive: true });
    for (const file of readdirSync(from)) {
      if (statSync(join(from, file)).isFile()) symlinkSync(join(from, file), join(dir, file));
    }
  };
  const sentiment = join(REPO_ROOT, 'models', 'sentiment');
  for (const version of readdirSync(sentiment)) {
    if (/^[0-9]+$/.test(version)) linkVersion(join(sentiment, version), 'sentiment', version);
  }
  linkVersion(TOPIC_DIR, 'topic', '1');
  return root;
}

interface Expected {
  readonly scores: Readonly<Record<string, number>>;
  readonly label: string;
  readonly truncated: boolean;
}

/** What the mesh should answer, computed in this process: same tokenizer, same model, token_type_ids all 0. */
async function inProcess(texts: readonly string[]): Promise<Expected[]> {
  const encoder = BatchEncoder.fromFile(join(TOPIC_DIR, 'tokenizer.json'), { maxLength: MAX_LENGTH });
  const session = await InferenceSession.create(join(TOPIC_DIR, 'model.onnx'), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const batch = await encoder.encode(texts);
    const shape = [batch.rows, batch.sequenceLength];
    const int64 = (bytes: Buffer) => new BigInt64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
    const outputs = await session.run({
      input_ids: new Tensor('int64', int64(batch.inputIds), shape),
      token_type_ids: new Tensor('int64', new BigInt64Array(batch.rows * batch.sequenceLength), shape),
      attention_mask: new Tensor('int64', int64(batch.attentionMask), shape),
    });
    const logits = outputs.logits!;
    assert.deepEqual(logits.dims, [batch.rows, TOPIC_LABELS.length]);
    const data = logits.data as Float32Array;
    return texts.map((_, row) => {
      const values = Array.from(data.subarray(row * TOPIC_LABELS.length, (row + 1) * TOPIC_LABELS.length));
      const max = Math.max(...values);
      const exps = values.map((v) => Math.exp(v - max));
      const sum = exps.reduce((a, b) => a + b, 0);
      const scores = Object.fromEntries(TOPIC_LABELS.map((label, i) => [label, exps[i]! / sum]));
      return { scores, label: TOPIC_LABELS[values.indexOf(max)]!, truncated: batch.truncatedRows.includes(row) };
    });
  } finally {
    await session.release();
  }
}

function assertWellFormed(result: ClassifyResult): void {
  assert.equal(result.model, 'topic');
  assert.equal(result.modelVersion, '1');
  assert.equal(result.degraded, false);
  assert.ok(TOPIC_LABELS.includes(result.label), `label ${result.label} is not one of the topic model's`);
  assert.deepEqual([...result.scores.map((s) => s.label)].sort(), [...TOPIC_LABELS].sort(), 'top_k 0: every label once');
  const sum = result.scores.reduce((total, s) => total + s.score, 0);
  assert.ok(Math.abs(sum - 1) <= TOLERANCE, `scores sum to ${sum}`);
  for (let i = 1; i < result.scores.length; i++) {
    assert.ok(result.scores[i - 1]!.score >= result.scores[i]!.score, `scores not sorted: ${JSON.stringify(result.scores)}`);
  }
  assert.equal(result.label, result.scores[0]!.label);
  assert.equal(result.score, result.scores[0]!.score);
}

function assertMatches(result: ClassifyResult, want: Expected, text: string): void {
  const where = `${JSON.stringify(text.slice(0, 60))}: mesh ${JSON.stringify(result.scores)}, in-process ${JSON.stringify(want.scores)}`;
  assert.equal(result.label, want.label, where);
  assert.ok(Math.abs(result.score - want.scores[want.label]!) <= TOLERANCE, where);
  for (const { label, score } of result.scores) assert.ok(Math.abs(score - want.scores[label]!) <= TOLERANCE, where);
  assert.equal(result.truncated, want.truncated, `${where}: truncated`);
}

describe('another Hugging Face classifier (BERT-style, 3 labels, token_type_ids) served beside the default model', function () {
  this.timeout(120_000);
  // useMesh reads the options when its `before` runs, after this one has filled them in.
  const env: Record<string, string> = {};
  let repository: string | undefined;
  before(() => {
    repository = buildRepository();
    env.IMESH_MODEL_REPOSITORY = repository;
  });
  const fixture = useMesh({ env });
  let client: PipelineClient;
  let expected: Expected[];
  before(async () => {
    client = new PipelineClient({ target: fixture.mesh.gateway });
    expected = await inProcess(TEXTS);
  });
  after(() => {
    client?.close();
    // useMesh's `after` was registered first: the services have stopped reading the repository by now.
    if (repository) rmSync(repository, { recursive: true, force: true });
  });

  it('the fixture itself: keyword texts get their topic in-process, so a mesh mixing up labels cannot pass', () => {
    assert.deepEqual(expected.slice(0, KEYWORD_LABELS.length).map((e) => e.label), KEYWORD_LABELS);
  });

  it('answers { model: "topic" } with its own labels, every score, sorted, as the model does in-process', async () => {
    const response = await client.classify(TEXTS, { model: 'topic', topK: 0 });
    assert.equal(response.results.length, TEXTS.length);
    response.results.forEach((result, i) => {
      assertWellFormed(result);
      assertMatches(result, expected[i]!, TEXTS[i]!);
    });
  });

  it('cuts a text longer than 64 tokens and says so', async () => {
    const texts = [LONG_TEXT, TEXTS[0]!];
    const want = await inProcess(texts);
    assert.deepEqual(want.map((w) => w.truncated), [true, false], 'the long text needs more than 64 tokens');
    const response = await client.classify(texts, { model: 'topic', topK: 0 });
    response.results.forEach((result, i) => {
      assertWellFormed(result);
      assertMatches(result, want[i]!, texts[i]!);
    });
    assert.equal(response.results[0]!.label, 'sports');
  });

  it('still serves the default model, also while the topic model is asked at the same time', async () => {
    const [sentiment, topic] = await Promise.all([
      client.classify(['a gorgeous, witty, seductive movie.']),
      client.classify([TEXTS[1]!], { model: 'topic' }),
    ]);
    assert.equal(sentiment.results[0]!.model, 'sentiment');
    assert.equal(sentiment.results[0]!.modelVersion, '2');
    assert.equal(sentiment.results[0]!.label, 'positive');
    assert.deepEqual(sentiment.results[0]!.scores.map((s) => s.label).sort(), ['negative', 'positive']);
    assert.equal(topic.results[0]!.model, 'topic');
    assert.equal(topic.results[0]!.label, 'sports');
  });

  it('a version the topic model does not have is NOT_FOUND', async () => {
    await assert.rejects(client.classify(['the team won the match.'], { model: 'topic', version: '2' }), (error: unknown) => {
      assert.ok(isPipelineError(error), `expected a PipelineError, got ${String(error)}`);
      assert.equal(status[error.code], status[status.NOT_FOUND], error.details);
      assert.match(error.details, /topic/);
      return true;
    });
  });
});

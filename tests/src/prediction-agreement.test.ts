import { PipelineClient, type ClassifyResult } from '@inference-mesh/client';
import { readSst2 } from '@inference-mesh/model-tools';
import { strict as assert } from 'node:assert';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inProcessPredictions } from './in-process-predictions';
import { SteadyLoad, type LoadFigures } from './load';
import { useMesh } from './mesh-fixture';
import { buildCanaryRepository, WRONG_CANARY_VERSION } from './wrong-canary';

/** Every request carries these texts, so each compared row's answer is known from in-process inference. */
const TEXTS = readSst2('dev')
  .slice(0, 32)
  .map((row) => row.text);
const SHADOW_TIMEOUT_MS = 2_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One sample of the gateway's /metrics: its labels and value. */
interface MetricSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

function samples(text: string, name: string): MetricSample[] {
  const found: MetricSample[] = [];
  for (const match of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} ([0-9.e+-]+|NaN)$`, 'gm'))) {
    const labels = Object.fromEntries([...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((label) => [label[1]!, label[2]!]));
    found.push({ labels, value: Number(match[2]) });
  }
  return found;
}

/** What the shadow metrics say per served -> shadow version pair. */
interface PairFigures {
  agree: number;
  disagree: number;
  scoreDifference: number;
  shed: number;
  failed: Record<string, number>;
}

function shadowFigures(text: string): Map<string, PairFigures> {
  const pairs = new Map<string, PairFigures>();
  const pairOf = (labels: Readonly<Record<string, string>>) => {
    assert.equal(labels.model_name, 'sentiment', JSON.stringify(labels));
    const key = `${labels.served_version}->${labels.shadow_version}`;
    let figures = pairs.get(key);
    if (!figures) pairs.set(key, (figures = { agree: 0, disagree: 0, scoreDifference: 0, shed: 0, failed: {} }));
    return figures;
  };
  for (const { labels, value } of samples(text, 'imesh_gateway_shadow_rows_total')) {
    const agreement = labels.agreement;
    assert.ok(agreement === 'agree' || agreement === 'disagree', JSON.stringify(labels));
    pairOf(labels)[agreement] += value;
  }
  for (const { labels, value } of samples(text, 'imesh_gateway_shadow_score_difference_total')) pairOf(labels).scoreDifference += value;
  for (const { labels, value } of samples(text, 'imesh_gateway_shadow_shed_total')) pairOf(labels).shed += value;
  for (const { labels, value } of samples(text, 'imesh_gateway_shadow_failed_total')) {
    const failed = pairOf(labels).failed;
    failed[labels.rpc_grpc_status_code!] = (failed[labels.rpc_grpc_status_code!] ?? 0) + value;
  }
  return pairs;
}

/** after - before, per pair (counters only grow). */
function increase(before: Map<string, PairFigures>, after: Map<string, PairFigures>): Map<string, PairFigures> {
  const zero: PairFigures = { agree: 0, disagree: 0, scoreDifference: 0, shed: 0, failed: {} };
  return new Map(
    [...after].map(([pair, now]) => {
      const then = before.get(pair) ?? zero;
      const failed = Object.fromEntries(Object.entries(now.failed).map(([code, count]) => [code, count - (then.failed[code] ?? 0)]).filter(([, count]) => count !== 0));
      return [pair, { agree: now.agree - then.agree, disagree: now.disagree - then.disagree, scoreDifference: now.scoreDifference - then.scoreDifference, shed: now.shed - then.shed, failed }];
    }),
  );
}

/** The figures of the pairs named (served -> shadow), summed. */
function sum(pairs: Map<string, PairFigures>, names: readonly string[]): PairFigures & { rows: number } {
  const total = { agree: 0, disagree: 0, scoreDifference: 0, shed: 0, failed: {} as Record<string, number>, rows: 0 };
  for (const name of names) {
    const figures = pairs.get(name);
    if (!figures) continue;
    total.agree += figures.agree;
    total.disagree += figures.disagree;
    total.scoreDifference += figures.scoreDifference;
    total.shed += figures.shed;
    for (const [code, count] of Object.entries(figures.failed)) total.failed[code] = (total.failed[code] ?? 0) + count;
  }
  total.rows = total.agree + total.disagree;
  return total;
}

/** A row's expected answer per version: in-process inference, version 3 being version 2 with the labels swapped. */
type Expected = ReadonlyMap<string, readonly { label: string; score: number }[]>;

async function expectedAnswers(): Promise<Expected> {
  const name = (label: number) => (label === 1 ? 'positive' : 'negative');
  const [one, two] = await Promise.all([inProcessPredictions('1', TEXTS), inProcessPredictions('2', TEXTS)]);
  return new Map([
    ['1', one.map((p) => ({ label: name(p.label), score: p.score }))],
    ['2', two.map((p) => ({ label: name(p.label), score: p.score }))],
    [WRONG_CANARY_VERSION, two.map((p) => ({ label: name(1 - p.label), score: p.score }))],
  ]);
}

/**
 * What the shadow should measure for served version a against b on TEXTS, from in-process inference: the share of
 * rows with the same label and the mean |score_a - score_b| (each version's score for its own label).
 */
function expectedAgreement(expected: Expected, a: string, b: string): { agreement: number; meanScoreDifference: number } {
  const served = expected.get(a)!;
  const shadow = expected.get(b)!;
  let agree = 0;
  let difference = 0;
  served.forEach((row, i) => {
    const other = shadow[i]!;
    if (other.label === row.label) agree++;
    difference += Math.abs(row.score - other.score);
  });
  return { agreement: agree / served.length, meanScoreDifference: difference / served.length };
}

/** Answers that differ from the served version's in-process answer, as `text: got ..., expected ...`. */
function wrongAnswers(results: readonly ClassifyResult[], expected: Expected): string[] {
  const wrong: string[] = [];
  results.forEach((result, i) => {
    const want = expected.get(result.modelVersion)?.[i];
    if (!want || result.label !== want.label || Math.abs(result.score - want.score) > 1e-4) {
      wrong.push(`${JSON.stringify(TEXTS[i])} from version ${result.modelVersion}: ${result.label} ${result.score}, expected ${JSON.stringify(want)}`);
    }
  });
  return wrong;
}

describe('prediction agreement: the gateway shadows the split\'s calls to the other version and compares the answers (four processes, real gRPC)', function () {
  this.timeout(300_000);
  // sentiment 1, 2 and 3 (version 2 with its labels swapped: healthy and wrong) for every service that reads models.
  const repository = buildCanaryRepository();
  const splitDir = mkdtempSync(join(tmpdir(), 'imesh-agreement-split-'));
  const splitFile = join(splitDir, 'weights');
  /** Replaces the split file whole (the gateway reads it every 200 ms here), as a ConfigMap update does. */
  const writeSplit = (weights: string) => {
    writeFileSync(`${splitFile}.tmp`, `${weights}\n`);
    renameSync(`${splitFile}.tmp`, splitFile);
  };
  writeSplit('1=50,2=50');
  const fixture = useMesh({
    env: { IMESH_MODEL_REPOSITORY: repository.root },
    serviceEnv: {
      gateway: {
        IMESH_MODEL_VERSION_WEIGHTS_FILE: splitFile,
        IMESH_MODEL_VERSION_WEIGHTS_POLL_INTERVAL_MS: '200',
        // Every merged call is shadowed, one shadow at a time: the rest is shed.
        IMESH_SHADOW_SAMPLE: '1',
        IMESH_SHADOW_MAX_IN_FLIGHT: '1',
        IMESH_SHADOW_TIMEOUT_MS: String(SHADOW_TIMEOUT_MS),
      },
    },
  });
  let client: PipelineClient;
  let expected: Expected;
  const report: string[] = [];
  before(async () => {
    client = new PipelineClient({ target: fixture.mesh.gateway });
    expected = await expectedAnswers();
  });
  after(() => {
    client?.close();
    if (report.length > 0) process.stdout.write(`${report.map((line) => `      ${line}`).join('\n')}\n`);
  });
  after(() => {
    // Registered after useMesh's `after`: the services have stopped reading the repository by now.
    repository.cleanup();
    rmSync(splitDir, { recursive: true, force: true });
  });

  async function scrape(): Promise<Map<string, PairFigures>> {
    const listening = fixture.logs.map((line) => /^gateway: (\{.*"msg":"metrics listening".*\})$/.exec(line)).find((match) => match);
    assert.ok(listening, 'the gateway logs its metrics port');
    const port = (JSON.parse(listening[1]!) as { port: number }).port;
    return shadowFigures(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  }

  async function applySplit(weights: string): Promise<void> {
    const seen = fixture.logs.length;
    writeSplit(weights);
    const deadline = Date.now() + 15_000;
    while (!fixture.logs.slice(seen).some((line) => line.includes('"msg":"version split applied"') && line.includes(`"weights":"${weights}"`))) {
      assert.ok(Date.now() < deadline, `the gateway did not apply ${weights}`);
      await sleep(100);
    }
  }

  /**
   * Load through the gateway until what the shadows of `pairs` counted meanwhile is `enough` (or 60 s have passed),
   * then waits for the shadows still running; returns the load's figures, what the metrics counted and the answers
   * that differ from in-process inference.
   */
  async function measure(
    concurrency: number,
    pairs: readonly string[],
    enough: (counted: ReturnType<typeof sum>) => boolean,
    texts: readonly string[] = TEXTS,
  ): Promise<{ load: LoadFigures; shadows: Map<string, PairFigures>; wrong: string[] }> {
    const before = await scrape();
    await using load = new SteadyLoad(client, { concurrency, texts, deadlineMs: 20_000 });
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !enough(sum(increase(before, await scrape()), pairs))) await sleep(250);
    const figures = await load.stop();
    // A shadow ends within its deadline: after that, the counters hold every one started.
    await sleep(SHADOW_TIMEOUT_MS + 500);
    const wrong = texts === TEXTS ? load.outcomes.flatMap((outcome) => (outcome.response ? wrongAnswers(outcome.response.results, expected) : [])) : [];
    return { load: figures, shadows: increase(before, await scrape()), wrong };
  }

  it('a healthy canary (1=50,2=50): the shadowed rows agree as often as versions 1 and 2 do in-process (>= 0.9), the mean score difference is theirs, every caller is answered as without shadowing', async () => {
    const want = expectedAgreement(expected, '1', '2');
    assert.ok(want.agreement >= 0.9, `the texts chosen: versions 1 and 2 agree on ${want.agreement} of them in-process`);
    const { load, shadows, wrong } = await measure(4, ['1->2', '2->1'], (counted) => counted.rows >= 640);
    const compared = sum(shadows, ['1->2', '2->1']);
    const agreement = compared.agree / compared.rows;
    const meanScoreDifference = compared.scoreDifference / compared.rows;
    report.push(
      `1=50,2=50: ${load.sent} requests (${load.failed} failed); shadows compared ${compared.rows} rows (1->2 ${rowsOf(shadows, '1->2')}, 2->1 ${rowsOf(shadows, '2->1')}): ` +
        `agreement ${agreement.toFixed(4)} (in-process ${want.agreement.toFixed(4)}), mean score difference ${meanScoreDifference.toFixed(4)} (in-process ${want.meanScoreDifference.toFixed(4)}); ` +
        `shed ${compared.shed}, failed ${JSON.stringify(compared.failed)}`,
    );
    assert.equal(load.failed, 0, JSON.stringify(load.failures.slice(0, 3)));
    assert.deepEqual(wrong.slice(0, 5), [], 'every caller got its version\'s own answer');
    assert.ok(rowsOf(shadows, '1->2') > 0 && rowsOf(shadows, '2->1') > 0, `both directions compared: ${JSON.stringify([...shadows])}`);
    assert.ok(compared.rows >= 640, `only ${compared.rows} rows compared`);
    assert.ok(agreement >= 0.9, `agreement ${agreement}`);
    assert.ok(Math.abs(agreement - want.agreement) < 0.01, `agreement ${agreement}, in-process ${want.agreement}`);
    assert.ok(Math.abs(meanScoreDifference - want.meanScoreDifference) < 1e-3, `mean score difference ${meanScoreDifference}, in-process ${want.meanScoreDifference}`);
    assert.ok(meanScoreDifference < 0.1, `mean score difference ${meanScoreDifference}`);
    assert.deepEqual(Object.keys(compared.failed).filter((code) => code !== 'DEADLINE_EXCEEDED'), [], 'no shadow failed but by its short deadline');
    assert.equal(sum(shadows, ['1->3', '2->3', '3->1', '3->2']).rows, 0, 'version 3 has no weight: never shadowed to');
  });

  it('a wrong canary (2=50,3=50: version 3 has the labels swapped): the shadowed rows nearly all disagree, and callers still get 0 failures', async () => {
    await applySplit('2=50,3=50');
    const want = expectedAgreement(expected, '2', WRONG_CANARY_VERSION);
    const { load, shadows, wrong } = await measure(4, ['2->3', '3->2'], (counted) => counted.rows >= 640);
    const compared = sum(shadows, ['2->3', '3->2']);
    const disagreement = compared.disagree / compared.rows;
    const meanScoreDifference = compared.scoreDifference / compared.rows;
    report.push(
      `2=50,3=50: ${load.sent} requests (${load.failed} failed); shadows compared ${compared.rows} rows (2->3 ${rowsOf(shadows, '2->3')}, 3->2 ${rowsOf(shadows, '3->2')}): ` +
        `agreement ${(1 - disagreement).toFixed(4)} (in-process ${want.agreement.toFixed(4)}), mean score difference ${meanScoreDifference.toFixed(4)} (in-process ${want.meanScoreDifference.toFixed(4)}); ` +
        `shed ${compared.shed}, failed ${JSON.stringify(compared.failed)}`,
    );
    assert.equal(load.failed, 0, JSON.stringify(load.failures.slice(0, 3)));
    assert.deepEqual(wrong.slice(0, 5), [], 'every caller got its version\'s own answer (version 3\'s wrong ones included)');
    assert.ok(rowsOf(shadows, '2->3') > 0 && rowsOf(shadows, '3->2') > 0, `both directions compared: ${JSON.stringify([...shadows])}`);
    assert.ok(compared.rows >= 640, `only ${compared.rows} rows compared`);
    assert.ok(disagreement >= 0.9, `disagreement ${disagreement}`);
    assert.ok(Math.abs(meanScoreDifference - want.meanScoreDifference) < 1e-3, `mean score difference ${meanScoreDifference}, in-process ${want.meanScoreDifference}`);
    assert.equal(sum(shadows, ['1->2', '2->1', '1->3', '3->1']).rows, 0, 'version 1 left the split: no pair with it');
  });

  it('sheds shadows first: with IMESH_SHADOW_MAX_IN_FLIGHT=1 under 32 callers, shadows are shed and no caller fails', async () => {
    await applySplit('1=50,2=50');
    const pairs = ['1->2', '2->1'];
    const { load, shadows } = await measure(32, pairs, (counted) => counted.shed >= 50 && counted.rows >= 50, [
      'a gorgeous, witty, seductive movie.',
      'an ugly, boring waste of two hours.',
    ]);
    const compared = sum(shadows, pairs);
    report.push(
      `32 callers at 1=50,2=50: ${load.sent} requests (${load.failed} failed) in ${load.ms} ms; shadows compared ${compared.rows} rows ` +
        `(agreement ${(compared.agree / compared.rows).toFixed(4)}), shed ${compared.shed}, failed ${JSON.stringify(compared.failed)}`,
    );
    assert.equal(load.failed, 0, JSON.stringify(load.failures.slice(0, 3)));
    assert.ok(compared.shed > 0, `no shadow shed: ${JSON.stringify([...shadows])}`);
    assert.ok(compared.rows > 0, 'the shadows not shed still compared rows');
  });
});

function rowsOf(pairs: Map<string, PairFigures>, pair: string): number {
  const figures = pairs.get(pair);
  return figures ? figures.agree + figures.disagree : 0;
}

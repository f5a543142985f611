import { strict as assert } from 'node:assert';
import { UsageError } from '@inference-mesh/tool-kit';
import { DEFAULTS, parseArgs, SYNTHETIC_BERT, type BenchOptions } from './args';

const parse = (...argv: string[]) => parseArgs(argv) as BenchOptions;

describe('bench arguments', () => {
  it('defaults to the sentiment model, its repository from the environment, and the suite\'s concurrency levels', () => {
    const model = parse('model');
    assert.deepEqual(model.model, { name: 'sentiment', version: '2', repository: undefined });
    assert.deepEqual(model.concurrency, DEFAULTS.concurrency);
    assert.equal(model.texts, undefined);
    assert.deepEqual(parse('mesh').concurrency, [1, 8, 64, 256]);
    assert.deepEqual(parse('mesh', '--concurrency', '2,4').concurrency, [2, 4]);
  });

  it('takes a model as NAME/VERSION with its repository, and a text limit', () => {
    const options = parse('model', '--model', 'topic/1', '--model-repository', 'tests/fixtures/model-repository', '--texts', '100');
    assert.deepEqual(options.model, { name: 'topic', version: '1', repository: 'tests/fixtures/model-repository' });
    assert.equal(options.texts, 100);
    assert.throws(() => parse('model', '--model', 'topic'), (e: Error) => e instanceof UsageError && /NAME\/VERSION/.test(e.message));
  });

  it('--synthetic-bert brings its own model and defaults, which explicit options still override', () => {
    const heavy = parse('model', '--synthetic-bert');
    assert.deepEqual(heavy.model, { name: SYNTHETIC_BERT.name, version: SYNTHETIC_BERT.version, repository: SYNTHETIC_BERT.repository });
    assert.deepEqual([heavy.durationS, heavy.texts], [SYNTHETIC_BERT.durationS, SYNTHETIC_BERT.texts]);
    assert.deepEqual(heavy.ortBatchSizes, SYNTHETIC_BERT.ortBatchSizes);
    const tuned = parse('model', '--synthetic-bert', '--duration-s', '2', '--ort-batch-sizes', '1,2', '--texts', '64');
    assert.deepEqual([tuned.durationS, tuned.ortBatchSizes, tuned.texts], [2, [1, 2], 64]);
    assert.throws(() => parse('model', '--synthetic-bert', '--model', 'a/1'), UsageError);
  });

  it('overhead: the default concurrency levels and a bulk file of SST-2 dev.tsv twelve times over (--quick: less)', () => {
    const overhead = parse('overhead');
    assert.deepEqual([overhead.concurrency, overhead.bulkTexts], [DEFAULTS.concurrency, DEFAULTS.bulkTexts]);
    assert.equal(parse('overhead', '--quick').bulkTexts, DEFAULTS.quickBulkTexts);
    assert.equal(parse('overhead', '--bulk-texts', '100').bulkTexts, 100);
    assert.throws(() => parse('overhead', '--bulk-texts', '0'), UsageError);
  });
});

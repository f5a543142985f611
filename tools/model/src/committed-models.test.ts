import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { modelFiles, readModelConfig, scanModelRepository } from '@inference-mesh/model-repository';
import { classifyBatch, evaluate, loadVersion } from './evaluate';
import { readSst2, REPO_ROOT } from './sst2';

/**
 * The committed default model, checked through the serving path: tokenizer.json through the tokenizer
 * service's BatchEncoder, model.onnx through onnxruntime-node.
 */
const versions = scanModelRepository(join(REPO_ROOT, 'models')).filter((v) => v.name === 'sentiment');

describe('committed sentiment model', function () {
  this.timeout(300_000);
  const dev = readSst2('dev');

  it('has versions 1 and 2 sharing one tokenizer, each folder under 10 MB', () => {
    assert.deepEqual(versions.map((v) => v.version), ['1', '2']);
    const tokenizers = versions.map((v) => readFileSync(modelFiles(v.dir).tokenizer, 'utf8'));
    assert.equal(tokenizers[0], tokenizers[1]);
    for (const v of versions) {
      const bytes = readdirSync(v.dir).reduce((sum, f) => sum + statSync(join(v.dir, f)).size, 0);
      assert.ok(bytes < 10 * 1024 * 1024, `${v.dir} is ${bytes} bytes`);
    }
  });

  for (const v of versions) {
    describe(`version ${v.version}`, () => {
      it('has a Hugging Face config.json with negative/positive labels and a max sequence length', () => {
        const raw = JSON.parse(readFileSync(modelFiles(v.dir).config, 'utf8'));
        assert.deepEqual(raw.id2label, { 0: 'negative', 1: 'positive' });
        assert.deepEqual(raw.label2id, { negative: 0, positive: 1 });
        const config = readModelConfig(v.dir);
        assert.deepEqual(config.labels, ['negative', 'positive']);
        assert.equal(config.maxSequenceLength, 128);
        assert.equal(config.padTokenId, 0);
      });

      it('takes INT64 input_ids and attention_mask [batch, sequence] and gives FP32 logits [batch, 2]', async () => {
        const { session } = await loadVersion(v.dir);
        try {
          const describe = (m: (typeof session.inputMetadata)[number]) =>
            m.isTensor ? { name: m.name, type: m.type, rank: m.shape.length, dynamic: m.shape.map((d) => typeof d === 'string') } : m;
          assert.deepEqual(session.inputMetadata.map(describe), [
            { name: 'input_ids', type: 'int64', rank: 2, dynamic: [true, true] },
            { name: 'attention_mask', type: 'int64', rank: 2, dynamic: [true, true] },
          ]);
          const [logits] = session.outputMetadata;
          assert.ok(logits?.isTensor);
          assert.equal(logits.name, 'logits');
          assert.equal(logits.type, 'float32');
          assert.equal(typeof logits.shape[0], 'string', 'batch is dynamic');
          assert.equal(logits.shape[1], 2);
        } finally {
          await session.release();
        }
      });

      it('predicts the same for a text alone as inside a padded batch', async () => {
        const { encoder, session } = await loadVersion(v.dir);
        try {
          // Short and long texts together, so most rows carry padding in the batch.
          const texts = dev.filter((_, i) => i % 67 === 0).map((r) => r.text);
          const batched = await classifyBatch(encoder, session, texts);
          for (let i = 0; i < texts.length; i++) {
            const alone = await classifyBatch(encoder, session, [texts[i]!]);
            const inBatch = batched.logits.subarray(i * 2, i * 2 + 2);
            assert.equal(Math.sign(alone.logits[1]! - alone.logits[0]!), Math.sign(inBatch[1]! - inBatch[0]!), texts[i]);
            for (let k = 0; k < 2; k++) assert.ok(Math.abs(alone.logits[k]! - inBatch[k]!) < 1e-4, `${texts[i]}: logit ${k}`);
          }
        } finally {
          await session.release();
        }
      });

      it('scores the accuracy training reported on all of dev.tsv, and at least 0.90', async () => {
        const report = JSON.parse(readFileSync(join(v.dir, 'training-report.json'), 'utf8'));
        const result = await evaluate(v.dir, dev);
        assert.equal(result.rows, 6735);
        assert.ok(
          Math.abs(result.accuracy - report.dev_accuracy) <= 0.001,
          `serving ${result.accuracy} vs training ${report.dev_accuracy}`,
        );
        assert.ok(Math.abs(result.longAccuracy - report.dev_long_accuracy) <= 0.001);
        assert.ok(result.accuracy >= 0.9, `dev accuracy ${result.accuracy}`);
      });
    });
  }
});

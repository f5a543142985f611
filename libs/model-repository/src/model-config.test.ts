import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModelConfig } from './model-config';
import { scanModelRepository, tokenizerFingerprint } from './repository';

function versionDir(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'model-config-'));
  writeFileSync(join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  return dir;
}

describe('readModelConfig', () => {
  it('reads labels in index order, the max length and the pad id', () => {
    const config = readModelConfig(
      versionDir({ id2label: { 1: 'positive', 0: 'negative' }, max_position_embeddings: 128, pad_token_id: 0 }),
    );
    assert.deepEqual(config, { labels: ['negative', 'positive'], maxSequenceLength: 128, padTokenId: 0, typeVocabSize: undefined });
  });

  it('takes the RoBERTa position offset into account and defaults to 512', () => {
    const labels = { 0: 'a', 1: 'b' };
    assert.equal(readModelConfig(versionDir({ id2label: labels, model_type: 'roberta', max_position_embeddings: 514 })).maxSequenceLength, 512);
    assert.equal(readModelConfig(versionDir({ id2label: labels })).maxSequenceLength, 512);
    assert.equal(readModelConfig(versionDir({ id2label: labels, max_seq_length: 64, max_position_embeddings: 512 })).maxSequenceLength, 64);
  });

  it('names the file and the field when the config is wrong', () => {
    assert.throws(() => readModelConfig(versionDir('{not json')), /config\.json: /);
    assert.throws(() => readModelConfig(versionDir({})), /id2label is missing/);
    assert.throws(() => readModelConfig(versionDir({ id2label: { 0: 'a', 2: 'b' } })), /id2label must map 0\.\.1/);
    assert.throws(() => readModelConfig(versionDir({ id2label: { 0: 'a', 1: 'b' }, pad_token_id: -1 })), /pad_token_id must be a non-negative integer/);
  });
});

describe('scanModelRepository', () => {
  it('lists <name>/<version>/ folders that hold a model.onnx, versions in numeric order, following links', () => {
    const root = mkdtempSync(join(tmpdir(), 'model-repo-'));
    for (const [name, version, withModel] of [['b', '10', true], ['b', '9', true], ['a', '1', true], ['a', 'x', true], ['a', '2', false]] as const) {
      mkdirSync(join(root, name, version), { recursive: true });
      if (withModel) writeFileSync(join(root, name, version, 'model.onnx'), '');
    }
    const elsewhere = mkdtempSync(join(tmpdir(), 'model-elsewhere-'));
    mkdirSync(join(elsewhere, '3'));
    writeFileSync(join(elsewhere, '3', 'model.onnx'), '');
    symlinkSync(elsewhere, join(root, 'c'));
    assert.deepEqual(
      scanModelRepository(root).map((v) => `${v.name}/${v.version}`),
      ['a/1', 'b/9', 'b/10', 'c/3'],
    );
  });
});

describe('tokenizerFingerprint', () => {
  it('is a content hash: equal files agree, one changed byte differs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fingerprint-'));
    writeFileSync(join(dir, 'a.json'), '{"model":{"vocab":{"a":0}}}');
    writeFileSync(join(dir, 'b.json'), '{"model":{"vocab":{"a":0}}}');
    writeFileSync(join(dir, 'c.json'), '{"model":{"vocab":{"a":1}}}');
    assert.match(tokenizerFingerprint(join(dir, 'a.json')), /^sha256:[0-9a-f]{64}$/);
    assert.equal(tokenizerFingerprint(join(dir, 'a.json')), tokenizerFingerprint(join(dir, 'b.json')));
    assert.notEqual(tokenizerFingerprint(join(dir, 'a.json')), tokenizerFingerprint(join(dir, 'c.json')));
  });
});

#!/usr/bin/env node
/**
 * `npm run train-model`: learns the WordPiece tokenizer, tokenises SST-2 through the tokenizer service's
 * code path, trains each version of the default `sentiment` model with PyTorch, exports ONNX, and
 * re-scores every version through the serving path (tokenizers + onnxruntime-node).
 *
 *   npm run train-model [-- --versions 1,2] [--epochs N] [--out DIR]
 *   IMESH_PYTHON (default /usr/bin/python3), IMESH_SST2_DIR (default ../shared/datasets/sst2)
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BatchEncoder } from '@inference-mesh/tokenization';
import { categoryChartSvg } from '@inference-mesh/tool-kit';
import { buildTokenizer, SPECIAL_TOKENS } from './build-tokenizer';
import { encodeSplit } from './encode-dataset';
import { evaluate } from './evaluate';
import { readSst2, REPO_ROOT } from './sst2';

const MODEL_NAME = 'sentiment';
const TOKENIZER = { vocabSize: 8192, minFrequency: 2 } as const;
const MAX_POSITIONS = 128;
const MAX_VERSION_DIR_BYTES = 10 * 1024 * 1024;

/** Two versions share the tokenizer and differ in shape and seed: v2 is the canary of v1. */
const COMMON = ['--hidden', '128', '--epochs', '9', '--lr', '2e-3', '--dropout', '0.05'];
const VERSIONS: Readonly<Record<string, readonly string[]>> = {
  '1': [...COMMON, '--layers', '2', '--heads', '4', '--ffn', '512', '--seed', '13'],
  '2': [...COMMON, '--layers', '2', '--heads', '8', '--ffn', '256', '--seed', '29'],
};

interface TrainingReport {
  version: string;
  dev_accuracy: number;
  dev_long_accuracy: number;
  epochs: { epoch: number; dev_accuracy: number; dev_long_accuracy: number }[];
  serving?: object;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      versions: { type: 'string', default: Object.keys(VERSIONS).join(',') },
      epochs: { type: 'string' },
      out: { type: 'string', default: join(REPO_ROOT, 'models', MODEL_NAME) },
    },
  });
  const versions = values.versions!.split(',');
  for (const v of versions) if (!VERSIONS[v]) throw new Error(`unknown version ${v}; known: ${Object.keys(VERSIONS).join(', ')}`);
  const python = process.env.IMESH_PYTHON ?? '/usr/bin/python3';
  const started = Date.now();
  const work = join(REPO_ROOT, 'build', 'model');
  mkdirSync(work, { recursive: true });

  const train = readSst2('train');
  const dev = readSst2('dev');
  const tokenizerPath = join(work, 'tokenizer.json');
  const { vocabSize } = buildTokenizer(train.map((r) => r.text), TOKENIZER, tokenizerPath);
  log(`tokenizer: WordPiece, ${vocabSize} tokens learned from ${train.length} train rows -> ${tokenizerPath}`);

  const encoder = BatchEncoder.fromFile(tokenizerPath, { maxLength: MAX_POSITIONS });
  for (const [name, rows] of [['train', train], ['dev', dev]] as const) {
    const header = await encodeSplit(encoder, rows, work, name);
    log(`encoded ${name} through the serving path: ${header.rows} x ${header.sequenceLength} INT64, ${header.truncatedRows} truncated`);
  }

  // One thread per trainer, all versions at once: on 2 cores this is 2x faster than two threads each,
  // whose OpenMP and BLAS pools fight over the same cores.
  log(`training v${versions.join(', v')} in parallel, one thread each`);
  await Promise.all(
    versions.map((version) => {
      const out = join(values.out!, version);
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out, { recursive: true });
      return run(python, [
        join(REPO_ROOT, 'tools', 'model', 'train.py'),
        '--data', work, '--out', out, '--version', version, '--threads', '1',
        '--vocab-size', String(vocabSize), '--pad-token-id', String(SPECIAL_TOKENS.indexOf('[PAD]')),
        '--max-positions', String(MAX_POSITIONS),
        ...VERSIONS[version]!,
        ...(values.epochs ? ['--epochs', values.epochs] : []),
      ]);
    }),
  );

  for (const version of versions) {
    const out = join(values.out!, version);
    copyFileSync(tokenizerPath, join(out, 'tokenizer.json'));
    const serving = await evaluate(out, dev);
    const reportPath = join(out, 'training-report.json');
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as TrainingReport;
    report.serving = {
      path: 'tokenizers (npm) + onnxruntime-node',
      dev_accuracy: round(serving.accuracy),
      dev_long_accuracy: round(serving.longAccuracy),
    };
    writeFileSync(reportPath, JSON.stringify(report, null, 2) + '\n');
    const bytes = dirBytes(out);
    log(
      `v${version}: dev accuracy ${serving.accuracy.toFixed(4)} through the serving path ` +
        `(PyTorch ${report.dev_accuracy.toFixed(4)}), >= 10 words ${serving.longAccuracy.toFixed(4)}, ` +
        `${(bytes / 1e6).toFixed(2)} MB`,
    );
    if (Math.abs(serving.accuracy - report.dev_accuracy) > 0.001) {
      throw new Error(`v${version}: serving accuracy differs from training accuracy by more than 0.001: train/serve skew`);
    }
    if (bytes > MAX_VERSION_DIR_BYTES) throw new Error(`v${version}: ${out} is ${bytes} bytes, over the 10 MB budget`);
  }
  writeCurves(values.out!);
  log(`done in ${((Date.now() - started) / 60000).toFixed(1)} min`);
}

function writeCurves(modelDir: string): void {
  const reports = readdirSync(modelDir)
    .filter((v) => /^[0-9]+$/.test(v))
    .map((v) => JSON.parse(readFileSync(join(modelDir, v, 'training-report.json'), 'utf8')) as TrainingReport);
  const epochs = [...new Set(reports.flatMap((r) => r.epochs.map((e) => e.epoch)))].sort((a, b) => a - b);
  const byEpoch = (r: TrainingReport, value: (e: TrainingReport['epochs'][number]) => number) =>
    epochs.map((epoch) => {
      const found = r.epochs.find((e) => e.epoch === epoch);
      return found && value(found);
    });
  const series = reports.flatMap((r) => [
    { name: `v${r.version} all dev`, values: byEpoch(r, (e) => e.dev_accuracy) },
    { name: `v${r.version} >= 10 words`, values: byEpoch(r, (e) => e.dev_long_accuracy) },
  ]);
  const svg = categoryChartSvg({
    title: `${MODEL_NAME}: dev accuracy by epoch`,
    yLabel: 'accuracy',
    yAxis: 'fit',
    panels: [{ title: 'dev accuracy', xLabel: 'epoch', categories: epochs.map(String), series }],
  });
  writeFileSync(join(modelDir, 'training-curves.svg'), svg);
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, PYTHONUNBUFFERED: '1' } });
    child.on('error', (error) =>
      reject(new Error(`${command}: ${error.message} (install with: apt-get install -y python3-torch python3-onnx libopenblas0-pthread)`)),
    );
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args[0]} failed (${signal ?? `exit ${code}`})`)),
    );
  });
}

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

function round(x: number): number {
  return Math.round(x * 1e5) / 1e5;
}

function log(message: string): void {
  console.log(`[train-model] ${message}`);
}

main().catch((error: unknown) => {
  console.error(`[train-model] ${(error as Error).message}`);
  process.exit(1);
});

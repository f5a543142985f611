import { status } from '@grpc/grpc-js';
import type { inference } from '@inference-mesh/protos';
import { createLogger } from '@inference-mesh/service-kit';
import { MeterProvider, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayMetrics } from './gateway-metrics';
import { modelServiceSplitCheck, type SplitCheck, type SplitVerdict } from './split-check';
import { SplitReloader } from './split-reloader';
import { formatVersionWeights, parseVersionWeights, type VersionWeight } from './version-split';

/**
 * A ConfigMap volume as the kubelet writes it: the data in a timestamped directory, `..data` a symlink to it, and
 * each key a symlink through `..data`. An update writes a new directory and renames a new `..data` link over the
 * old one (atomically), then removes the old directory: the key's own symlink never changes, which is why a watch
 * on the file misses updates and the reloader reads the path instead.
 */
class ConfigMapVolume {
  readonly dir = mkdtempSync(join(tmpdir(), 'split-volume-'));
  readonly file = join(this.dir, 'weights');
  private generation = 0;
  private current: string | undefined;

  constructor(content: string) {
    this.update(content);
    symlinkSync(join('..data', 'weights'), this.file);
  }

  update(content: string): void {
    const generation = `..2026_12_01_00_00_00.${++this.generation}`;
    mkdirSync(join(this.dir, generation));
    writeFileSync(join(this.dir, generation, 'weights'), content);
    symlinkSync(generation, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.current) rmSync(join(this.dir, this.current), { recursive: true });
    this.current = generation;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A model service that serves `served` (changeable), answering a check as split-check.ts reads it. */
function modelServing(served: Set<string>): { check: SplitCheck; calls: string[] } {
  const calls: string[] = [];
  const model = {
    modelMetadata: async (request: inference.ModelMetadataRequest): Promise<inference.ModelMetadataResponse__Output> => {
      const version = request.version ?? '';
      calls.push(version);
      if (version !== '' && !served.has(version)) {
        throw Object.assign(new Error('not found'), {
          code: status.NOT_FOUND,
          details: `model "sentiment" has no version "${version}"; available versions: ${[...served].join(', ')}`,
        });
      }
      return { name: 'sentiment', versions: version === '' ? [...served] : [version], platform: 'test', inputs: [], outputs: [] };
    },
  };
  return { check: modelServiceSplitCheck(model, 'sentiment'), calls };
}

class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

async function points(reader: CollectingReader, name: string): Promise<Record<string, number>> {
  const { resourceMetrics } = await reader.collect();
  const metric = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).find((m) => m.descriptor.name === name);
  return Object.fromEntries(((metric?.dataPoints ?? []) as DataPoint<number>[]).map((p) => [String(Object.values(p.attributes)[0]), p.value]));
}

async function eventually(what: string, condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const split = (weights: readonly VersionWeight[]) => formatVersionWeights(weights) || 'none';

describe('version split reloading (IMESH_MODEL_VERSION_WEIGHTS_FILE)', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  function setUp(options: { content?: string; initial?: string; served?: string[]; recheckRefusedMs?: number } = {}) {
    const volume = options.content === undefined ? undefined : new ConfigMapVolume(options.content);
    const served = new Set(options.served ?? ['1', '2']);
    const model = modelServing(served);
    const logs: { level: string; msg: string; [key: string]: unknown }[] = [];
    const reader = new CollectingReader();
    const metrics = new GatewayMetrics(new MeterProvider({ readers: [reader] }).getMeter('test'));
    const usable: boolean[] = [];
    const reloader = new SplitReloader({
      initial: options.initial ? parseVersionWeights(options.initial) : [],
      ...(volume && { file: volume.file }),
      pollIntervalMs: 20,
      recheckRefusedMs: options.recheckRefusedMs ?? 60_000,
      check: model.check,
      logger: createLogger('test', 'info', (line) => logs.push(JSON.parse(line))),
      metrics,
      onUsable: (u) => usable.push(u),
    });
    cleanups.push(() => reloader.stop(), () => volume?.remove());
    return { volume: volume!, served, model, logs, reader, reloader, usable, inForce: () => split(reloader.live.weights) };
  }

  it('applies a new split swapped in as the kubelet does (a new ..data symlink), within a few polls, without a restart', async () => {
    const { volume, reloader, inForce, logs } = setUp({ content: '1=100,2=0\n', initial: '1=95,2=5' });
    reloader.load();
    assert.equal(inForce(), '1=100,2=0', 'the file wins over the variable');
    reloader.start();
    for (const next of ['1=0,2=100', '1=50,2=50', '1=90,2=10']) {
      volume.update(`${next}\n`);
      await eventually(`${next} in force`, () => inForce() === next, 2_000);
    }
    assert.ok(logs.some((l) => l.msg === 'version split applied' && l['weights'] === '1=90,2=10' && l['previous'] === '1=50,2=50'), JSON.stringify(logs));
    // The requests' split is the object swapped in: picks follow it at once.
    volume.update('2=100');
    await eventually('2=100 in force', () => inForce() === '2=100');
    assert.equal(reloader.live.current!.pick(), '2');
  });

  it('keeps the last good split when the file holds no split, counts it once, and loads the next good one', async () => {
    const { volume, reloader, inForce, logs, reader } = setUp({ content: '1=90,2=10' });
    reloader.load();
    reloader.start();
    for (const bad of ['1=90,2=5', '', 'v1=100', '{"1": 100}']) {
      volume.update(bad);
      await eventually(`the refusal of ${JSON.stringify(bad)} logged`, () => logs.some((l) => l.level === 'error' && l['content'] === bad));
      await new Promise((resolve) => setTimeout(resolve, 60));
      assert.equal(inForce(), '1=90,2=10');
    }
    assert.deepEqual(await points(reader, 'imesh.gateway.version.split.refused'), { malformed: 4 }, 'once per content, not per poll');
    assert.match(String(logs.find((l) => l['content'] === '1=90,2=5')!['error']), /add up to 95/);
    volume.update('1=80,2=20');
    await eventually('1=80,2=20 in force', () => inForce() === '1=80,2=20');
  });

  it('refuses a split naming a version the model service does not serve, naming the versions it does; the last good split stays', async () => {
    const { volume, reloader, inForce, logs, reader, served, model } = setUp({ content: '1=90,2=10', recheckRefusedMs: 100 });
    reloader.load();
    reloader.start();
    await eventually('the starting split confirmed', () => logs.some((l) => l.msg === 'version split confirmed by the model service'));
    volume.update('1=50,3=50');
    await eventually('the refusal logged', () => logs.some((l) => l.msg.startsWith('version split refused')));
    const refusal = logs.find((l) => l.msg.startsWith('version split refused'))!;
    assert.deepEqual([refusal['weights'], refusal['missing'], refusal['available'], refusal['inForce']], ['1=50,3=50', ['3'], ['1', '2'], '1=90,2=10']);
    assert.match(String(refusal['error']), /no version "3"; available versions: 1, 2/);
    assert.equal(inForce(), '1=90,2=10');
    assert.deepEqual(await points(reader, 'imesh.gateway.version.weight'), { '1': 90, '2': 10 }, 'the gauge shows the split in force');

    // Checked again while the file stays as it is, refused silently (counted once); applied once version 3 is served.
    const checksBefore = model.calls.filter((v) => v === '3').length;
    await eventually('rechecked', () => model.calls.filter((v) => v === '3').length >= checksBefore + 2);
    assert.equal(inForce(), '1=90,2=10');
    assert.deepEqual(await points(reader, 'imesh.gateway.version.split.refused'), { unknown_version: 1 });
    served.add('3');
    await eventually('1=50,3=50 in force once version 3 is served', () => inForce() === '1=50,3=50');
    assert.deepEqual(await points(reader, 'imesh.gateway.version.weight'), { '1': 50, '2': 0, '3': 50 }, 'a version that left the split reads 0');
  });

  it('checks only versions with a weight above 0 (a rolled-back canary may be gone)', async () => {
    const { volume, reloader, inForce } = setUp({ content: '1=90,2=10', served: ['1', '2'] });
    reloader.load();
    reloader.start();
    volume.update('1=100,3=0');
    await eventually('1=100,3=0 in force', () => inForce() === '1=100,3=0');
  });

  it('at start with a split the model service refuses: serves the latest, reports not usable, recovers when the file is fixed', async () => {
    const { volume, reloader, inForce, logs, usable, reader } = setUp({ content: '1=50,3=50', served: ['1', '2'] });
    reloader.load();
    assert.equal(inForce(), '1=50,3=50', 'in force until the model service answers');
    reloader.start();
    await eventually('refused', () => usable.length === 1);
    assert.deepEqual(usable, [false]);
    assert.equal(inForce(), 'none');
    assert.deepEqual(await points(reader, 'imesh.gateway.version.weight'), { latest: 100 });
    volume.update('1=100');
    await eventually('fixed', () => inForce() === '1=100');
    assert.deepEqual(usable, [false, true]);
    assert.deepEqual(await points(reader, 'imesh.gateway.version.weight'), { latest: 0, '1': 100 });
    const refusal = logs.find((l) => l.level === 'error')!;
    assert.match(refusal.msg, /no good split is left, so unpinned requests get the latest version/);
    assert.deepEqual(refusal['available'], ['1', '2']);
  });

  it('at start with a file that holds no split (and no variable): the latest, not usable, until the file holds one', async () => {
    const { volume, reloader, inForce, usable, reader } = setUp({ content: '1=95;2=5' });
    reloader.load();
    reloader.start();
    assert.deepEqual(usable, [false]);
    assert.equal(inForce(), 'none');
    assert.deepEqual(await points(reader, 'imesh.gateway.version.split.refused'), { malformed: 1 });
    volume.update('1=95,2=5');
    await eventually('fixed', () => inForce() === '1=95,2=5');
    assert.deepEqual(usable, [false, true]);
  });

  it('with IMESH_MODEL_VERSION_WEIGHTS only: the variable is the split, checked once the model service answers', async () => {
    let answer: SplitVerdict = { kind: 'unknown', message: 'connection refused' };
    const checked: string[] = [];
    const reloader = new SplitReloader({
      initial: parseVersionWeights('1=95,2=5'),
      pollIntervalMs: 20,
      check: async (weights) => {
        checked.push(formatVersionWeights(weights));
        return answer;
      },
      logger: createLogger('test', 'error', () => {}),
    });
    cleanups.push(() => reloader.stop());
    reloader.load();
    reloader.start();
    await eventually('asked while unanswered', () => checked.length >= 3);
    assert.equal(split(reloader.live.weights), '1=95,2=5', 'in force while the model service does not answer');
    answer = { kind: 'served' };
    await eventually('confirmed', () => checked.length >= 4);
    const count = checked.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(checked.length, count, 'no more checks once confirmed, with no file to poll');
    assert.equal(split(reloader.live.weights), '1=95,2=5');
  });

  it('a file that cannot be read keeps the split in force (the variable at start), and is read once it appears', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'split-missing-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'weights');
    const logs: string[] = [];
    const reloader = new SplitReloader({
      initial: parseVersionWeights('1=95,2=5'),
      file,
      pollIntervalMs: 20,
      check: modelServing(new Set(['1', '2'])).check,
      logger: createLogger('test', 'warn', (line) => logs.push(line)),
    });
    cleanups.push(() => reloader.stop());
    reloader.load();
    reloader.start();
    assert.equal(split(reloader.live.weights), '1=95,2=5');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(logs.length, 1, `one warning, not one per poll: ${logs.join('\n')}`);
    writeFileSync(file, '1=10,2=90');
    await eventually('read once it exists', () => split(reloader.live.weights) === '1=10,2=90');
  });

  describe('the check against the model service', () => {
    it('is undecided when the model service does not answer, and refuses a version that failed to load', async () => {
      const unreachable = modelServiceSplitCheck(
        { modelMetadata: async () => Promise.reject(Object.assign(new Error('x'), { code: status.UNAVAILABLE, details: 'No connection established' })) },
        'sentiment',
      );
      assert.deepEqual(await unreachable(parseVersionWeights('1=100')), { kind: 'unknown', message: 'No connection established' });
      const failed = modelServiceSplitCheck(
        {
          modelMetadata: async (request) => {
            if (request.version === '2') throw Object.assign(new Error('x'), { code: status.FAILED_PRECONDITION, details: 'version 2 failed to load' });
            return { name: 'sentiment', versions: ['1'], platform: '', inputs: [], outputs: [] };
          },
        },
        'sentiment',
      );
      assert.deepEqual(await failed(parseVersionWeights('1=50,2=50')), {
        kind: 'refused',
        reason: 'not_ready',
        missing: ['2'],
        available: ['1'],
        message: 'version 2 failed to load',
      });
    });
  });
});

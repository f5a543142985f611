// Bulk work goes on past a bad line, against the real mesh: the SDK's classifyAll yields a refused text's own
// error and classifies the rest; `imesh classify --file` prints an error line for it and exits 1 (or, with
// --skip-invalid, leaves it out and counts it on stderr; the exit status is 1 either way).
import { PipelineClient } from '@inference-mesh/client';
import { strict as assert } from 'node:assert';
import { runImesh } from './imesh-cli';
import { useMesh } from './mesh-fixture';

const jsonLines = (text: string) => text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);

describe('bulk classification past bad lines (the real mesh)', function () {
  this.timeout(120_000);
  const fixture = useMesh();

  it('classifyAll yields each refused text with its own error and classifies the rest, in order', async () => {
    const client = new PipelineClient({ target: fixture.mesh.gateway });
    try {
      const texts = ['a masterpiece', '', 'a waste of time', '', 'thrilling and heartfelt'];
      const items: unknown[] = [];
      for await (const item of client.classifyAll(texts, { batchSize: 2 })) {
        items.push(item.error ? [item.index, item.text, item.error.codeName, item.error.details] : [item.index, item.text, item.result.label]);
      }
      assert.deepEqual(items, [
        [0, 'a masterpiece', 'positive'],
        [1, '', 'INVALID_ARGUMENT', 'texts[1] is empty: every text needs at least one character'],
        [2, 'a waste of time', 'negative'],
        [3, '', 'INVALID_ARGUMENT', 'texts[3] is empty: every text needs at least one character'],
        [4, 'thrilling and heartfelt', 'positive'],
      ]);
    } finally {
      client.close();
    }
  });

  it("printf 'good\\nbad\\n\\n' | npx imesh classify --file - prints both results and an error line, and exits 1", async () => {
    const run = await runImesh(['classify', '--target', fixture.mesh.gateway, '--file', '-'], 'a masterpiece\na waste of time\n\n');
    assert.equal(run.code, 1, run.stderr);
    const lines = jsonLines(run.stdout);
    assert.deepEqual(lines.map((line) => [line.text, line.label ?? line.error]), [
      ['a masterpiece', 'positive'],
      ['a waste of time', 'negative'],
      ['', { code: 'INVALID_ARGUMENT', message: 'texts[2] is empty: every text needs at least one character' }],
    ]);
    assert.equal(lines[2]!.line, 3);
    assert.equal(run.stderr, 'imesh: 1 of 3 lines of stdin refused by the server (their error lines are in the output)\n');
  });

  it('--skip-invalid leaves the refused lines out, counts them on stderr, and still exits 1', async () => {
    const run = await runImesh(['classify', '--target', fixture.mesh.gateway, '--file', '-', '--skip-invalid'], '\na masterpiece\n\na waste of time\n');
    assert.equal(run.code, 1, run.stderr);
    assert.deepEqual(jsonLines(run.stdout).map((line) => [line.text, line.label]), [
      ['a masterpiece', 'positive'],
      ['a waste of time', 'negative'],
    ]);
    assert.equal(run.stderr, 'imesh: skipped 2 of 4 lines of stdin: refused by the server\n');
  });
});

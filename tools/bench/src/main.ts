#!/usr/bin/env node
/**
 * `npm run bench -- <suite> [options]`: closed-loop benchmarks of the mesh's services. Suites: `model` (the model
 * service, dynamic batching on and off, against ONNX Runtime in-process); `mesh` (the whole pipeline through the
 * gateway against the same parts in one process); `overhead` (the mesh and its hops against a bare grpc-js echo at
 * the same message sizes and a one-process server of the same API); `queue` (bulk through RabbitMQ and the
 * queue-worker against bulk straight to the gateway).
 */
import { REPO_ROOT } from '@inference-mesh/launcher';
import { join, resolve } from 'node:path';
import { UsageError } from '@inference-mesh/tool-kit';
import { parseArgs, USAGE, type BenchOptions } from './args';
import { runMeshSuite } from './mesh-suite';
import { runModelSuite } from './model-suite';
import { runOverheadSuite } from './overhead-suite';
import { runQueueSuite } from './queue-suite';
import { killRunningServices } from './service-process';

async function main(argv: readonly string[]): Promise<number> {
  let parsed: BenchOptions | 'help';
  try {
    parsed = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`imesh-bench: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed === 'help') {
    console.log(USAGE);
    return 0;
  }
  const options = parsed;
  const outDir = options.out !== undefined ? resolve(options.out) : join(REPO_ROOT, 'bench', options.quick ? 'quick' : 'results');
  const command = ['npm run bench --', ...argv].join(' ');
  const context = { outDir, command, repoRoot: REPO_ROOT, log: (line: string) => console.log(line) };

  switch (options.suite) {
    case 'model': {
      const result = await runModelSuite(options, context);
      // The bench reports targets, it does not gate on them; it fails only when something went wrong.
      return result.errors > 0 || result.problems.length > 0 ? 1 : 0;
    }
    case 'mesh': {
      const result = await runMeshSuite(options, context);
      return result.errors > 0 || result.problems.length > 0 ? 1 : 0;
    }
    case 'overhead': {
      const result = await runOverheadSuite(options, context);
      return result.errors > 0 || result.problems.length > 0 ? 1 : 0;
    }
    case 'queue': {
      const result = await runQueueSuite(options, context);
      return result.errors > 0 || result.problems.length > 0 ? 1 : 0;
    }
  }
}

// Services run in process groups of their own, so Ctrl-C reaches only this process: take them down with it.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killRunningServices();
    process.exit(130);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    killRunningServices();
    console.error('imesh-bench failed:', error instanceof Error ? (error.stack ?? error.message) : error);
    process.exitCode = 1;
  },
);

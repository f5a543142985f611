import { runQueueWorker } from './server';

runQueueWorker(process.env).catch((error: unknown) => {
  process.stderr.write(`queue-worker: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});

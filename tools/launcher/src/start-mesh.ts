#!/usr/bin/env node
// `npm start`: the whole mesh on this machine, on the default ports unless IMESH_<SERVICE>_PORT says otherwise.
import { DEFAULT_PORTS } from '@inference-mesh/service-kit';
import { MESH_SERVICES, startMesh, type MeshService } from './mesh';

async function main(): Promise<void> {
  const ports = Object.fromEntries(
    MESH_SERVICES.map((service) => [service, Number(process.env[`IMESH_${service.toUpperCase()}_PORT`] ?? DEFAULT_PORTS[service])]),
  ) as Record<MeshService, number>;
  const verbose = process.env.IMESH_START_VERBOSE === '1';
  process.stdout.write('starting tokenizer, model, postprocess, then gateway ...\n');
  const mesh = await startMesh({
    ports,
    host: process.env.IMESH_HOST ?? '127.0.0.1',
    readyTimeoutMs: 120_000,
    onLog: (service, line) => {
      // Warnings and errors always show; the rest with IMESH_START_VERBOSE=1.
      if (verbose || /"level":"(warn|error)"/.test(line) || !line.startsWith('{')) process.stdout.write(`${service.padEnd(11)} ${line}\n`);
    },
  });
  process.stdout.write('\ninference-mesh is SERVING:\n');
  for (const service of MESH_SERVICES) {
    process.stdout.write(`  ${service.padEnd(11)} ${mesh.services[service].address}  (pid ${mesh.services[service].process.pid})\n`);
  }
  process.stdout.write(`\ntry:  npx imesh classify "a gorgeous, witty, seductive movie."\n      npx imesh health\nCtrl-C stops everything.\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the services ...\n`);
    mesh.stop().then(() => {
      process.stdout.write('stopped.\n');
      process.exit(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  for (const service of MESH_SERVICES) {
    mesh.services[service].process.once('exit', (code, signal) => {
      if (stopping) return;
      process.stderr.write(`${service} exited unexpectedly (${signal ?? `code ${code}`}); stopping the rest\n`);
      stopping = true;
      void mesh.stop().then(() => process.exit(1));
    });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`npm start failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});

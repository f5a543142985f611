#!/usr/bin/env node
// `npm start`: the whole mesh on this machine, on the default ports unless IMESH_<SERVICE>_PORT says otherwise.
// A service that exits on its own is started again (the others keep serving); the launcher's own death, however
// it comes, takes every service with it (they watch its IPC channel).
import { DEFAULT_PORTS } from '@inference-mesh/service-kit';
import { DEFAULT_RESTART_POLICY, MESH_SERVICES, startMesh, type MeshEvent } from './mesh';

/** Ctrl-C, a supervisor's stop, a closed terminal: each stops the mesh in order, gateway first. */
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Where `imesh` looks for the gateway when given no --target. */
const CLI_DEFAULT_TARGET = `127.0.0.1:${DEFAULT_PORTS.gateway}`;

async function main(): Promise<void> {
  // A closed terminal (SIGHUP) makes every write fail; the services must still be stopped, in order.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  const verbose = process.env.IMESH_START_VERBOSE === '1';
  process.stdout.write('starting tokenizer, model, postprocess, then gateway ...\n');
  // A signal while the mesh starts: exit at once. The services watch this process's IPC channel, so those still
  // starting exit when it closes and those already serving drain briefly and exit.
  const abandon = (signal: NodeJS.Signals) => {
    process.stdout.write(`\n${signal} while starting: stopping the services ...\n`);
    process.exit(1);
  };
  for (const signal of SIGNALS) process.on(signal, abandon);
  const mesh = await startMesh({
    // Each service reads its own IMESH_<SERVICE>_PORT, so a bad value is reported as the user wrote it.
    ports: 'environment',
    host: process.env.IMESH_HOST ?? '127.0.0.1',
    readyTimeoutMs: 120_000,
    restart: DEFAULT_RESTART_POLICY,
    onLog: (service, line) => {
      // Warnings and errors always show, in short; everything, as logged, with IMESH_START_VERBOSE=1.
      if (verbose) process.stdout.write(`${service.padEnd(11)} ${line}\n`);
      else if (/"level":"(warn|error)"/.test(line) || !line.startsWith('{')) process.stdout.write(`${service.padEnd(11)} ${inShort(line)}\n`);
    },
    onEvent: (event) => process.stderr.write(`${describe(event)}\n`),
  });
  process.stdout.write('\ninference-mesh is SERVING:\n');
  for (const service of MESH_SERVICES) {
    process.stdout.write(`  ${service.padEnd(11)} ${mesh.services[service].address}  (pid ${mesh.services[service].process.pid})\n`);
  }
  const target = mesh.gateway === CLI_DEFAULT_TARGET ? '' : ` --target ${mesh.gateway}`;
  process.stdout.write(
    `\ntry:  npx imesh classify${target} "a gorgeous, witty, seductive movie."\n      npx imesh health${target}\nCtrl-C stops everything.\n`,
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the services ...\n`);
    void mesh.stop().then(() => {
      process.stdout.write('stopped.\n');
      process.exit(0);
    });
  };
  for (const signal of SIGNALS) {
    process.off(signal, abandon);
    process.on(signal, stop);
  }
}

/** A JSON log line as a person reads it: level, message, the error's own message (no stack), the other fields. */
function inShort(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { time: _time, service: _service, level, msg, error, ...fields } = record;
  if (typeof msg !== 'string') return line;
  const cause = typeof error === 'object' && error !== null && 'message' in error ? `: ${String(error.message)}` : '';
  return `${String(level)}: ${msg}${cause}${Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : ''}`;
}

function describe(event: MeshEvent): string {
  const seconds = (ms: number) => `${ms / 1000} s`;
  switch (event.kind) {
    case 'exited':
      return `${event.service} (pid ${event.pid}) exited unexpectedly (${event.how}); restarting it in ${seconds(event.restartInMs ?? 0)} on the same port`;
    case 'restarted':
      return `${event.service} restarted: ${event.address}  (pid ${event.pid})`;
    case 'restart-failed':
      return `${event.service} did not restart: ${event.error}\n${event.service}: trying again in ${seconds(event.restartInMs)}`;
  }
}

main().catch((error: unknown) => {
  // A MeshStartError's message holds each service's own report, once.
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`npm start failed:\n${message}\n`);
  process.exit(1);
});

import { freePort, terminate } from '@inference-mesh/launcher';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

/** One sample of an instant vector, as Prometheus's HTTP API returns it. */
export interface Sample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PrometheusOptions {
  /** Scrape jobs: job name -> `host:port` serving /metrics. */
  readonly targets: Readonly<Record<string, string>>;
  /** More scrape jobs, as Prometheus's configuration file writes them (several targets, target labels). */
  readonly scrapeConfigs?: readonly Readonly<Record<string, unknown>>[];
  /** Rule files Prometheus loads and evaluates (absolute paths). */
  readonly ruleFiles?: readonly string[];
  /** Scrape and rule evaluation interval; short, so a test sees a change within seconds. Default 1 s. */
  readonly intervalSeconds?: number;
}

export interface RunningPrometheus {
  readonly url: string;
  /** An instant query; rejects with Prometheus's own message when the expression does not parse or fails. */
  query(expression: string): Promise<Sample[]>;
  /** GET an API path (e.g. /api/v1/rules) and return its `data`. */
  api<T>(path: string): Promise<T>;
  stop(): Promise<void>;
}

const NOT_INSTALLED = 'prometheus is not installed (no `prometheus` on PATH): install it to run this suite (Debian and Ubuntu: apt-get install prometheus)';

/**
 * A real Prometheus (the `prometheus` binary on PATH: Debian's package) with a generated scrape configuration, its
 * TSDB in a temporary directory and its web API on a free loopback port. Resolves once /-/ready answers.
 */
export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const interval = `${options.intervalSeconds ?? 1}s`;
  const dir = mkdtempSync(join(tmpdir(), 'imesh-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(
    configFile,
    stringify({
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      rule_files: options.ruleFiles ?? [],
      scrape_configs: [
        ...Object.entries(options.targets).map(([job, target]) => ({ job_name: job, static_configs: [{ targets: [target] }] })),
        ...(options.scrapeConfigs ?? []),
      ],
    }),
  );
  // The port is found free, then handed to Prometheus: another process may take it in between, so try again.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      'prometheus',
      [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    // Without a listener, a missing binary's ENOENT would be an uncaught error, failing whichever test or hook
    // of any suite runs when it arrives instead of the one that asked for Prometheus.
    const notStarted = new Promise<never>((_, reject) =>
      child.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'ENOENT' ? new Error(NOT_INSTALLED) : error)),
    );
    const stderr: string[] = [];
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const url = `http://127.0.0.1:${port}`;
    try {
      await Promise.race([waitUntilReady(url, child, stderr, 30_000), notStarted]);
    } catch (error) {
      await terminate(child, 10_000);
      if (child.pid === undefined) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
      lastError = error;
      continue;
    }
    return {
      url,
      query: async (expression) => {
        const data = await apiGet<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>(
          url,
          `/api/v1/query?query=${encodeURIComponent(expression)}`,
        );
        if (data.resultType !== 'vector') throw new Error(`${expression}: expected an instant vector, got a ${data.resultType}`);
        return data.result.map(({ metric, value }) => ({ metric, value: Number(value[1]) }));
      },
      api: (path) => apiGet(url, path),
      stop: async () => {
        await terminate(child, 10_000);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

async function apiGet<T>(url: string, path: string): Promise<T> {
  const response = await fetch(url + path);
  const body = (await response.json()) as { status: string; data?: T; errorType?: string; error?: string };
  if (body.status !== 'success') throw new Error(`${decodeURIComponent(path)}: ${body.errorType}: ${body.error}`);
  return body.data as T;
}

async function waitUntilReady(url: string, child: ChildProcess, stderr: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with code ${child.exitCode}: ${stderr.join('').slice(-2000)}`);
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`prometheus at ${url} was not ready within ${timeoutMs} ms: ${stderr.join('').slice(-2000)}`);
}

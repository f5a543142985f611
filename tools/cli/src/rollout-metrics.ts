import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { canaryShare, type AnalysisVerdict, type RolloutPhase, type RolloutState } from './rollout-state';

const VERDICTS: readonly AnalysisVerdict[] = ['pass', 'fail', 'inconclusive'];
const PHASES: readonly RolloutPhase[] = ['progressing', 'paused', 'promoted', 'rolled-back', 'aborted'];

/**
 * The rollout in Prometheus's text format, for the dashboard's rollout row: the canary's share, the phase, and the
 * analyses by verdict. Counted from the recorded history, so a restarted controller reports the same totals.
 */
export function rolloutMetricsText(state: RolloutState): string {
  const labels = `model=${JSON.stringify(state.model)},stable=${JSON.stringify(state.stable)},canary=${JSON.stringify(state.canary)}`;
  const counts = new Map<AnalysisVerdict, number>(VERDICTS.map((verdict) => [verdict, 0]));
  for (const record of state.history) counts.set(record.verdict, (counts.get(record.verdict) ?? 0) + 1);
  return [
    '# HELP imesh_rollout_canary_share The canary\'s share of the default model\'s unpinned requests, as the controller last wrote it',
    '# TYPE imesh_rollout_canary_share gauge',
    `imesh_rollout_canary_share{${labels}} ${canaryShare(state)}`,
    '# HELP imesh_rollout_phase 1 for the phase the rollout is in',
    '# TYPE imesh_rollout_phase gauge',
    ...PHASES.map((phase) => `imesh_rollout_phase{${labels},phase="${phase}"} ${state.phase === phase ? 1 : 0}`),
    '# HELP imesh_rollout_analyses_total Analyses of the rollout\'s steps, by verdict',
    '# TYPE imesh_rollout_analyses_total counter',
    ...VERDICTS.map((verdict) => `imesh_rollout_analyses_total{${labels},verdict="${verdict}"} ${counts.get(verdict)}`),
    '',
  ].join('\n');
}

/** Serves GET /metrics from `current()` on `port` (0: a free one); resolves once listening. */
export async function serveRolloutMetrics(port: number, current: () => RolloutState | undefined): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    const state = current();
    if (request.url !== '/metrics' || !state) {
      response.writeHead(request.url === '/metrics' ? 503 : 404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(rolloutMetricsText(state));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

// The PromQL of k8s/monitoring, read as the tests that run it against a real Prometheus need it.
import { REPO_ROOT } from '@inference-mesh/launcher';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const MONITORING_DIR = join(REPO_ROOT, 'k8s', 'monitoring');

/** The panels that need the queue worker and its broker running: checked by tests/src/queue-scale-from-zero.test.ts. */
export const QUEUE_PANEL_SERIES = /\b(imesh_queue_worker_|rabbitmq_)/;

/** Every PromQL expression of the Grafana dashboard (k8s/monitoring/dashboard.json), with Grafana's interval variable as Grafana would fill it. */
export function dashboardExpressions(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(join(MONITORING_DIR, 'dashboard.json'), 'utf8')) as {
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr.replaceAll('$__rate_interval', '1m') })),
  );
}

/** A rule file's alerts, each split into the signal it compares and the whole expression (`<signal> <op> <threshold>`). */
export function alertRules(file: string): { alert: string; expr: string; signal: string }[] {
  const rules = parse(readFileSync(file, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  return rules.groups.flatMap((group) =>
    group.rules.map(({ alert, expr }) => {
      const comparison = /^([\s\S]+?)\s*(>|<|>=|<=|==|!=)\s*([0-9.]+)\s*$/.exec(expr);
      assert.ok(comparison, `${alert}: expected "<signal> <comparison> <threshold>", got ${expr}`);
      return { alert, expr, signal: comparison[1]! };
    }),
  );
}

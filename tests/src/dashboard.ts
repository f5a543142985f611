import { REPO_ROOT } from '@inference-mesh/launcher';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every PromQL expression of the Grafana dashboard (k8s/monitoring/dashboard.json), with Grafana's interval variable as Grafana would fill it. */
export function dashboardExpressions(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'k8s', 'monitoring', 'dashboard.json'), 'utf8')) as {
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr.replaceAll('$__rate_interval', '1m') })),
  );
}

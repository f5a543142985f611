import { canaryStatus, countedOncePerPod, queryByLabel, type CanaryStatusOptions } from './canary-status';
import type { AnalysisRecord, AnalysisVerdict } from './rollout-state';

/** What one analysis reads and the limits it judges by; `window` is the step's hold. */
export interface AnalysisOptions extends CanaryStatusOptions {
  /** Shadowed rows with the same label, as a share of all compared rows, below which the canary fails. 0: not judged. */
  readonly minAgreement: number;
  /** Mean |score difference| over compared rows above which the canary fails. */
  readonly maxScoreDifference: number;
  /** Compared rows an agreement verdict needs; fewer: inconclusive. */
  readonly minAgreementRows: number;
}

/**
 * One analysis: error ratio and p99 against the stable version (`imesh canary status`'s rule), then prediction
 * agreement from the gateway's shadowed comparisons between the two versions. Any failing signal fails the
 * analysis; otherwise one without enough data makes it inconclusive, never a pass.
 */
export async function analyseStep(options: AnalysisOptions, share: number, now: Date): Promise<AnalysisRecord> {
  const [health, agreement] = await Promise.all([canaryStatus(options), options.minAgreement > 0 ? readAgreement(options) : undefined]);
  const verdicts: AnalysisVerdict[] = [health.decision === 'promote' ? 'pass' : health.decision === 'rollback' ? 'fail' : 'inconclusive'];
  const reasons = [...health.reasons];
  const metrics: Record<string, number | null> = {
    stableRequests: finite(health.stable.requests),
    canaryRequests: finite(health.canary.requests),
    stableErrorRatio: finite(health.stable.errorRatio),
    canaryErrorRatio: finite(health.canary.errorRatio),
    stableP99Ms: finite(health.stable.p99Seconds * 1000),
    canaryP99Ms: finite(health.canary.p99Seconds * 1000),
  };
  if (agreement) {
    metrics['comparedRows'] = agreement.rows;
    metrics['agreement'] = agreement.rows > 0 ? agreement.agreeing / agreement.rows : null;
    metrics['meanScoreDifference'] = agreement.rows > 0 ? agreement.scoreDifference / agreement.rows : null;
    if (agreement.rows < options.minAgreementRows) {
      verdicts.push('inconclusive');
      reasons.push(`${Math.round(agreement.rows)} shadowed rows compared in the last ${options.window}; an agreement verdict needs ${options.minAgreementRows}`);
    } else {
      const share = agreement.agreeing / agreement.rows;
      const meanDifference = agreement.scoreDifference / agreement.rows;
      const bad = share < options.minAgreement || meanDifference > options.maxScoreDifference;
      verdicts.push(bad ? 'fail' : 'pass');
      reasons.push(
        `agreement ${(share * 100).toFixed(1)}% of ${Math.round(agreement.rows)} rows (limit ${(options.minAgreement * 100).toFixed(1)}%), ` +
          `mean score difference ${meanDifference.toFixed(4)} (limit ${options.maxScoreDifference})`,
      );
    }
  }
  const verdict: AnalysisVerdict = verdicts.includes('fail') ? 'fail' : verdicts.includes('inconclusive') ? 'inconclusive' : 'pass';
  return { time: now.toISOString(), share, verdict, reasons, metrics };
}

interface Agreement {
  readonly rows: number;
  readonly agreeing: number;
  readonly scoreDifference: number;
}

/** The gateway's shadow comparisons between the two versions, either one served, over the window. */
async function readAgreement(options: AnalysisOptions): Promise<Agreement> {
  const versions = `"${options.stable}|${options.canary}"`;
  const selector = `model_name=${JSON.stringify(options.model)},served_version=~${versions},shadow_version=~${versions}`;
  const [rows, difference] = await Promise.all([
    queryByLabel(options.prometheusUrl, countedOncePerPod('agreement', `increase(imesh_gateway_shadow_rows_total{${selector}}[${options.window}])`), 'agreement'),
    queryByLabel(options.prometheusUrl, `${countedOncePerPod('model_name', `increase(imesh_gateway_shadow_score_difference_total{${selector}}[${options.window}])`)}`, 'model_name'),
  ]);
  const agreeing = rows.get('agree') ?? 0;
  return { rows: agreeing + (rows.get('disagree') ?? 0), agreeing, scoreDifference: difference.get(options.model) ?? 0 };
}

function finite(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

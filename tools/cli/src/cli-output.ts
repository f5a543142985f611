import type { ClassifyResult, HealthStatus, HopTiming, PipelineError, RequestTiming } from '@inference-mesh/client';

type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };

export interface FormatOptions {
  /** Add "scores" (the --top-k list). */
  readonly withScores: boolean;
  /** Add "timing" (--timing): the breakdown of the request the text rode in; absent when the gateway sent none. */
  readonly timing?: RequestTiming;
}

/**
 * One output line (without the newline): text, label, score, model, model_version; "truncated" and "degraded"
 * only when true; "scores" when asked for. Scores are rounded to 4 decimals.
 */
export function formatResult(text: string, result: ClassifyResult, options: FormatOptions): string {
  const line: Record<string, Json> = {
    text,
    label: result.label,
    score: round4(result.score),
    model: result.model,
    model_version: result.modelVersion,
  };
  if (result.truncated) line['truncated'] = true;
  if (result.degraded) line['degraded'] = true;
  if (options.withScores) line['scores'] = result.scores.map(({ label, score }) => ({ label, score: round4(score) }));
  if (options.timing) line['timing'] = timingJson(options.timing);
  return toJson(line);
}

/** The --timing field: milliseconds to 3 decimals, named like the rest of the output. */
function timingJson(timing: RequestTiming): Json {
  const hop = ({ clientMs, serverMs }: HopTiming) => ({ client_ms: round3(clientMs), server_ms: round3(serverMs) });
  return {
    total_ms: round3(timing.totalMs),
    admission_ms: round3(timing.admissionMs),
    coalesce_ms: round3(timing.coalesceMs),
    tokenizer: hop(timing.tokenizer),
    model: { ...hop(timing.model), queue_ms: round3(timing.model.queueMs), compute_ms: round3(timing.model.computeMs) },
    postprocess: hop(timing.postprocess),
  };
}

/** Sums request timings (and what the caller observed of each) for `imesh bench`'s mean breakdown per level. */
export class TimingTotals {
  private count = 0;
  private clientMs = 0;
  private readonly sums = {
    totalMs: 0, admissionMs: 0, coalesceMs: 0,
    tokenizerMs: 0, tokenizerServerMs: 0, modelMs: 0, modelServerMs: 0, queueMs: 0, computeMs: 0, postprocessMs: 0, postprocessServerMs: 0,
  };

  add(timing: RequestTiming, clientObservedMs: number): void {
    const sums = this.sums;
    this.count++;
    this.clientMs += clientObservedMs;
    sums.totalMs += timing.totalMs;
    sums.admissionMs += timing.admissionMs;
    sums.coalesceMs += timing.coalesceMs;
    sums.tokenizerMs += timing.tokenizer.clientMs;
    sums.tokenizerServerMs += timing.tokenizer.serverMs;
    sums.modelMs += timing.model.clientMs;
    sums.modelServerMs += timing.model.serverMs;
    sums.queueMs += timing.model.queueMs;
    sums.computeMs += timing.model.computeMs;
    sums.postprocessMs += timing.postprocess.clientMs;
    sums.postprocessServerMs += timing.postprocess.serverMs;
  }

  /**
   * One line of means in ms, or undefined when no answer carried a timing: the caller's latency, split into the
   * edge (caller to gateway and back) and the gateway's total, itself split into its parts; the rest of the
   * gateway's total is its own work between the parts.
   */
  format(): string | undefined {
    if (this.count === 0) return undefined;
    const mean = (sum: number) => (sum / this.count).toFixed(2);
    const s = this.sums;
    return (
      `mean ms of ${this.count} answers: caller ${mean(this.clientMs)} = edge ${mean(this.clientMs - s.totalMs)} + gateway ${mean(s.totalMs)}; ` +
      `gateway: admission ${mean(s.admissionMs)}, coalesce ${mean(s.coalesceMs)}, ` +
      `tokenizer ${mean(s.tokenizerMs)} (server ${mean(s.tokenizerServerMs)}), ` +
      `model ${mean(s.modelMs)} (server ${mean(s.modelServerMs)}: queue ${mean(s.queueMs)}, compute ${mean(s.computeMs)}), ` +
      `postprocess ${mean(s.postprocessMs)} (server ${mean(s.postprocessServerMs)})`
    );
  }
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** The output line of an input line the server refused on its own: where it stood, and why (`line` counts from 1). */
export function formatRefusal(text: string, line: number, error: Pick<PipelineError, 'codeName' | 'details'>): string {
  return toJson({ text, line, error: { code: error.codeName, message: error.details } });
}

const HEALTH_LABELS: Readonly<Record<string, string>> = { '': 'gateway (overall)' };

/** One line per service, statuses aligned in a column; `allServing` decides the exit status. */
export function formatHealth(statuses: Readonly<Record<string, HealthStatus>>): { text: string; allServing: boolean } {
  const rows = Object.entries(statuses).map(([name, status]) => [HEALTH_LABELS[name] ?? name, status] as const);
  const width = Math.max(0, ...rows.map(([label]) => label.length)) + 2;
  return {
    text: rows.map(([label, status]) => `${label.padEnd(width)}${status}\n`).join(''),
    allServing: rows.length > 0 && rows.every(([, status]) => status === 'SERVING'),
  };
}

function round4(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

/** JSON with a space after ':' and ',' (`{"label": "positive", "score": 0.9731}`), as the documented format reads. */
function toJson(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(toJson).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as { readonly [key: string]: Json });
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}: ${toJson(item)}`).join(', ')}}`;
  }
  return JSON.stringify(value);
}

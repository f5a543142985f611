import type { ClassifyResult, HealthStatus, PipelineError } from '@inference-mesh/client';

type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };

export interface FormatOptions {
  /** Add "scores" (the --top-k list). */
  readonly withScores: boolean;
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
  return toJson(line);
}

/** The output line of an input line the server refused on its own: where it stood, and why (`line` counts from 1). */
export function formatRefusal(text: string, line: number, error: PipelineError): string {
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

/**
 * The one SVG chart writer of the tools, dependency-free: lines over categories (1, 8, 64 callers; epochs 1 to 5),
 * evenly spaced, in one or more panels that share a y axis, with dashed horizontal reference lines across every
 * panel. The y axis starts at 0 (throughput) or fits the data (accuracy curves).
 */
export interface ChartPanel {
  readonly title: string;
  readonly xLabel: string;
  readonly categories: readonly string[];
  /** One value per category; undefined leaves a gap. Series with the same name share a colour across panels. */
  readonly series: ReadonlyArray<{ readonly name: string; readonly values: ReadonlyArray<number | undefined> }>;
}

export interface ReferenceLine {
  readonly name: string;
  readonly value: number;
}

export interface CategoryChartOptions {
  readonly title: string;
  readonly yLabel: string;
  readonly panels: readonly ChartPanel[];
  readonly references?: readonly ReferenceLine[];
  /** 'zero' (default): from 0 up; 'fit': from just below the lowest value to just above the highest. */
  readonly yAxis?: 'zero' | 'fit';
  readonly panelWidth?: number;
  readonly height?: number;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const REFERENCE_COLOURS = ['#555555', '#999999', '#2ca02c'];

export function categoryChartSvg(options: CategoryChartOptions): string {
  const panelWidth = options.panelWidth ?? 300;
  const height = options.height ?? 380;
  const references = (options.references ?? []).filter((r) => Number.isFinite(r.value));
  const margin = { left: 72, right: 260, top: 58, bottom: 56 };
  const gap = 36;
  const panels = options.panels;
  const width = margin.left + panels.length * panelWidth + (panels.length - 1) * gap + margin.right;
  const plotH = height - margin.top - margin.bottom;
  const values = [
    ...panels.flatMap((p) => p.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined && Number.isFinite(v)))),
    ...references.map((r) => r.value),
  ];
  const { min: yMin, max: yMax, step } = options.yAxis === 'fit' ? fittedAxis(values) : niceAxis(Math.max(0, ...values) * 1.08);
  const y = (v: number) => margin.top + plotH - ((v - yMin) / (yMax - yMin)) * plotH;
  const names = [...new Set(panels.flatMap((p) => p.series.map((s) => s.name)))];
  const colourOf = (name: string) => COLOURS[names.indexOf(name) % COLOURS.length]!;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${(margin.left + width - margin.right) / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
    `<text transform="translate(18 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
  ];
  for (let v = yMin; v <= yMax + step / 2; v += step) {
    out.push(`<text x="${margin.left - 6}" y="${fmt(y(v) + 4)}" text-anchor="end">${formatTick(v)}</text>`);
  }
  panels.forEach((panel, p) => {
    const left = margin.left + p * (panelWidth + gap);
    const n = panel.categories.length;
    const x = (i: number) => left + ((i + 0.5) / Math.max(1, n)) * panelWidth;
    for (let v = yMin; v <= yMax + step / 2; v += step) {
      out.push(`<line x1="${left}" x2="${left + panelWidth}" y1="${fmt(y(v))}" y2="${fmt(y(v))}" stroke="#e3e3e3"/>`);
    }
    out.push(
      `<rect x="${left}" y="${margin.top}" width="${panelWidth}" height="${plotH}" fill="none" stroke="#333"/>`,
      `<text x="${left + panelWidth / 2}" y="${margin.top - 8}" text-anchor="middle" font-size="13">${escapeXml(panel.title)}</text>`,
      `<text x="${left + panelWidth / 2}" y="${height - 14}" text-anchor="middle">${escapeXml(panel.xLabel)}</text>`,
    );
    panel.categories.forEach((category, i) => {
      out.push(`<text x="${fmt(x(i))}" y="${margin.top + plotH + 18}" text-anchor="middle">${escapeXml(category)}</text>`);
    });
    references.forEach((reference, r) => {
      const colour = REFERENCE_COLOURS[r % REFERENCE_COLOURS.length]!;
      out.push(
        `<line x1="${left}" x2="${left + panelWidth}" y1="${fmt(y(reference.value))}" y2="${fmt(y(reference.value))}" stroke="${colour}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
      );
    });
    for (const series of panel.series) {
      const colour = colourOf(series.name);
      let path = '';
      let pen = 'M';
      series.values.forEach((v, i) => {
        if (v === undefined || !Number.isFinite(v)) {
          pen = 'M';
          return;
        }
        path += `${pen}${fmt(x(i))},${fmt(y(v))} `;
        pen = 'L';
      });
      if (path) out.push(`<path d="${path.trim()}" fill="none" stroke="${colour}" stroke-width="2"/>`);
      series.values.forEach((v, i) => {
        if (v === undefined || !Number.isFinite(v)) return;
        out.push(
          `<circle cx="${fmt(x(i))}" cy="${fmt(y(v))}" r="3.5" fill="${colour}"><title>${escapeXml(`${series.name}, ${panel.categories[i]}: ${formatTick(v)}`)}</title></circle>`,
        );
      });
    }
  });
  const legendX = width - margin.right + 16;
  let legendY = margin.top + 6;
  for (const name of names) {
    out.push(
      `<line x1="${legendX}" x2="${legendX + 22}" y1="${legendY}" y2="${legendY}" stroke="${colourOf(name)}" stroke-width="2"/>`,
      `<text x="${legendX + 28}" y="${legendY + 4}">${escapeXml(name)}</text>`,
    );
    legendY += 20;
  }
  references.forEach((reference, r) => {
    const colour = REFERENCE_COLOURS[r % REFERENCE_COLOURS.length]!;
    out.push(
      `<line x1="${legendX}" x2="${legendX + 22}" y1="${legendY}" y2="${legendY}" stroke="${colour}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
      `<text x="${legendX + 28}" y="${legendY + 4}">${escapeXml(reference.name)}</text>`,
    );
    legendY += 20;
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

interface Axis {
  readonly min: number;
  readonly max: number;
  readonly step: number;
}

/**
 * An axis from 0 to a round maximum at or above `max` (the caller adds headroom, so that the highest point does
 * not sit on the frame), with 4 to 8 round steps (1, 2 or 5 times a power of 10).
 */
function niceAxis(max: number): Axis {
  if (!(max > 0)) return { min: 0, max: 1, step: 0.25 };
  const step = roundStep(max / 5);
  return { min: 0, max: Math.ceil(max / step) * step, step };
}

/** An axis over the values' own range, widened to round steps on both sides. */
function fittedAxis(values: readonly number[]): Axis {
  if (values.length === 0) return niceAxis(0);
  const low = Math.min(...values);
  const high = Math.max(...values);
  const spread = high - low || Math.abs(high) || 1;
  const step = roundStep(spread / 4);
  const min = Math.floor((low - spread * 0.05) / step) * step;
  return { min, max: Math.max(min + step, Math.ceil((high + spread * 0.05) / step) * step), step };
}

function roundStep(rough: number): number {
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
}

function formatTick(v: number): string {
  return Math.abs(v) >= 100 ? Math.round(v).toString() : Number(v.toPrecision(3)).toString();
}

function fmt(v: number): string {
  return v.toFixed(1);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

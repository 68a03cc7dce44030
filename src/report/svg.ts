/**
 * Self-contained SVG charts for reports: no scripts, no external fonts or stylesheets, all text
 * escaped. Hovering a bar or point shows its exact value through SVG <title> tooltips.
 *
 * Text widths are estimated (0.6 em per character, about DejaVu Sans/Verdana's average) because
 * there is no layout engine here; margins are sized from those estimates so labels are not clipped.
 */
import { RebirthError } from '../errors.js';
import { formatNumber } from '../util/format.js';

/** Tensor (convolution, matrix multiply) time in per-layer charts, as in the paper's Figure 1. */
export const TENSOR_COLOR = '#4C78A8';
/** Non-tensor (pooling, LRN, BN, ReLU, concat...) time: the layers DeepRebirth merges away. */
export const NON_TENSOR_COLOR = '#F58518';
/** Series colors in order (Tableau 10): distinguishable, and still readable when printed in grey. */
export const PALETTE: readonly string[] = Object.freeze([
  TENSOR_COLOR,
  NON_TENSOR_COLOR,
  '#54A24B',
  '#E45756',
  '#72B7B2',
  '#EECA3B',
  '#B279A2',
  '#FF9DA6',
  '#9D755D',
  '#BAB0AC',
]);

const FONT = "'DejaVu Sans', Verdana, 'Helvetica Neue', Arial, sans-serif";
const TEXT_COLOR = '#222';
const AXIS_COLOR = '#666';
const GRID_COLOR = '#e4e4e4';
const TITLE_SIZE = 16;
const LABEL_SIZE = 12;
const TICK_SIZE = 11;
const VALUE_SIZE = 10;
const MAX_LABEL_CHARS = 28;

export interface BarSeries {
  name: string;
  /** Default: PALETTE in series order. */
  color?: string;
  /** One value per category. */
  values: readonly number[];
}

export interface BarChartOptions {
  title: string;
  /** X labels (layer or model names); long ones are rotated, very long ones shortened with the full text on hover. */
  categories: readonly string[];
  series: readonly BarSeries[];
  yLabel?: string;
  /** Default grows with the number of bars so labels stay legible. */
  width?: number;
  height?: number;
  /** Formats values in labels and tooltips. Default 3 significant digits. */
  format?: (value: number) => string;
  /** Print values above bars (stack totals for stacked charts) when they fit. Default true. */
  valueLabels?: boolean;
}

export interface LineSeries {
  name: string;
  color?: string;
  /** [x, y] pairs; non-finite y breaks the line. */
  points: ReadonlyArray<readonly [number, number]>;
}

export interface LineChartOptions {
  title: string;
  series: readonly LineSeries[];
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Fix the y range (e.g. 0..100 for accuracy); default fits the data. */
  yMin?: number;
  yMax?: number;
  format?: (value: number) => string;
}

/** Escape text for XML content and attribute values; drop characters XML 1.0 forbids outright. */
export function escapeXml(text: string): string {
  return (
    text
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&#39;')
  );
}

// ---- Scales -------------------------------------------------------------------------------------

export interface NiceScale {
  min: number;
  max: number;
  step: number;
  ticks: number[];
}

/**
 * Round axis bounds and a 1/2/5 x 10^k step covering [lo, hi] with about `count` ticks
 * (after Heckbert, "Nice numbers for graph labels", Graphics Gems 1990).
 */
export function niceScale(lo: number, hi: number, count = 6): NiceScale {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) {
    // A flat series still needs a visible range; keep 0 as a bound when the value is 0.
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    [lo, hi] = lo === 0 ? [0, 1] : [lo - pad, hi + pad];
  }
  // Step from the data range itself rather than Heckbert's rounded range: the rounded range can
  // double the step (0..28 → 0..50 → step 10) and leave a chart with only 3-4 gridlines.
  const step = niceNumber((hi - lo) / Math.max(1, count - 1));
  const min = Math.floor(lo / step + 1e-9) * step;
  const max = Math.ceil(hi / step - 1e-9) * step;
  const decimals = stepDecimals(step);
  const ticks: number[] = [];
  for (let i = 0; min + i * step <= max + step * 1e-6; i++) ticks.push(roundTo(min + i * step, decimals));
  return { min: roundTo(min, decimals), max: roundTo(max, decimals), step, ticks };
}

/** The 1, 2, 5 or 10 times a power of ten nearest to x. */
function niceNumber(x: number): number {
  const exp = Math.floor(Math.log10(x));
  const f = x / 10 ** exp;
  const nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return nf * 10 ** exp;
}

function stepDecimals(step: number): number {
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

function roundTo(v: number, decimals: number): number {
  const r = Number(v.toFixed(Math.min(20, decimals)));
  return Object.is(r, -0) ? 0 : r;
}

/** Tick label: exact to the step's precision; k/M/G suffixes for big numbers (FLOPs, bytes). */
function tickLabel(v: number, scale: NiceScale): string {
  if (v === 0) return '0';
  const big = Math.max(Math.abs(scale.min), Math.abs(scale.max));
  for (const [div, suffix] of SI) {
    if (big >= div * (div === 1e3 ? 10 : 1)) return `${roundTo(v / div, stepDecimals(scale.step / div))}${suffix}`;
  }
  return v.toFixed(stepDecimals(scale.step));
}

// k only from 10,000 up: "2000 ms" reads better than "2k ms", while "40k" beats "40000".
const SI = [
  [1e12, 'T'],
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
] as const;

/** Default value label: 3 significant digits, with a k/M/G/T suffix from 10,000 up ("3.4G", "45.2k"). */
export function compactNumber(v: number): string {
  const abs = Math.abs(v);
  if (Number.isFinite(v) && abs >= 1e4) {
    for (const [div, suffix] of SI) if (abs >= div) return `${formatNumber(v / div, 3)}${suffix}`;
  }
  return formatNumber(v, 3);
}

// ---- Layout helpers -----------------------------------------------------------------------------

function textWidth(text: string, size: number): number {
  return Array.from(text).length * size * 0.6;
}

/**
 * Shorten in the middle: layer names share prefixes ("inception_4a/...") and differ at either end,
 * so keeping both ends keeps neighbouring labels distinguishable.
 */
function shorten(text: string, max = MAX_LABEL_CHARS): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  const head = Math.ceil((max - 1) * 0.6);
  const tail = max - 1 - head;
  return `${chars.slice(0, head).join('')}…${chars.slice(chars.length - tail).join('')}`;
}

function n(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

const COLOR_SYNTAX = /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]+|(rgb|hsl)a?\([\d\s.,%]+\))$/;

function seriesColor(color: string | undefined, index: number, chart: string): string {
  if (color === undefined) return PALETTE[index % PALETTE.length] ?? TENSOR_COLOR;
  if (!COLOR_SYNTAX.test(color)) {
    throw new RebirthError(`${chart}: series color '${color}' is not a CSS color: use e.g. '#4C78A8' or 'steelblue'`);
  }
  return color;
}

interface LegendItem {
  name: string;
  color: string;
  line?: boolean;
}

/** Legend rows under the title; wraps to the chart width. Returns markup and the height used. */
function legend(items: readonly LegendItem[], x0: number, y0: number, width: number): { svg: string; height: number } {
  if (items.length === 0) return { svg: '', height: 0 };
  const rowHeight = 18;
  const parts: string[] = [];
  let x = x0;
  let y = y0;
  for (const item of items) {
    const label = shorten(item.name, 40);
    const w = 18 + textWidth(label, LABEL_SIZE) + 16;
    if (x > x0 && x + w > x0 + width) {
      x = x0;
      y += rowHeight;
    }
    const swatch = item.line
      ? `<line x1="${n(x)}" y1="${n(y + 6)}" x2="${n(x + 14)}" y2="${n(y + 6)}" stroke="${escapeXml(item.color)}" stroke-width="2.5"/>` +
        `<circle cx="${n(x + 7)}" cy="${n(y + 6)}" r="3" fill="${escapeXml(item.color)}"/>`
      : `<rect x="${n(x)}" y="${n(y)}" width="12" height="12" fill="${escapeXml(item.color)}"/>`;
    parts.push(
      `<g class="legend-item">${swatch}<text x="${n(x + 18)}" y="${n(y + 10.5)}" font-size="${LABEL_SIZE}">${escapeXml(label)}</text></g>`,
    );
    x += w;
  }
  return { svg: `<g class="legend">${parts.join('')}</g>`, height: y - y0 + rowHeight };
}

function svgDocument(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${n(width)}" height="${n(height)}" viewBox="0 0 ${n(width)} ${n(height)}" role="img" font-family="${escapeXml(FONT)}" fill="${TEXT_COLOR}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...body,
    '</svg>',
  ].join('\n');
}

/** Width a chart needs for its title not to be clipped. */
function titleWidth(title: string): number {
  return textWidth(title, TITLE_SIZE) * 1.1 + 40;
}

function titleText(title: string, width: number): string {
  return `<text x="${n(width / 2)}" y="26" font-size="${TITLE_SIZE}" font-weight="bold" text-anchor="middle">${escapeXml(title)}</text>`;
}

/** Y axis: gridlines, tick labels and the rotated axis label. */
function yAxis(scale: NiceScale, y: (v: number) => number, left: number, right: number, label: string | undefined): string {
  const parts: string[] = [];
  // Just outside the tick labels, whatever the left margin (which rotated x labels may widen).
  const labelX = Math.max(14, left - yTickWidth(scale) - 18);
  for (const t of scale.ticks) {
    const ty = y(t);
    parts.push(`<line x1="${n(left)}" y1="${n(ty)}" x2="${n(right)}" y2="${n(ty)}" stroke="${GRID_COLOR}"/>`);
    parts.push(
      `<text x="${n(left - 6)}" y="${n(ty + 4)}" font-size="${TICK_SIZE}" text-anchor="end">${escapeXml(tickLabel(t, scale))}</text>`,
    );
  }
  const top = y(scale.max);
  const bottom = y(scale.min);
  parts.push(`<line x1="${n(left)}" y1="${n(top)}" x2="${n(left)}" y2="${n(bottom)}" stroke="${AXIS_COLOR}"/>`);
  if (label) {
    const cy = (top + bottom) / 2;
    parts.push(
      `<text x="${n(labelX)}" y="${n(cy)}" font-size="${LABEL_SIZE}" text-anchor="middle" transform="rotate(-90 ${n(labelX)} ${n(cy)})">${escapeXml(label)}</text>`,
    );
  }
  return `<g class="y-axis">${parts.join('')}</g>`;
}

function yTickWidth(scale: NiceScale): number {
  return Math.max(...scale.ticks.map((t) => textWidth(tickLabel(t, scale), TICK_SIZE)));
}

// ---- Bar charts ---------------------------------------------------------------------------------

type BarKind = 'stacked' | 'grouped';

function validateBars(kind: BarKind, o: BarChartOptions): void {
  const chart = `${kind}BarChart '${o.title}'`;
  o.series.forEach((s) => {
    if (s.values.length !== o.categories.length) {
      throw new RebirthError(
        `${chart}: series '${s.name}' has ${s.values.length} values for ${o.categories.length} categories; give one value per category`,
      );
    }
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) {
        throw new RebirthError(`${chart}: series '${s.name}' has value ${v} for '${o.categories[i]}'; use 0 for missing data`);
      }
      if (kind === 'stacked' && v < 0) {
        throw new RebirthError(`${chart}: series '${s.name}' has negative value ${v} for '${o.categories[i]}'; stacked bars need values >= 0`);
      }
    });
  });
}

/** Bars stacked per category, e.g. per-layer time split into tensor and non-tensor parts (the paper's Figure 1). */
export function stackedBarChart(options: BarChartOptions): string {
  return barChart('stacked', options);
}

/** Bars side by side per category, e.g. latency before/after merging per layer or per model. */
export function groupedBarChart(options: BarChartOptions): string {
  return barChart('grouped', options);
}

function barChart(kind: BarKind, o: BarChartOptions): string {
  validateBars(kind, o);
  const fmt = o.format ?? compactNumber;
  const series = o.series.map((s, i) => ({ ...s, color: seriesColor(s.color, i, `${kind}BarChart '${o.title}'`) }));
  const nCat = o.categories.length;
  const nSer = Math.max(1, series.length);

  // Data range: stacks from 0 to their sum; groups include 0 so bar lengths are comparable.
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < nCat; i++) {
    if (kind === 'stacked') hi = Math.max(hi, series.reduce((a, s) => a + (s.values[i] ?? 0), 0));
    else for (const s of series) [lo, hi] = [Math.min(lo, s.values[i] ?? 0), Math.max(hi, s.values[i] ?? 0)];
  }
  const scale = niceScale(lo, hi);

  // Width: enough room per category for bars to be seen and labels not to collide.
  const minBand = kind === 'stacked' ? 26 : Math.max(30, nSer * 14 + 10);
  const labels = o.categories.map((c) => shorten(c));
  const maxLabel = Math.max(0, ...labels.map((l) => textWidth(l, TICK_SIZE)));
  const right = 20;
  const axisLeft = 20 + (o.yLabel ? 20 : 0) + yTickWidth(scale);
  const fit = (left: number): number => Math.ceil(Math.min(2400, Math.max(640, titleWidth(o.title), left + right + nCat * minBand)));
  // Band width decides rotation, and a rotated first label reaching left of the axis may need a wider
  // left margin; the label's reach beyond its bar is at most w*cos45 - band/2.
  let left = axisLeft;
  let width = o.width ?? fit(left);
  let band = nCat > 0 ? (width - left - right) / nCat : width - left - right;
  const rotate = maxLabel > band - 6;
  if (rotate) {
    const firstReach = textWidth(labels[0] ?? '', TICK_SIZE) * Math.SQRT1_2 - band / 2 + 12;
    if (firstReach > left) {
      left = firstReach;
      width = o.width ?? fit(left);
      band = nCat > 0 ? (width - left - right) / nCat : width - left - right;
    }
  }
  const plotW = width - left - right;
  // Rotated by 45 degrees a label of width w drops w*sin45 below the axis.
  const xLabelSpace = rotate ? maxLabel * Math.SQRT1_2 + 18 : 22;
  const leg = legend(
    series.map((s) => ({ name: s.name, color: s.color })),
    left,
    44,
    plotW,
  );
  const top = 44 + leg.height + 16;
  const height = o.height ?? Math.ceil(Math.max(360, top + 300 + xLabelSpace));
  const bottom = height - xLabelSpace - 8;
  const y = (v: number): number => bottom - ((v - scale.min) / (scale.max - scale.min)) * (bottom - top);

  const body: string[] = [titleText(o.title, width), leg.svg, yAxis(scale, y, left, width - right, o.yLabel)];
  const bars: string[] = [];
  const valueTexts: string[] = [];
  const showValues = o.valueLabels ?? true;
  for (let i = 0; i < nCat; i++) {
    const cat = o.categories[i] ?? '';
    const x0 = left + i * band;
    if (kind === 'stacked') {
      const bw = band * 0.7;
      const bx = x0 + (band - bw) / 2;
      let acc = 0;
      for (const s of series) {
        const v = s.values[i] ?? 0;
        if (v > 0) {
          const yTop = y(acc + v);
          bars.push(
            `<rect x="${n(bx)}" y="${n(yTop)}" width="${n(bw)}" height="${n(y(acc) - yTop)}" fill="${escapeXml(s.color)}"><title>${escapeXml(`${cat} | ${s.name}: ${fmt(v)}`)}</title></rect>`,
          );
        }
        acc += v;
      }
      const total = fmt(acc);
      if (showValues && series.length > 0 && textWidth(total, VALUE_SIZE) <= band + 2) {
        valueTexts.push(`<text x="${n(x0 + band / 2)}" y="${n(y(acc) - 4)}" font-size="${VALUE_SIZE}" text-anchor="middle">${escapeXml(total)}</text>`);
      }
    } else {
      const groupW = band * 0.8;
      const bw = groupW / nSer;
      series.forEach((s, k) => {
        const v = s.values[i] ?? 0;
        const bx = x0 + (band - groupW) / 2 + k * bw;
        const y1 = y(Math.max(0, v));
        const y2 = y(Math.min(0, v));
        bars.push(
          `<rect x="${n(bx + 0.5)}" y="${n(y1)}" width="${n(Math.max(1, bw - 1))}" height="${n(Math.max(0, y2 - y1))}" fill="${escapeXml(s.color)}"><title>${escapeXml(`${cat} | ${s.name}: ${fmt(v)}`)}</title></rect>`,
        );
        const label = fmt(v);
        if (showValues && textWidth(label, VALUE_SIZE) <= bw + 4) {
          const ty = v >= 0 ? y1 - 4 : y2 + VALUE_SIZE + 2;
          valueTexts.push(`<text x="${n(bx + bw / 2)}" y="${n(ty)}" font-size="${VALUE_SIZE}" text-anchor="middle">${escapeXml(label)}</text>`);
        }
      });
    }
  }
  body.push(`<g class="bars">${bars.join('')}</g>`, `<g class="values">${valueTexts.join('')}</g>`);

  // X axis at 0 (the bars' base), then category labels below the plot.
  body.push(`<line x1="${n(left)}" y1="${n(y(0))}" x2="${n(width - right)}" y2="${n(y(0))}" stroke="${AXIS_COLOR}"/>`);
  const xl: string[] = [];
  // Past the width cap bands get narrow: rotated labels sit band*sin45 apart and need about one line
  // height (13 px) between them, so show every k-th label then (all are still in the tooltips).
  const every = rotate ? Math.max(1, Math.ceil(13 / (band * Math.SQRT1_2))) : 1;
  labels.forEach((label, i) => {
    if (i % every !== 0) return;
    const cx = left + (i + 0.5) * band;
    const full = o.categories[i] ?? '';
    const tip = label === full ? '' : `<title>${escapeXml(full)}</title>`;
    if (rotate) {
      const ty = bottom + 12;
      xl.push(
        `<text x="${n(cx + 4)}" y="${n(ty)}" font-size="${TICK_SIZE}" text-anchor="end" transform="rotate(-45 ${n(cx + 4)} ${n(ty)})">${tip}${escapeXml(label)}</text>`,
      );
    } else {
      xl.push(`<text x="${n(cx)}" y="${n(bottom + 16)}" font-size="${TICK_SIZE}" text-anchor="middle">${tip}${escapeXml(label)}</text>`);
    }
  });
  body.push(`<g class="x-axis">${xl.join('')}</g>`);
  if (nCat === 0) body.push(noData(left + plotW / 2, (top + bottom) / 2));
  return svgDocument(width, height, o.title, body);
}

function noData(x: number, y: number): string {
  return `<text x="${n(x)}" y="${n(y)}" font-size="${LABEL_SIZE}" fill="${AXIS_COLOR}" text-anchor="middle">(no data)</text>`;
}

// ---- Line chart ---------------------------------------------------------------------------------

/** Lines over a numeric x axis, e.g. accuracy per retraining step or loss curves. */
export function lineChart(o: LineChartOptions): string {
  const fmt = o.format ?? ((v: number) => formatNumber(v, 4));
  const series = o.series.map((s, i) => ({ ...s, color: seriesColor(s.color, i, `lineChart '${o.title}'`) }));
  const finite = series.flatMap((s) => s.points.filter(([x, yv]) => Number.isFinite(x) && Number.isFinite(yv)));
  const xs = finite.map(([x]) => x);
  const ys = finite.map(([, yv]) => yv);
  const xScale = niceScale(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1, 8);
  const yScale = niceScale(o.yMin ?? (ys.length ? Math.min(...ys) : 0), o.yMax ?? (ys.length ? Math.max(...ys) : 1));

  const width = o.width ?? Math.ceil(Math.max(720, titleWidth(o.title)));
  const left = 20 + (o.yLabel ? 20 : 0) + yTickWidth(yScale);
  const right = 24;
  const plotW = width - left - right;
  const leg = legend(
    series.map((s) => ({ name: s.name, color: s.color, line: true })),
    left,
    44,
    plotW,
  );
  const top = 44 + leg.height + 16;
  const height = o.height ?? Math.max(360, top + 300 + 44);
  const bottom = height - (o.xLabel ? 48 : 30);
  const x = (v: number): number => left + ((v - xScale.min) / (xScale.max - xScale.min)) * plotW;
  const y = (v: number): number => bottom - ((v - yScale.min) / (yScale.max - yScale.min)) * (bottom - top);

  const body: string[] = [titleText(o.title, width), leg.svg, yAxis(yScale, y, left, width - right, o.yLabel)];
  const xa: string[] = [];
  for (const t of xScale.ticks) {
    const tx = x(t);
    xa.push(`<line x1="${n(tx)}" y1="${n(bottom)}" x2="${n(tx)}" y2="${n(bottom + 5)}" stroke="${AXIS_COLOR}"/>`);
    xa.push(`<text x="${n(tx)}" y="${n(bottom + 18)}" font-size="${TICK_SIZE}" text-anchor="middle">${escapeXml(tickLabel(t, xScale))}</text>`);
  }
  xa.push(`<line x1="${n(left)}" y1="${n(bottom)}" x2="${n(width - right)}" y2="${n(bottom)}" stroke="${AXIS_COLOR}"/>`);
  if (o.xLabel) {
    xa.push(`<text x="${n(left + plotW / 2)}" y="${n(bottom + 38)}" font-size="${LABEL_SIZE}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  }
  body.push(`<g class="x-axis">${xa.join('')}</g>`);

  // Points outside a fixed y range are clamped to the frame rather than drawn over the title.
  const clampY = (v: number): number => Math.min(bottom, Math.max(top, y(v)));
  for (const s of series) {
    let d = '';
    let pen = false;
    const dots: string[] = [];
    const markers = s.points.length <= 60;
    for (const [px, py] of s.points) {
      if (!Number.isFinite(px) || !Number.isFinite(py)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${n(x(px))} ${n(clampY(py))}`;
      pen = true;
      if (markers) {
        dots.push(
          `<circle cx="${n(x(px))}" cy="${n(clampY(py))}" r="3" fill="${escapeXml(s.color)}"><title>${escapeXml(`${s.name}: (${fmt(px)}, ${fmt(py)})`)}</title></circle>`,
        );
      }
    }
    const path = d ? `<path d="${d}" fill="none" stroke="${escapeXml(s.color)}" stroke-width="2" stroke-linejoin="round"/>` : '';
    body.push(`<g class="series">${path}${dots.join('')}</g>`);
  }
  if (finite.length === 0) body.push(noData(left + plotW / 2, (top + bottom) / 2));
  return svgDocument(width, height, o.title, body);
}

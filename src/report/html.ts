/**
 * One self-contained HTML report: inline CSS, no scripts, no external URLs, so it can be mailed,
 * attached to CI artifacts or opened offline and look the same.
 */
import { RebirthError } from '../errors.js';
import { escapeXml } from './svg.js';

export interface ReportTable {
  headers: readonly string[];
  rows: ReadonlyArray<ReadonlyArray<string | number>>;
  /** Per column; default right for columns whose cells are all numbers or numeric text ("12.3 ms", "89%"). */
  align?: ReadonlyArray<'left' | 'right'>;
}

export interface ReportSection {
  heading: string;
  paragraphs?: readonly string[];
  table?: ReportTable;
  /** Markup from src/report/svg.ts, embedded as is (inline SVG, not an <img>, so it needs no file). */
  svg?: string;
}

export interface ReportOptions {
  title: string;
  /** A line under the title, e.g. model, machine and date. */
  subtitle?: string;
  sections: readonly ReportSection[];
}

const CSS = `
:root { color-scheme: light; }
body { margin: 0; background: #f6f7f9; color: #222; font: 15px/1.5 'DejaVu Sans', Verdana, 'Helvetica Neue', Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
.subtitle { color: #555; margin: 0 0 24px; }
section { background: #fff; border: 1px solid #e2e4e8; border-radius: 6px; padding: 16px 20px; margin: 0 0 20px; }
h2 { font-size: 19px; margin: 0 0 10px; }
p { margin: 0 0 10px; max-width: 80ch; }
.table-wrap { overflow-x: auto; margin: 8px 0 12px; }
table { border-collapse: collapse; font-size: 13.5px; }
th, td { padding: 4px 12px; border-bottom: 1px solid #e6e6e6; text-align: left; white-space: nowrap; }
th { background: #f0f2f5; font-weight: 600; border-bottom: 2px solid #d0d4da; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafbfc; }
.chart { overflow-x: auto; margin: 8px 0; }
.chart svg { display: block; max-width: 100%; height: auto; }
@media print { body { background: #fff; } section { border: none; page-break-inside: avoid; } }
`;

/** Same rule as formatTable: numbers with optional units read as numeric. */
const NUMERIC_CELL = /^[-+]?(\d[\d,]*\.?\d*|\.\d+)(e[-+]?\d+)?\s*(%|x|ms|s|[KMGTP]i?B|B)?$/i;

function tableHtml(t: ReportTable): string {
  const columns = Math.max(t.headers.length, ...t.rows.map((r) => r.length));
  const numeric = Array.from({ length: columns }, (_, i) => {
    const given = t.align?.[i];
    if (given) return given === 'right';
    const cells = t.rows.map((r) => r[i]).filter((c) => c !== undefined && c !== '');
    return cells.length > 0 && cells.every((c) => typeof c === 'number' || NUMERIC_CELL.test(c ?? ''));
  });
  const cls = (i: number): string => (numeric[i] ? ' class="num"' : '');
  const cell = (c: string | number | undefined): string => escapeXml(c === undefined ? '' : String(c));
  const head = Array.from({ length: columns }, (_, i) => `<th${cls(i)}>${cell(t.headers[i])}</th>`).join('');
  const body = t.rows
    .map((r) => `<tr>${Array.from({ length: columns }, (_, i) => `<td${cls(i)}>${cell(r[i])}</td>`).join('')}</tr>`)
    .join('\n');
  return `<div class="table-wrap"><table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table></div>`;
}

function checkSvg(svg: string, heading: string): void {
  // The report promises no scripts and no network: refuse markup that would break that promise.
  if (!svg.trimStart().startsWith('<svg')) {
    throw new RebirthError(`report section '${heading}': svg must be an <svg> element from src/report/svg.ts`);
  }
  if (/<script|\son\w+\s*=|<foreignObject|(?:href|src)\s*=\s*["']?\s*(?:https?:|\/\/|javascript:)/i.test(svg)) {
    throw new RebirthError(`report section '${heading}': svg contains scripts or external links; reports must be self-contained`);
  }
}

export function htmlReport(options: ReportOptions): string {
  const parts: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeXml(options.title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<h1>${escapeXml(options.title)}</h1>`,
  ];
  if (options.subtitle) parts.push(`<p class="subtitle">${escapeXml(options.subtitle)}</p>`);
  for (const s of options.sections) {
    parts.push('<section>', `<h2>${escapeXml(s.heading)}</h2>`);
    for (const p of s.paragraphs ?? []) parts.push(`<p>${escapeXml(p)}</p>`);
    if (s.svg) {
      checkSvg(s.svg, s.heading);
      parts.push(`<div class="chart">${s.svg}</div>`);
    }
    if (s.table) parts.push(tableHtml(s.table));
    parts.push('</section>');
  }
  parts.push('</main>', '</body>', '</html>', '');
  return parts.join('\n');
}

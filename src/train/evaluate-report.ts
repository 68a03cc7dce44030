/** HTML report sections of an evaluation: summary, per-class accuracy and the confusion table. */
import type { EvalResult } from './evaluate.js';
import { htmlReport, type ReportSection } from '../report/html.js';
import { formatPercent } from '../util/format.js';

/**
 * Up to this many classes the full confusion table is shown; above it (ImageNet's 1000) a table that
 * size is unreadable, so the most frequent confusions are listed instead.
 */
const FULL_TABLE_CLASSES = 30;

export function evalSections(r: EvalResult, what: string): ReportSection[] {
  const name = (i: number): string => r.perClass[i]?.name ?? `output ${i}`;
  const sections: ReportSection[] = [
    {
      heading: `Accuracy: ${what}`,
      paragraphs: [
        `top-1 ${formatPercent(r.top1, 2)}, top-5 ${formatPercent(r.top5, 2)} on ${r.samples} images; mean cross-entropy ${r.loss.toFixed(4)}.` +
          (r.skipped.count ? ` ${r.skipped.count} undecodable file(s) skipped: ${r.skipped.files.slice(0, 5).map((f) => f.file).join(', ')}${r.skipped.count > 5 ? ', ...' : ''}.` : ''),
      ],
      table: {
        headers: ['class', 'images', 'top-1', 'top-5'],
        rows: r.perClass.map((c) => [c.name, c.count, formatPercent(c.accuracy, 1), formatPercent(c.top5, 1)]),
        align: ['left', 'right', 'right', 'right'],
      },
    },
  ];
  const classes = r.confusion.length;
  const outputs = r.confusion[0]?.length ?? 0;
  if (classes > 0 && classes <= FULL_TABLE_CLASSES) {
    const extra = Math.max(0, outputs - classes);
    const cols = [...Array.from({ length: classes }, (_, j) => name(j))];
    sections.push({
      heading: `Confusion table: ${what}`,
      paragraphs: [`Rows: true class; columns: predicted class (the highest score)${extra ? `; "other" counts predictions of the model's ${extra} outputs beyond the data's classes` : ''}.`],
      table: {
        headers: ['true \\ predicted', ...cols, ...(extra ? ['other'] : [])],
        rows: r.confusion.map((row, i) => [name(i), ...row.slice(0, classes), ...(extra ? [row.slice(classes).reduce((a, b) => a + b, 0)] : [])]),
      },
    });
  } else if (classes > 0) {
    const pairs: Array<[number, number, number]> = [];
    r.confusion.forEach((row, i) => row.forEach((n, j) => { if (i !== j && n > 0) pairs.push([n, i, j]); }));
    pairs.sort((a, b) => b[0] - a[0]);
    sections.push({
      heading: `Most frequent confusions: ${what}`,
      paragraphs: [`${classes} classes are too many for a full table; the 30 most frequent (true, predicted) pairs.`],
      table: { headers: ['true class', 'predicted', 'images'], rows: pairs.slice(0, 30).map(([n, i, j]) => [name(i), name(j), n]) },
    });
  }
  return sections;
}

/** A self-contained HTML report of one evaluation. */
export function evalReport(r: EvalResult, title: string, subtitle?: string): string {
  return htmlReport({ title, ...(subtitle ? { subtitle } : {}), sections: evalSections(r, title) });
}

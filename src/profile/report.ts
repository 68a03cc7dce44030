import type { LayerProfile } from './layers.js';
import { NON_TENSOR_COLOR, TENSOR_COLOR, stackedBarChart } from '../report/svg.js';
import { htmlReport, type ReportSection } from '../report/html.js';
import { formatMs, formatPercent, formatTable } from '../util/format.js';

const OTHER_COLOR = '#9D9D9D';

/** The paper's Figure 1: per-layer time, one bar per layer, coloured by tensor / non-tensor category. */
export function layerChart(p: LayerProfile, title?: string): string {
  const layers = p.layers.filter((l) => l.ms > 0);
  const pick = (cat: string): number[] => layers.map((l) => (l.category === cat ? l.ms : 0));
  return stackedBarChart({
    title: title ?? `${p.model}: time per layer (${p.backend}, ${p.threads} thread${p.threads > 1 ? 's' : ''}, opt ${p.optLevel})`,
    categories: layers.map((l) => l.name),
    series: [
      { name: 'tensor (conv, fc)', color: TENSOR_COLOR, values: pick('tensor') },
      { name: 'non-tensor (pool, LRN, BN, ReLU, concat, ...)', color: NON_TENSOR_COLOR, values: pick('non-tensor') },
      { name: 'other (runtime layout, shape ops)', color: OTHER_COLOR, values: pick('other') },
    ].filter((s) => s.values.some((v) => v > 0)),
    yLabel: 'ms per run',
    valueLabels: false,
  });
}

export function profileSections(p: LayerProfile): ReportSection[] {
  const top = Object.entries(p.byOpType).sort((a, b) => b[1] - a[1]);
  return [
    {
      heading: `${p.model} on ${p.backend} (opt ${p.optLevel})`,
      paragraphs: [
        `Median latency ${formatMs(p.latencyMs.median)} (p90 ${formatMs(p.latencyMs.p90)}); kernels ${formatMs(p.kernelMs)} per run; ` +
          `non-tensor layers take ${formatPercent(p.nonTensorShare)} of kernel time.`,
      ],
      svg: layerChart(p),
    },
    {
      heading: 'Time by op type',
      table: {
        headers: ['op', 'ms per run', 'share'],
        rows: top.map(([op, ms]) => [op, ms.toFixed(3), formatPercent(p.kernelMs ? ms / p.kernelMs : 0)]),
      },
    },
  ];
}

export function profileHtml(p: LayerProfile): string {
  return htmlReport({ title: `rebirth profile: ${p.model}`, subtitle: `${p.backend}, ${p.threads} thread(s), graph optimizations ${p.optLevel}`, sections: profileSections(p) });
}

export function formatProfile(p: LayerProfile, maxLayers = 25): string {
  const layers = [...p.layers].sort((a, b) => b.ms - a.ms).slice(0, maxLayers);
  return [
    `${p.model} on ${p.backend} (${p.threads} thread(s), opt ${p.optLevel}): median ${formatMs(p.latencyMs.median)}, p90 ${formatMs(p.latencyMs.p90)}`,
    `non-tensor share of kernel time: ${formatPercent(p.nonTensorShare)} (tensor ${formatMs(p.byCategory.tensor)}, non-tensor ${formatMs(p.byCategory['non-tensor'])}, other ${formatMs(p.byCategory.other)})`,
    '',
    formatTable(['layer', 'op', 'category', 'ms', 'share'], layers.map((l) => [
      l.name, l.opType, l.category, l.ms.toFixed(3), formatPercent(p.kernelMs ? l.ms / p.kernelMs : 0),
    ])),
  ].join('\n');
}

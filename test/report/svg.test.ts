import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RebirthError } from '../../src/errors.js';
import {
  NON_TENSOR_COLOR,
  PALETTE,
  TENSOR_COLOR,
  compactNumber,
  escapeXml,
  groupedBarChart,
  lineChart,
  niceScale,
  stackedBarChart,
} from '../../src/report/svg.js';
import { checkMarkup, externalUrls } from './xml-check.js';

const nasty = `a<b>&"c'</text><script>x</script>`;

function perLayer(): Parameters<typeof stackedBarChart>[0] {
  return {
    title: `Per-layer time ${nasty}`,
    categories: ['conv1/7x7_s2', 'pool1/3x3_s2', 'pool1/norm1', `layer ${nasty}`, 'inception_4e/5x5_reduce_with_a_rather_long_name'],
    series: [
      { name: 'tensor', color: TENSOR_COLOR, values: [18.25, 0, 0, 3.5, 12] },
      { name: `non-tensor ${nasty}`, color: NON_TENSOR_COLOR, values: [6.5, 9.4, 12.7, 1.25, 4] },
    ],
    yLabel: `time (ms) ${nasty}`,
  };
}

function assertWellFormed(svg: string): ReturnType<typeof checkMarkup> {
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  const parsed = checkMarkup(svg);
  assert.equal(parsed.elements[0], 'svg');
  assert.deepEqual(externalUrls(svg), []);
  assert.ok(!/<script/i.test(svg), 'no scripts');
  assert.ok(!svg.includes(nasty), 'raw text must be escaped');
  return parsed;
}

void describe('palette', () => {
  void test('tensor blue-ish, non-tensor orange-ish, palette starts with them', () => {
    const rgb = (hex: string): number[] => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const [tr, , tb] = rgb(TENSOR_COLOR);
    const [nr, , nb] = rgb(NON_TENSOR_COLOR);
    assert.ok((tb ?? 0) > (tr ?? 0));
    assert.ok((nr ?? 0) > (nb ?? 0));
    assert.deepEqual(PALETTE.slice(0, 2), [TENSOR_COLOR, NON_TENSOR_COLOR]);
  });
});

void describe('niceScale', () => {
  void test('1/2/5 steps covering the data', () => {
    assert.deepEqual(niceScale(0, 28.2).ticks, [0, 5, 10, 15, 20, 25, 30]);
    assert.deepEqual(niceScale(0, 0.3).ticks, [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]);
    assert.deepEqual(niceScale(-1.25, 0.3).ticks, [-1.5, -1, -0.5, 0, 0.5]);
    const flat = niceScale(0, 0);
    assert.equal(flat.min, 0);
    assert.ok(flat.max > 0);
    const s = niceScale(45, 91.2);
    assert.ok(s.min <= 45 && s.max >= 91.2 && s.ticks.length >= 4 && s.ticks.length <= 8);
  });

  void test('compactNumber', () => {
    assert.equal(compactNumber(3.4e9), '3.4G');
    assert.equal(compactNumber(45_210), '45.2k');
    assert.equal(compactNumber(2500), '2500');
    assert.equal(compactNumber(0.125), '0.125');
  });
});

void describe('stackedBarChart', () => {
  void test('well-formed, escaped, self-contained, numbers and names present', () => {
    const svg = stackedBarChart(perLayer());
    const { elements, text } = assertWellFormed(svg);
    assert.ok(text.includes(escapeXml(`Per-layer time ${nasty}`)));
    // Stack totals (18.25 + 6.5) and per-segment tooltips.
    assert.ok(text.includes('24.8'), 'stack total');
    assert.ok(text.includes('conv1/7x7_s2 | tensor: 18.3'));
    assert.ok(text.includes('pool1/norm1'));
    // Y ticks of a nice scale.
    for (const t of ['0', '5', '10', '15', '20', '25']) assert.ok(new RegExp(`>${t}</text>`).test(svg), `tick ${t}`);
    // Zero-height segments are not drawn: 5 categories, 2 series, 2 zeros.
    assert.equal(elements.filter((e) => e === 'rect').length - 1 - 2, 8);
    assert.ok(svg.includes(`fill="${TENSOR_COLOR}"`) && svg.includes(`fill="${NON_TENSOR_COLOR}"`));
  });

  void test('long labels are rotated and shortened with the full name on hover', () => {
    const svg = stackedBarChart(perLayer());
    assert.ok(svg.includes('rotate(-45'));
    assert.ok(svg.includes('<title>inception_4e/5x5_reduce_with_a_rather_long_name</title>'));
    assert.ok(svg.includes('…'));
  });

  void test('short labels stay horizontal', () => {
    const svg = stackedBarChart({ title: 't', categories: ['a', 'b'], series: [{ name: 's', values: [1, 2] }] });
    assert.ok(!svg.includes('rotate(-45'));
  });

  void test('bad input is a RebirthError naming the chart and series', () => {
    const o = perLayer();
    assert.throws(() => stackedBarChart({ ...o, series: [{ name: 'x', values: [1] }] }), (e: unknown) => e instanceof RebirthError && /series 'x' has 1 values for 5 categories/.test(e.message));
    assert.throws(() => stackedBarChart({ ...o, series: [{ name: 'x', values: [1, 2, -3, 4, 5] }] }), /negative value -3 for 'pool1\/norm1'/);
    assert.throws(() => stackedBarChart({ ...o, series: [{ name: 'x', values: [1, 2, NaN, 4, 5] }] }), /value NaN/);
    assert.throws(() => stackedBarChart({ ...o, series: [{ name: 'x', color: 'red" onload="x', values: [1, 2, 3, 4, 5] }] }), /not a CSS color/);
  });

  void test('no categories renders an empty chart', () => {
    const svg = stackedBarChart({ title: 'empty', categories: [], series: [] });
    assertWellFormed(svg);
    assert.ok(svg.includes('(no data)'));
  });

  void test('width grows with the number of layers', () => {
    const many = Array.from({ length: 80 }, (_, i) => `layer${i}`);
    const svg = stackedBarChart({ title: 't', categories: many, series: [{ name: 's', values: many.map(() => 1) }] });
    const width = Number(/width="(\d+)"/.exec(svg)?.[1]);
    assert.ok(width >= 80 * 26, `width ${width}`);
  });

  void test('beyond the width cap, crowded rotated labels are thinned out', () => {
    const many = Array.from({ length: 300 }, (_, i) => `block${i}/conv_reduce`);
    const svg = stackedBarChart({ title: 't', categories: many, series: [{ name: 's', values: many.map(() => 1) }] });
    assertWellFormed(svg);
    const shown = (svg.match(/rotate\(-45/g) ?? []).length;
    assert.ok(shown < 300 && shown >= 100, `${shown} labels shown`);
    assert.equal((svg.match(/<rect [^>]*fill="#4C78A8"><title>/g) ?? []).length, 300, 'every bar is still drawn');
  });
});

void describe('groupedBarChart', () => {
  void test('before/after per model with value labels, negative values below the axis', () => {
    const svg = groupedBarChart({
      title: 'Latency before/after',
      categories: ['GoogLeNet', 'AlexNet'],
      series: [
        { name: 'original', values: [240.5, 120.3] },
        { name: 'rebirth', values: [78.1, -5] },
      ],
      yLabel: 'ms',
    });
    const { text } = assertWellFormed(svg);
    for (const v of ['241', '120', '78.1', '-5', 'GoogLeNet', 'AlexNet', 'original', 'rebirth']) assert.ok(text.includes(v), v);
    assert.ok(svg.includes(`fill="${PALETTE[0]}"`) && svg.includes(`fill="${PALETTE[1]}"`));
  });
});

void describe('lineChart', () => {
  void test('accuracy per step: well-formed, axes labelled, gaps for NaN', () => {
    const svg = lineChart({
      title: `Accuracy ${nasty}`,
      xLabel: 'step',
      yLabel: 'top-1 (%)',
      yMin: 0,
      yMax: 100,
      series: [
        { name: 'merged', points: [[0, 60], [100, 75.5], [200, NaN], [300, 89.25]] },
        { name: 'original', points: [[0, 91.2], [300, 91.2]] },
      ],
    });
    const { text } = assertWellFormed(svg);
    for (const v of ['step', 'top-1 (%)', 'merged', 'original', '100', '300', '(100, 75.5)', '(300, 89.25)']) assert.ok(text.includes(v), v);
    // NaN starts a new sub-path.
    const d = /<path d="([^"]+)"/.exec(svg)?.[1] ?? '';
    assert.equal((d.match(/M/g) ?? []).length, 2);
  });

  void test('no points renders an empty chart', () => {
    const svg = lineChart({ title: 'empty', series: [{ name: 'a', points: [] }] });
    assertWellFormed(svg);
    assert.ok(svg.includes('(no data)'));
  });
});

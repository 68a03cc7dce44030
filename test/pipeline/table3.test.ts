import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { floatTensor } from '../../src/ir/tensor.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { applyMerges } from '../../src/merge/plan.js';
import { tuckerDecompose } from '../../src/decompose/tucker.js';
import { fractionRanks } from '../../src/decompose/ranks.js';
import { outputErrors } from '../../src/pipeline/tucker-retrain.js';
import { RebirthError } from '../../src/errors.js';
import { uniform } from '../decompose/fixtures.js';

function convs(): ReturnType<typeof modelOf> {
  const b = new GraphBuilder('convs');
  let x = b.input('x', [1, 24, 8, 8]);
  const conv = (name: string, cin: number, cout: number, k: number, group = 1): void => {
    const w = b.initializer(floatTensor(`${name}_w`, [cout, cin / group, k, k], uniform((cout * cin * k * k) / group, 1)));
    x = b.node('Conv', [x, w], { kernel_shape: [k, k], pads: [k >> 1, k >> 1, k >> 1, k >> 1], group }, { name, outputs: [`${name}_y`] })[0] as string;
  };
  conv('a', 24, 40, 3);
  conv('b', 40, 20, 1);
  conv('dw', 20, 20, 3, 20);
  b.output(x);
  return modelOf(b.graph);
}

void test('fractionRanks: fraction of each mode, min(Cin, Cout) for 1x1, multiples, grouped convs skipped', () => {
  const m = convs();
  assert.deepEqual(fractionRanks(m, 0.5), { a: [12, 20], b: [10, 10] });
  assert.deepEqual(fractionRanks(m, 0.5, 8), { a: [16, 24], b: [8, 8] }, 'rounded to 8: 12 -> 16, 20 -> 24, 10 -> 8');
  assert.deepEqual(fractionRanks(m, 0.1, 8), { a: [8, 8], b: [8, 8] }, 'at least one multiple');
  assert.deepEqual(fractionRanks(m, 0.9, 32), { a: [24, 32], b: [20, 20] }, 'at most the channel count');
  assert.throws(() => fractionRanks(m, 1), RebirthError);
  assert.throws(() => fractionRanks(m, 0.5, 0), RebirthError);
});

void test('Merge + Tucker on googlenet-mini: every merged conv decomposes and the model runs on ORT', async () => {
  const original = buildZooModel('googlenet-mini', { batch: 1 });
  const merged = applyMerges(original, {}).model;
  const ranks = fractionRanks(merged, 0.5, 8);
  const r = await tuckerDecompose(merged, { ranks, measure: false });
  const decomposed = r.layers.filter((l) => l.decomposed).map((l) => l.name).sort();
  const full = Object.entries(ranks).filter(([name, [rin, rout]]) => {
    const w = merged.graph.initializers.get(merged.graph.nodes.find((n) => n.name === name)?.inputs[1] ?? '');
    return !(w && rin === w.dims[1] && rout === w.dims[0]);
  }).map(([name]) => name).sort();
  assert.deepEqual(decomposed, full, 'every conv whose ranks are below its channel counts is decomposed');
  assert.ok(decomposed.some((n) => n.includes('rebirth')), 'rebirth (merged) layers among them');
  const x = { data: uniform(784 * 4, 3), count: 4, sample: [1, 28, 28] };
  const exact = await outputErrors(merged, merged, [], x, 1);
  assert.equal(exact.logits, 0);
  const e = await outputErrors(merged, r.model, [], x, 1);
  assert.ok(Number.isFinite(e.logits) && e.logits > 0, `logits error ${e.logits}`);
});

// Fire merges (src/merge/fire.ts): parallel convs of one input joined by a Concat become one conv, exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMerges, planMerges } from '../../src/merge/plan.js';
import type { Model } from '../../src/ir/graph.js';
import { TinyNet, maxAbsDiff, randomInput, runOrt } from './helpers.js';

const CIN = 6;
const SIZE = 7;

interface Expand {
  k: number;
  out: number;
}

/** squeeze 1x1 + ReLU, then one conv (+ ReLU) per expand, concatenated in the given order. */
function fire(expands: readonly Expand[], options: { relu?: boolean | boolean[]; seed?: number } = {}): { model: Model; out: string; next: string } {
  const t = new TinyNet(options.seed ?? 3);
  const x = t.input([1, 3, SIZE, SIZE]);
  const s = t.relu('fire2/squeeze1x1_relu', t.conv('fire2/squeeze1x1', x, 3, CIN, 1));
  const branches = expands.map((e, i) => {
    const c = t.conv(`fire2/expand${e.k}x${e.k}_${i}`, s, CIN, e.out, e.k, { pad: (e.k - 1) / 2 });
    const relu = Array.isArray(options.relu) ? options.relu[i] : options.relu ?? true;
    return relu ? t.relu(`fire2/relu_expand${e.k}x${e.k}_${i}`, c) : c;
  });
  const out = t.concat('fire2/concat', branches);
  // A reader after the module, so the merged output is used the way a network uses it.
  const next = t.relu('next', t.conv('next/conv', out, expands.reduce((a, e) => a + e.out, 0), 4, 3, { pad: 1 }));
  return { model: t.model([next]), out, next };
}

async function expectExact(model: Model, merged: Model, values: string[]): Promise<void> {
  const feeds = { x: randomInput([1, 3, SIZE, SIZE], 13) };
  const want = await runOrt(withOutputs(model, values), feeds);
  const got = await runOrt(withOutputs(merged, values), feeds);
  for (const v of values) {
    const a = want[v];
    const b = got[v];
    assert.ok(a && b, v);
    assert.deepEqual(b.dims, a.dims);
    const scale = Math.max(...Array.from(a.data, Math.abs));
    assert.ok(scale > 1e-3, `${v} is not all zeros (${scale})`);
    assert.ok(maxAbsDiff(a.data, b.data) <= 1e-5 * scale, `${v}: max |diff| ${maxAbsDiff(a.data, b.data)} (scale ${scale})`);
  }
}

function withOutputs(model: Model, values: string[]): Model {
  const outputs = [...model.graph.outputs];
  for (const v of values) if (!outputs.some((o) => o.name === v)) outputs.push({ name: v, docString: '' });
  return { ...model, graph: { ...model.graph, outputs } };
}

for (const expands of [
  [{ k: 1, out: 5 }, { k: 3, out: 4 }],
  [{ k: 3, out: 4 }, { k: 1, out: 5 }],
  [{ k: 1, out: 3 }, { k: 5, out: 2 }, { k: 3, out: 4 }],
]) {
  const what = expands.map((e) => `${e.k}x${e.k}`).join(' + ');
  test(`Fire ${what}: one conv with the small kernels as centred taps, exact on ORT (1e-5)`, async () => {
    const { model, out, next } = fire(expands);
    const result = applyMerges(model);
    assert.deepEqual(result.merges.map((m) => [m.name, m.kind, m.exact]), [['fire2', 'fire', true]]);
    assert.deepEqual(result.rebirthLayers, [], 'an exact merge leaves nothing to retrain');
    const k = Math.max(...expands.map((e) => e.k));
    assert.match(result.merges[0]?.description ?? '', new RegExp(`^${expands.length} parallel convs -> 1, exact: .*; Conv ${k}x${k} -> ${expands.reduce((a, e) => a + e.out, 0)} \\+ Relu \\(conv FLOPs x[\\d.]+\\)$`));
    const g = result.model.graph;
    assert.deepEqual(g.nodes.map((n) => n.opType), ['Conv', 'Relu', 'Conv', 'Relu', 'Conv', 'Relu']);
    const conv = g.nodes[2];
    assert.deepEqual(g.initializers.get(conv?.inputs[1] ?? '')?.dims, [expands.reduce((a, e) => a + e.out, 0), CIN, k, k]);
    await expectExact(model, result.model, [out, next]);
  });
}

test('Fire without ReLUs merges exactly too; init does not matter for an exact merge', async () => {
  const { model, out } = fire([{ k: 1, out: 3 }, { k: 3, out: 3 }], { relu: false });
  const result = applyMerges(model, { init: 'xavier' });
  assert.deepEqual(result.merges.map((m) => m.kind), ['fire']);
  assert.deepEqual(result.model.graph.nodes.map((n) => n.opType), ['Conv', 'Relu', 'Conv', 'Conv', 'Relu']);
  await expectExact(model, result.model, [out]);
});

test('planMerges costs a Fire merge: the 1x1 taps become 3x3 (more FLOPs, fewer nodes)', () => {
  const { model } = fire([{ k: 1, out: 4 }, { k: 3, out: 4 }]);
  const c = planMerges(model).candidates[0];
  assert.ok(c && c.flops.before !== undefined && c.flops.after !== undefined);
  // Conv FLOPs per image: 2 * positions * cin * cout * k^2 (+ ReLUs, which are the same before and after).
  const positions = SIZE * SIZE;
  const convBefore = 2 * positions * CIN * 4 * (1 + 9);
  const convAfter = 2 * positions * CIN * 8 * 9;
  assert.equal(c.flops.after - c.flops.before, convAfter - convBefore);
  assert.equal(c.params.before, CIN * 4 + 4 + CIN * 4 * 9 + 4);
  assert.equal(c.params.after, CIN * 8 * 9 + 8);
});

test('fire: false leaves Fire modules alone', () => {
  const { model } = fire([{ k: 1, out: 4 }, { k: 3, out: 4 }]);
  assert.deepEqual(applyMerges(model, { fire: false }).merges, []);
});

test('refused Fire modules keep their reasons', () => {
  const reason = (model: Model): string => {
    const plan = planMerges(model);
    assert.equal(plan.candidates.length, 0);
    return plan.refused.map((r) => `${r.name}: ${r.reason}`).join('; ');
  };
  assert.match(reason(fire([{ k: 1, out: 4 }, { k: 3, out: 4 }], { relu: [true, false] }).model), /^fire2: .*some parallel convs end in a ReLU and others do not/);

  // Pads that keep the size but are not centred: the merged kernel would read shifted pixels.
  const t = new TinyNet();
  const x = t.input([1, 3, SIZE, SIZE]);
  const a = t.relu('m/relu_a', t.conv('m/a', x, 3, 2, 1));
  const b = t.relu('m/relu_b', t.conv('m/b', x, 3, 2, 3, { pads: [0, 0, 2, 2] }));
  assert.match(reason(t.model([t.concat('m/concat', [a, b])])), /'m\/b' \(Conv\): must keep the spatial size \(odd kernel, stride 1, pads \(k-1\)\/2\)/);
  // Strided convs change the spatial size.
  const t2 = new TinyNet();
  const x2 = t2.input([1, 3, SIZE, SIZE]);
  const a2 = t2.relu('m/relu_a', t2.conv('m/a', x2, 3, 2, 1, { stride: 2 }));
  const b2 = t2.relu('m/relu_b', t2.conv('m/b', x2, 3, 2, 3, { stride: 2, pad: 1 }));
  assert.match(reason(t2.model([t2.concat('m/concat', [a2, b2])])), /'m\/a' \(Conv\): must keep the spatial size/);

  // An intermediate read outside the module.
  const t3 = new TinyNet();
  const x3 = t3.input([1, 3, SIZE, SIZE]);
  const c3 = t3.conv('m/b', x3, 3, 2, 3, { pad: 1 });
  const a3 = t3.relu('m/relu_a', t3.conv('m/a', x3, 3, 2, 1));
  assert.match(reason(t3.model([t3.concat('m/concat', [a3, t3.relu('m/relu_b', c3)]), t3.b.op('Sigmoid', [c3], {}, 'peek')])), /'m\/b_out' is read by 2 nodes/);

  // Concatenated on a spatial axis.
  const t4 = new TinyNet();
  const x4 = t4.input([1, 3, SIZE, SIZE]);
  const a4 = t4.relu('m/relu_a', t4.conv('m/a', x4, 3, 2, 1));
  const b4 = t4.relu('m/relu_b', t4.conv('m/b', x4, 3, 2, 3, { pad: 1 }));
  assert.match(reason(t4.model([t4.b.op('Concat', [a4, b4], { axis: 2 }, 'm/concat')])), /concatenates on axis 2, not channels/);
});

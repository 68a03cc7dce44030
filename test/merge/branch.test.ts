import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMerges, planMerges } from '../../src/merge/plan.js';
import { learningRateMultipliers } from '../../src/merge/init.js';
import type { Model } from '../../src/ir/graph.js';
import { TinyNet, channels, maxAbsDiff, randomInput, runOrt } from './helpers.js';

interface Widths { c1: number; r3: number; c3: number; r5: number; c5: number; cp: number }
const W: Widths = { c1: 4, r3: 6, c3: 8, r5: 2, c5: 4, cp: 3 };
const CX = 8;
const SIZE = 6;

type Part = '1x1' | '3x3' | '5x5' | 'pool_proj';

/**
 * One Inception module with Caffe names; `order` is the Concat's input order. `k5` is the kernel of the
 * '5x5' branch: 3 gives torchvision's layout (its "5x5" branch is a 3x3).
 */
function module(order: readonly Part[] = ['1x1', '3x3', '5x5', 'pool_proj'], w: Widths = W, seed = 5, k5 = 5): { model: Model; out: string } {
  const t = new TinyNet(seed);
  const x = t.input([1, CX, SIZE, SIZE]);
  const p = 'inception_3a';
  const cr = (layer: string, input: string, cin: number, cout: number, k: number): string =>
    t.relu(`${p}/relu_${layer}`, t.conv(`${p}/${layer}`, input, cin, cout, k, { pad: (k - 1) / 2 }));
  const parts: Record<Part, string> = {
    '1x1': cr('1x1', x, CX, w.c1, 1),
    '3x3': cr('3x3', cr('3x3_reduce', x, CX, w.r3, 1), w.r3, w.c3, 3),
    '5x5': cr('5x5', cr('5x5_reduce', x, CX, w.r5, 1), w.r5, w.c5, k5),
    pool_proj: cr('pool_proj', t.pool('MaxPool', `${p}/pool`, x, 3, 1, { pad: 1 }), CX, w.cp, 1),
  };
  const out = t.concat(`${p}/output`, order.map((o) => parts[o]));
  return { model: t.model([out]), out };
}

const WIDTH: Record<Part, number> = { '1x1': W.c1, '3x3': W.c3, '5x5': W.c5, pool_proj: W.cp };

/** Channel range of each part in the Concat output for a given order. */
function ranges(order: readonly Part[]): Record<Part, [number, number]> {
  const out = {} as Record<Part, [number, number]>;
  let at = 0;
  for (const o of order) {
    out[o] = [at, at + WIDTH[o]];
    at += WIDTH[o];
  }
  return out;
}

test('an Inception module becomes two branches with the same Concat width (ORT)', async () => {
  const { model, out } = module();
  const result = applyMerges(model);
  assert.deepEqual(result.merges.map((m) => [m.name, m.kind]), [['inception_3a', 'branch']]);
  const g = result.model.graph;
  const convs = g.nodes.filter((n) => n.opType === 'Conv');
  // thinned 3x3 reducer, widened 3x3, kept 5x5 reducer, widened 5x5.
  assert.equal(convs.length, 4);
  assert.equal(g.nodes.filter((n) => n.opType === 'MaxPool').length, 0);
  const concat = g.nodes.find((n) => n.opType === 'Concat');
  assert.equal(concat?.inputs.length, 2);
  const dims = (name: string): number[] => g.initializers.get(name)?.dims ?? [];
  const byName = (suffix: string): string => convs.find((n) => n.name === `inception_3a/${suffix}`)?.inputs[1] ?? '';
  assert.deepEqual(dims(byName('rebirth_3x3_reduce')), [3, CX, 1, 1]); // 6 * 0.5
  assert.deepEqual(dims(byName('rebirth_3x3')), [W.c1 + W.c3, 3, 3, 3]); // 4 + 8 outputs
  assert.deepEqual(dims(byName('5x5_reduce')), [W.r5, CX, 1, 1]); // not thinned (paper)
  assert.deepEqual(dims(byName('rebirth_5x5')), [W.c5 + W.cp, W.r5, 5, 5]); // 4 + 3 outputs
  const feeds = { x: randomInput([1, CX, SIZE, SIZE]) };
  const [before, after] = [await runOrt(model, feeds), await runOrt(result.model, feeds)];
  assert.deepEqual(after[out]?.dims, [1, W.c1 + W.c3 + W.c5 + W.cp, SIZE, SIZE]);
  assert.deepEqual(after[out]?.dims, before[out]?.dims);
  // Rebirth layers: thinned reducer and the two widened convs; the kept 5x5 reducer is not one.
  assert.deepEqual(result.rebirthLayers.map((l) => l.node), ['inception_3a/rebirth_3x3_reduce', 'inception_3a/rebirth_3x3', 'inception_3a/rebirth_5x5']);
  assert.equal(result.rebirthParams.length, 6);
  assert.equal(learningRateMultipliers(result.rebirthLayers).get(result.rebirthParams[0] ?? ''), 10);
  assert.ok(result.rebirthLayers.every((l) => l.target === out && l.exactness === 'random'));
});

test('reducer ratios are options: reducerRatio thins the 3x3 reducer, reducer5Ratio the 5x5 one', () => {
  const { model } = module();
  const result = applyMerges(model, { reducerRatio: 1, reducer5Ratio: 0.5 });
  const g = result.model.graph;
  const weightOf = (node: string): number[] => g.initializers.get(g.nodes.find((n) => n.name === node)?.inputs[1] ?? '')?.dims ?? [];
  assert.deepEqual(weightOf('inception_3a/rebirth_3x3_reduce'), [W.r3, CX, 1, 1]);
  assert.deepEqual(weightOf('inception_3a/rebirth_5x5_reduce'), [1, CX, 1, 1]);
  assert.deepEqual(weightOf('inception_3a/rebirth_5x5'), [W.c5 + W.cp, 1, 5, 5]);
});

for (const order of [['1x1', '3x3', '5x5', 'pool_proj'], ['3x3', '1x1', 'pool_proj', '5x5'], ['5x5', 'pool_proj', '1x1', '3x3']] as const) {
  test(`inherit keeps the Concat channel order ${order.join(',')}: exact parts land on their original channels`, async () => {
    const { model, out } = module(order);
    const feeds = { x: randomInput([1, CX, SIZE, SIZE], 11) };
    const before = (await runOrt(model, feeds))[out];
    assert.ok(before);
    const r = ranges(order);
    const check = async (options: Parameters<typeof applyMerges>[1], exactParts: Part[], inexactParts: Part[]): Promise<void> => {
      const result = applyMerges(model, options);
      assert.equal(result.merges.length, 1);
      const after = (await runOrt(result.model, feeds))[out];
      assert.ok(after);
      assert.deepEqual(after.dims, before.dims);
      for (const part of exactParts) {
        const d = maxAbsDiff(channels(before, ...r[part]), channels(after, ...r[part]));
        assert.ok(d < 1e-5, `${JSON.stringify(options)} ${part}: max |diff| ${d}`);
      }
      for (const part of inexactParts) {
        const d = maxAbsDiff(channels(before, ...r[part]), channels(after, ...r[part]));
        assert.ok(d > 1e-4, `${JSON.stringify(options)} ${part} is expected to be approximate, diff ${d}`);
      }
    };
    // Carry layout: the 1x1 part is exact even with the 3x3 reducer thinned.
    await check({ init: 'inherit', layout: 'carry' }, ['1x1', '5x5'], ['pool_proj']);
    await check({ init: 'inherit', layout: 'carry', reducerRatio: 1 }, ['1x1', '3x3', '5x5'], ['pool_proj']);
    // Paper layout: the widened convs read only the reducers, so the 1x1 and pool parts are approximations.
    await check({ init: 'inherit', layout: 'paper', reducerRatio: 1 }, ['3x3', '5x5'], ['1x1', 'pool_proj']);
  });
}

// torchvision's layout: both reduce branches 3x3. The pairing is chosen by cost among those that keep the
// Concat order, which for four inputs is the one pairing {0,1} + {2,3}: here the 1x1 branch can go into
// either reduce branch, depending on where the Concat puts it. The carry layout's exact parts show that
// the channels land where they were.
for (const [order, plainHost] of [
  [['1x1', '3x3', '5x5', 'pool_proj'], '3x3'],
  [['1x1', '5x5', '3x3', 'pool_proj'], '5x5'],
  [['pool_proj', '3x3', '5x5', '1x1'], '5x5'],
] as const) {
  test(`equal kernels (torchvision): Concat order ${order.join(',')} puts the 1x1 branch into '${plainHost}', channels in place`, async () => {
    const { model, out } = module(order, W, 5, 3);
    const plan = planMerges(model);
    assert.deepEqual(plan.refused, []);
    const description = plan.candidates[0]?.description ?? '';
    assert.match(description, new RegExp(`; 1x1 into ${plainHost}: the only pairing that keeps the Concat order \\([\\d.]+ MFLOPs; into ${plainHost === '3x3' ? '5x5' : '3x3'}: [\\d.]+ MFLOPs\\)`));
    const poolHost: Part = plainHost === '3x3' ? '5x5' : '3x3';
    const feeds = { x: randomInput([1, CX, SIZE, SIZE], 11) };
    const before = (await runOrt(model, feeds))[out];
    assert.ok(before);
    const r = ranges(order);
    // Carry + inherit with the plain host's reducer kept whole: everything but the max pool is exact.
    const result = applyMerges(model, { init: 'inherit', layout: 'carry', reducerRatio: 1 });
    const after = (await runOrt(result.model, feeds))[out];
    assert.ok(after);
    assert.deepEqual(after.dims, before.dims);
    for (const part of ['1x1', plainHost, poolHost] as const) {
      const d = maxAbsDiff(channels(before, ...r[part]), channels(after, ...r[part]));
      assert.ok(d < 1e-5, `${part}: max |diff| ${d}`);
    }
    assert.ok(maxAbsDiff(channels(before, ...r.pool_proj), channels(after, ...r.pool_proj)) > 1e-4, 'pool_proj part approximates the max pool');
    // The default (paper) thins the plain host's reducer (6 -> 3), not the pool host's.
    const paper = applyMerges(model);
    const g = paper.model.graph;
    const reducer = g.nodes.find((n) => n.name === `inception_3a/rebirth_${plainHost}_reduce`);
    assert.deepEqual(g.initializers.get(reducer?.inputs[1] ?? '')?.dims, [Math.round((plainHost === '3x3' ? W.r3 : W.r5) * 0.5) || 1, CX, 1, 1]);
  });
}

test('equal kernels: an order with no adjacent pairing is still refused, with the reason', () => {
  const { model } = module(['1x1', 'pool_proj', '3x3', '5x5'], W, 5, 3);
  const plan = planMerges(model);
  assert.equal(plan.candidates.length, 0);
  assert.match(plan.refused[0]?.reason ?? '', /the 1x1 and pool branches must each sit next to one of the two 3x3 branches in the Concat/);
});

test('inherit exactness flags and notes describe each rebirth layer', () => {
  const { model } = module();
  const carry = applyMerges(model, { init: 'inherit', layout: 'carry', reducerRatio: 1 }).rebirthLayers;
  const flag = (layers: typeof carry, node: string): string | undefined => layers.find((l) => l.node === `inception_3a/${node}`)?.exactness;
  assert.equal(flag(carry, 'rebirth_3x3'), 'exact');
  assert.equal(flag(carry, 'rebirth_5x5'), 'partial');
  const paper = applyMerges(model, { init: 'inherit' }).rebirthLayers;
  assert.equal(flag(paper, 'rebirth_3x3'), 'approximate');
  assert.equal(flag(paper, 'rebirth_3x3_reduce'), 'partial');
  assert.equal(flag(paper, 'rebirth_5x5'), 'partial');
  assert.match(paper.find((l) => l.node === 'inception_3a/rebirth_3x3')?.note ?? '', /least-squares projected/);
});

test('inherit thinning keeps the reducer filters with the largest weight norm', () => {
  const { model } = module();
  const result = applyMerges(model, { init: 'inherit' });
  const g = result.model.graph;
  const oldW = model.graph.initializers.get('inception_3a/3x3_reduce_w');
  const newW = g.initializers.get(g.nodes.find((n) => n.name === 'inception_3a/rebirth_3x3_reduce')?.inputs[1] ?? '');
  assert.ok(oldW?.data && newW?.data);
  const rows = (t: Uint8Array, n: number): number[][] => {
    const f = new Float32Array(t.buffer.slice(t.byteOffset, t.byteOffset + t.byteLength));
    return Array.from({ length: n }, (_, i) => Array.from(f.subarray(i * CX, (i + 1) * CX)));
  };
  const old = rows(oldW.data, W.r3);
  const norms = old.map((r, i) => ({ i, n: r.reduce((a, b) => a + b * b, 0) })).sort((a, b) => b.n - a.n);
  const expected = norms.slice(0, 3).map((x) => x.i).sort((a, b) => a - b).map((i) => old[i]);
  assert.deepEqual(rows(newW.data, 3), expected);
});

test('refused: merged branches not adjacent in the Concat', () => {
  const { model } = module(['1x1', '5x5', '3x3', 'pool_proj']);
  const result = applyMerges(model);
  assert.equal(result.merges.length, 0);
  assert.match(result.refused[0]?.reason ?? '', /1x1 branch must sit next to the 3x3 branch/);
  assert.equal(result.refused[0]?.name, 'inception_3a');
});

test('refused: a branch intermediate is read elsewhere', () => {
  const { model } = module();
  const g = model.graph;
  g.nodes.push({ name: 'peek', opType: 'Sigmoid', domain: '', inputs: ['inception_3a/relu_3x3_reduce_out'], outputs: ['peek_out'], attributes: [], docString: '' });
  g.outputs.push({ name: 'peek_out', elemType: 1, docString: '' });
  const result = applyMerges(model);
  assert.equal(result.merges.length, 0);
  assert.match(result.refused[0]?.reason ?? '', /'inception_3a\/relu_3x3_reduce_out' is read by 2 nodes/);
});

test('refused: a three-branch module; a Concat of unrelated values is not a candidate at all', () => {
  const t = new TinyNet();
  const x = t.input([1, CX, SIZE, SIZE]);
  const a = t.relu('m/relu_a', t.conv('m/a', x, CX, 2, 1));
  const b = t.relu('m/relu_b', t.conv('m/b', t.relu('m/relu_br', t.conv('m/br', x, CX, 2, 1)), 2, 2, 3, { pad: 1 }));
  const c = t.relu('m/relu_c', t.conv('m/c', t.pool('MaxPool', 'm/pool', x, 3, 1, { pad: 1 }), CX, 2, 1));
  const plan = planMerges(t.model([t.concat('m/output', [a, b, c])]));
  assert.equal(plan.candidates.length, 0);
  assert.match(plan.refused[0]?.reason ?? '', /expected 4 branches reading one input.*found 3 inputs/);

  const t2 = new TinyNet();
  const y = t2.input([1, 2, 4, 4], 'y');
  const z = t2.input([1, 2, 4, 4], 'z');
  assert.deepEqual(planMerges(t2.model([t2.concat('cat', [y, z])])), { candidates: [], refused: [], folds: [] });
});

test('branch: false leaves modules alone; planMerges costs the module', () => {
  const { model } = module();
  assert.equal(applyMerges(model, { branch: false }).merges.length, 0);
  const c = planMerges(model).candidates[0];
  assert.ok(c);
  assert.equal(c.kind, 'branch');
  assert.ok(c.flops.before !== undefined && c.flops.after !== undefined);
  assert.equal(c.params.after, (3 * CX + 3) + ((W.c1 + W.c3) * 3 * 9 + W.c1 + W.c3) + ((W.c5 + W.cp) * W.r5 * 25 + W.c5 + W.cp));
});

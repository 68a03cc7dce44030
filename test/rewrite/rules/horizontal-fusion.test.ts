import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getInts } from '../../../src/ir/attributes.js';
import { tensorToNumbers } from '../../../src/ir/tensor.js';
import { horizontalFusion } from '../../../src/rewrite/rules/horizontal-fusion.js';
import { optimizeModel } from '../../../src/rewrite/optimize.js';
import { builder, expectRefusal, model, opCounts, randomTensor, rewrite } from '../ort.js';

/** An inception-like block: three 1x1 convs (one without bias) and one 3x3 conv read x. */
function siblings(opset = 13): ReturnType<typeof model> {
  const b = builder();
  const x = b.input('x', [1, 8, 6, 6]);
  const a = b.op('Conv', [x, b.initializer(randomTensor('Wa', [4, 8, 1, 1], 1)), b.initializer(randomTensor('Ba', [4], 2))], {}, 'a');
  const k = b.op('Conv', [x, b.initializer(randomTensor('Wk', [5, 8, 3, 3], 3))], { pads: [1, 1, 1, 1] }, 'k');
  const c = b.op('Conv', [x, b.initializer(randomTensor('Wc', [6, 8, 1, 1], 4))], {}, 'c');
  const d = b.op('Conv', [x, b.initializer(randomTensor('Wd', [2, 8, 1, 1], 5)), b.initializer(randomTensor('Bd', [2], 6))], { strides: [1, 1] }, 'd');
  b.output(b.op('Relu', [a]));
  b.output(k);
  b.output(c);
  b.output(b.op('Sigmoid', [d]));
  return model(b, opset);
}

test('fuses the 1x1 siblings into one Conv + Split, leaving the 3x3 sibling alone', async () => {
  for (const opset of [11, 13]) {
    const { optimized, result } = await rewrite(siblings(opset), [horizontalFusion]);
    assert.equal(result.firings['horizontal-fusion'], 1);
    assert.deepEqual(opCounts(optimized), { Conv: 2, Split: 1, Relu: 1, Sigmoid: 1 });
    const split = optimized.graph.nodes.find((n) => n.opType === 'Split')!;
    const sizes = opset < 13 ? getInts(split, 'split') : tensorToNumbers(optimized.graph.initializers.get(split.inputs[1]!)!);
    assert.deepEqual(sizes, [4, 6, 2]);
    // The siblings' weights were replaced by the fused ones.
    assert.ok(!optimized.graph.initializers.has('Wa') && !optimized.graph.initializers.has('Bd'));
    assert.equal(optimized.graph.initializers.get('a_hfused_W')?.dims[0], 12);
  }
});

test('a sibling with a shared weight stays out of the group', async () => {
  const m = siblings();
  // 'k' now reads Wc too: Wc is shared, so 'c' cannot join; 'a' and 'd' still fuse.
  m.graph.nodes[1]!.inputs = [m.graph.nodes[1]!.inputs[0]!, 'Wc'];
  m.graph.nodes[1]!.attributes = [];
  const { optimized } = await rewrite(m, [horizontalFusion]);
  const split = optimized.graph.nodes.find((n) => n.opType === 'Split')!;
  assert.equal(split.outputs.length, 2);
});

test('refuses when no sibling has the same geometry', () => {
  const b = builder();
  const x = b.input('x', [1, 4, 6, 6]);
  b.output(b.op('Conv', [x, b.initializer(randomTensor('W1', [4, 4, 1, 1], 1))]));
  b.output(b.op('Conv', [x, b.initializer(randomTensor('W2', [4, 4, 1, 1], 2))], { strides: [2, 2] }));
  expectRefusal(model(b), [horizontalFusion], /same kernel geometry/);
});

test('optimizeModel applies it only where the decide hook approves', async () => {
  const seen: string[] = [];
  const no = await optimizeModel(siblings(), { rules: ['horizontal-fusion'], decide: (c) => { seen.push(c.node); return false; }, explain: true });
  assert.deepEqual(seen, ['a']);
  assert.equal(no.rules['horizontal-fusion'], 0);
  assert.equal(no.nodesAfter, no.nodesBefore);
  assert.ok(no.refusals.some((r) => r.node === 'a' && /declined/.test(r.reason)));
  const yes = await optimizeModel(siblings(), { rules: ['horizontal-fusion'], decide: () => true });
  assert.equal(yes.rules['horizontal-fusion'], 1);
  assert.equal(yes.nodesAfter, yes.nodesBefore - 1);
  assert.ok(yes.verification.checked && yes.verification.passed);
});

test('the default decide measures both models on the backend and applies what it accepted', async () => {
  const r = await optimizeModel(siblings(), { rules: ['horizontal-fusion'], measure: { runs: 5, warmup: 1 } });
  assert.equal(r.decisions.length, 1);
  const d = r.decisions[0]!;
  assert.ok(d.beforeMs !== undefined && d.beforeMs > 0 && d.afterMs !== undefined && d.afterMs > 0);
  assert.equal(r.rules['horizontal-fusion'], d.accepted ? 1 : 0);
  // The verdict follows decideFaster's rule (src/runtime/decide.ts): keep only when the paired interval
  // excludes 1 and the estimate clears the 3% minimum gain.
  const m = d.measured;
  assert.ok(m, 'the measured decision is reported');
  assert.equal(d.accepted, m.interval[0] > 1 && m.ratio >= 1.03, `accepted=${d.accepted} with ratio ${m.ratio} interval ${m.interval.join('-')}`);
});

/**
 * Linearize and merge on ONNX Runtime: the merged network computes what the linearized (retrainable)
 * network computes, for every item kind on both teachers' structures; with padding 'exact' the
 * linearized network is the original with the activations made the identity; with 'push' it differs
 * from that only where a window reaches the border.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Model } from '../../src/ir/graph.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { replaceUses } from '../../src/ir/topology.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { cloneModel } from '../../src/rewrite/engine.js';
import { verifyModels } from '../../src/rewrite/verify.js';
import { Session } from '../../src/runtime/session.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { enumerateCandidates, type Item } from '../../src/shrink/candidates.js';
import { linearize, mergeGroups } from '../../src/shrink/apply.js';
import { foldForShrink } from '../../src/shrink/shrink.js';
import { analyzeStructure, type Activation } from '../../src/shrink/structure.js';
import { randomTensor } from '../rewrite/ort.js';

/** Disjoint items: the given ids first, then keep items for the rest. */
function choose(items: readonly Item[], ids: readonly string[]): Item[] {
  const out = ids.map((id) => {
    const it = items.find((i) => i.id === id);
    assert.ok(it, `item ${id} exists`);
    return it;
  });
  return out;
}

async function assertSame(a: Model, b: Model, tolerance = 1e-4): Promise<void> {
  const v = await verifyModels(a, b, { tolerance, samples: 2 });
  assert.ok(v.passed, `outputs differ by ${v.maxRelError}`);
}

test('resnet-mini: collapsed blocks (identity and 1x1 stride-2 shortcuts) and a merged run merge exactly', async () => {
  const folded = await foldForShrink(buildZooModel('resnet-mini', { batch: 1, bnStats: 'random' }));
  const structure = analyzeStructure(folded);
  const { items } = enumerateCandidates(folded.graph, structure, {});
  const plan = choose(items, ['0:0-1', '0:3-3', '0:4-4', '0:6-6']);
  const lin = linearize(folded, structure, plan, 'push');
  assert.deepEqual(lin.groups, [{ convs: ['conv1', 'res2a'] }]);
  assert.equal(lin.removed.length, 4 + 1);
  const merged = mergeGroups(lin.model, lin.groups);
  // 15 convs: conv1 + res2a's two -> 1, res3a's three (with the shortcut) -> 1, res3b's and res4b's two -> 1 each.
  assert.equal(merged.graph.nodes.filter((n) => n.opType === 'Conv').length, 15 - 2 - 2 - 1 - 1);
  assert.equal(merged.graph.nodes.filter((n) => n.opType === 'Add').length, 6 - 4);
  await assertSame(lin.model, merged);
});

test('mobilenetv2-mini: pw-dw-pw runs, a block merged in part (Add kept), a linear-bottleneck boundary, all exact', async () => {
  const folded = await foldForShrink(buildZooModel('mobilenetv2-mini', { batch: 1, bnStats: 'random' }));
  const structure = analyzeStructure(folded);
  const { items } = enumerateCandidates(folded.graph, structure, {});
  const kinds = new Set(items.map((i) => i.kind));
  assert.deepEqual([...kinds].sort(), ['block', 'keep', 'merge']);
  const plan = choose(items, ['0:0-2', '0:3-5', '0:6:01|2', '0:7-9', '0:10-11', '0:14-15']);
  const lin = linearize(folded, structure, plan, 'push');
  const merged = mergeGroups(lin.model, lin.groups);
  await assertSame(lin.model, merged);
  // The partly merged block keeps its Add; the collapsed ones lose theirs.
  assert.ok(merged.graph.nodes.some((n) => n.name === 'block3/add' && n.opType === 'Add'));
  assert.ok(!merged.graph.nodes.some((n) => n.opType === 'Add' && ['block5/add', 'block6/add', 'block8/add'].includes(n.name)));
});

/** x -> conv -> act -> conv -> act -> conv: three convs and two ReLUs. */
function threeConvs(geometry: Array<{ cout: number; k: number; pad: number; bias: boolean }>): Model {
  const b = new GraphBuilder('g');
  let y = b.input('x', [1, 3, 9, 9]);
  let c = 3;
  geometry.forEach((g, i) => {
    const inputs = [y, b.initializer(randomTensor(`w${i}`, [g.cout, c, g.k, g.k], 10 + i))];
    if (g.bias) inputs.push(b.initializer(randomTensor(`b${i}`, [g.cout], 20 + i)));
    y = b.op('Conv', inputs, { pads: [g.pad, g.pad, g.pad, g.pad] }, `conv${i}`);
    if (i < geometry.length - 1) y = b.op('Relu', [y], {}, `relu${i}`);
    c = g.cout;
  });
  b.output(y);
  return modelOf(b.graph, 13);
}

function withoutActivations(m: Model, acts: readonly Activation[]): Model {
  const copy = cloneModel(m);
  for (const a of acts) {
    copy.graph.nodes = copy.graph.nodes.filter((n) => !a.nodes.some((x) => x.name === n.name));
    replaceUses(copy.graph, a.output, a.input);
  }
  return copy;
}

test('padding exact: where every step is exact, the merged conv is the original with its ReLUs removed', async () => {
  // 3x3 (pad 1) -> 1x1 (no bias) -> 3x3 (pad 1): the 1x1's output is zero where the 3x3 pads it.
  const m = threeConvs([{ cout: 6, k: 3, pad: 1, bias: true }, { cout: 4, k: 1, pad: 0, bias: false }, { cout: 5, k: 3, pad: 1, bias: true }]);
  const folded = await foldForShrink(m);
  const structure = analyzeStructure(folded);
  const { items, refusals } = enumerateCandidates(folded.graph, structure, { padding: 'exact' });
  const run = items.find((i) => i.id === '0:1-2');
  assert.ok(run, JSON.stringify(refusals));
  // conv0 -> conv1 is refused: conv1 is unpadded, fine, but conv0 .. conv2 crosses conv2's padding over conv0's biased output.
  assert.ok(refusals.some((r) => r.units === 'conv0..conv2' && /bias|real pixels/.test(r.reason)), JSON.stringify(refusals));
  const lin = linearize(folded, structure, [run], 'exact');
  const merged = mergeGroups(lin.model, lin.groups);
  await assertSame(withoutActivations(folded, run.removed), merged, 1e-5);
});

test('padding push: the linearized network differs from the ReLU-free original only at the border', async () => {
  const m = threeConvs([{ cout: 6, k: 3, pad: 1, bias: true }, { cout: 5, k: 3, pad: 1, bias: true }, { cout: 4, k: 1, pad: 0, bias: true }]);
  const folded = await foldForShrink(m);
  const structure = analyzeStructure(folded);
  const { items } = enumerateCandidates(folded.graph, structure, {});
  const run = items.find((i) => i.id === '0:0-1');
  assert.ok(run);
  const lin = linearize(folded, structure, [run], 'push');
  const merged = mergeGroups(lin.model, lin.groups);
  await assertSame(lin.model, merged);
  const reference = withoutActivations(folded, run.removed);
  const x = Float32Array.from({ length: 3 * 81 }, (_, i) => Math.sin(i * 0.7));
  const outputs = await Promise.all([reference, merged].map(async (model) => {
    const s = await Session.create(encodeModel(model));
    try {
      const y = (await s.run({ x: { type: 'float32', dims: [1, 3, 9, 9], data: x } }))[model.graph.outputs[0]?.name ?? ''];
      assert.ok(y?.type === 'float32');
      return y.data;
    } finally {
      await s.release();
    }
  }));
  const [a, b] = outputs as [Float32Array, Float32Array];
  let interior = 0;
  let border = 0;
  for (let c = 0; c < 4; c++) {
    for (let r = 0; r < 9; r++) {
      for (let q = 0; q < 9; q++) {
        const d = Math.abs((a[(c * 9 + r) * 9 + q] as number) - (b[(c * 9 + r) * 9 + q] as number));
        // conv1's window (3x3, pad 1) reaches its padding only on the outermost ring.
        if (r === 0 || q === 0 || r === 8 || q === 8) border = Math.max(border, d);
        else interior = Math.max(interior, d);
      }
    }
  }
  assert.ok(interior < 1e-4, `interior differs by ${interior}`);
  assert.ok(border > 1e-3, `border differs by only ${border}`);
});

test('skip: a block with the identity shortcut passes its input through; a projection block keeps only its 1x1 conv', async () => {
  const folded = await foldForShrink(buildZooModel('resnet-mini', { batch: 1, bnStats: 'random' }));
  const structure = analyzeStructure(folded);
  const { items } = enumerateCandidates(folded.graph, structure, { skipBlocks: true });
  const lin = linearize(folded, structure, choose(items, ['0:1:skip', '0:3:skip']), 'push');
  const names = new Set(lin.model.graph.nodes.map((n) => n.name));
  for (const gone of ['res2a_branch2a', 'res2a_branch2b', 'res2a', 'res3a_branch2a', 'res3a_branch2b', 'res3a']) assert.ok(!names.has(gone), gone);
  assert.ok(names.has('res3a_branch1'));
  // res2a_relu now reads conv1_relu directly: ReLU of a ReLU output is that output.
  const g = { ...lin.model.graph, outputs: [...lin.model.graph.outputs, { name: 'conv1_relu', docString: '' }, { name: 'res2a_relu', docString: '' }] };
  const s = await Session.create(encodeModel({ ...lin.model, graph: g }));
  try {
    const out = await s.run({ data: { type: 'float32', dims: [1, 1, 28, 28], data: Float32Array.from({ length: 784 }, (_, i) => (i % 29) / 29) } });
    const a = out.conv1_relu;
    const b = out.res2a_relu;
    assert.ok(a?.type === 'float32' && b?.type === 'float32');
    assert.deepEqual(Array.from(a.data), Array.from(b.data));
    assert.deepEqual(out.logits?.dims, [1, 10]);
  } finally {
    await s.release();
  }
});

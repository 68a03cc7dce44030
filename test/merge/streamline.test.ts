import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMerges, planMerges } from '../../src/merge/plan.js';
import { getInts } from '../../src/ir/attributes.js';
import { tensorToFloat32 } from '../../src/ir/tensor.js';
import { TinyNet, conv1Like, maxAbsDiff, randomInput, runOrt } from './helpers.js';

function opTypes(nodes: ReadonlyArray<{ opType: string }>): string[] {
  return nodes.map((n) => n.opType);
}

test('conv+relu+pool+lrn becomes one strided conv + relu with the same output shape on ORT', async () => {
  const model = conv1Like(32);
  const out = model.graph.outputs[0]?.name ?? '';
  const result = applyMerges(model);
  assert.deepEqual(result.merges.map((m) => [m.name, m.kind]), [['conv1', 'streamline']]);
  assert.deepEqual(result.merges[0]?.layers, ['conv1/7x7_s2', 'conv1/relu_7x7', 'pool1/3x3_s2', 'pool1/norm1']);
  assert.deepEqual(opTypes(result.model.graph.nodes), ['Conv', 'Relu']);
  const conv = result.model.graph.nodes[0];
  assert.ok(conv);
  // k' = 7 + (3 - 1) * 2 = 11, stride 2 * 2 = 4, begin pad 3 + 0 * 2 = 3; 32 -> conv 16 -> ceil pool 8.
  assert.deepEqual(getInts(conv, 'kernel_shape'), [11, 11]);
  assert.deepEqual(getInts(conv, 'strides'), [4, 4]);
  assert.deepEqual(getInts(conv, 'pads'), [3, 3, 4, 4]);
  const feeds = { x: randomInput([1, 3, 32, 32]) };
  const before = await runOrt(model, feeds);
  const after = await runOrt(result.model, feeds);
  assert.deepEqual(after[out]?.dims, [1, 8, 8, 8]);
  assert.deepEqual(after[out]?.dims, before[out]?.dims);
  // The input model is untouched.
  assert.equal(model.graph.nodes.length, 4);
  assert.ok(model.graph.initializers.has('conv1/7x7_s2_w'));
  assert.ok(!result.model.graph.initializers.has('conv1/7x7_s2_w'));
  assert.deepEqual(result.rebirthParams, result.rebirthLayers[0]?.params);
  assert.equal(result.rebirthLayers[0]?.target, out);
});

test('conv+relu+lrn+pool (GoogLeNet conv2 order) merges, keeping the relu', async () => {
  const t = new TinyNet(4);
  const x = t.input([1, 4, 14, 14]);
  const c = t.relu('conv2/relu_3x3', t.conv('conv2/3x3', x, 4, 6, 3, { pad: 1 }));
  const out = t.pool('MaxPool', 'pool2/3x3_s2', t.lrn('conv2/norm2', c), 3, 2, { ceil: true });
  const model = t.model([out]);
  const result = applyMerges(model);
  assert.deepEqual(opTypes(result.model.graph.nodes), ['Conv', 'Relu']);
  const conv = result.model.graph.nodes[0];
  assert.ok(conv);
  assert.deepEqual(getInts(conv, 'kernel_shape'), [5, 5]);
  assert.deepEqual(getInts(conv, 'strides'), [2, 2]);
  const feeds = { x: randomInput([1, 4, 14, 14]) };
  const [before, after] = [await runOrt(model, feeds), await runOrt(result.model, feeds)];
  assert.deepEqual(after[out]?.dims, [1, 6, 7, 7]);
  assert.deepEqual(after[out]?.dims, before[out]?.dims);
});

test('ceil-mode edge sizes: merged output shapes equal the original on ORT for every input size', async () => {
  // Odd and even sizes, pools with and without padding, where ceil mode leaves a partial last window
  // (e.g. 13 -> conv k3 s2 p1 -> 7 -> pool k3 s2 ceil -> 3, and 14 -> 7 -> ... ).
  const configs = [
    { k: 3, s: 2, p: 1, pk: 3, ps: 2, pp: 0 },
    { k: 3, s: 1, p: 1, pk: 3, ps: 2, pp: 0 },
    { k: 5, s: 2, p: 0, pk: 2, ps: 2, pp: 0 },
    { k: 3, s: 1, p: 0, pk: 3, ps: 2, pp: 1 },
    { k: 1, s: 1, p: 0, pk: 2, ps: 2, pp: 1 },
  ];
  for (const cfg of configs) {
    for (const size of [11, 12, 13, 14, 15]) {
      for (const kernel of ['cover', 'keep'] as const) {
        const t = new TinyNet(size);
        const x = t.input([1, 2, size, size]);
        const c = t.relu('c/relu', t.conv('c/conv', x, 2, 3, cfg.k, { stride: cfg.s, pad: cfg.p }));
        const out = t.pool('MaxPool', 'c/pool', c, cfg.pk, cfg.ps, { pad: cfg.pp, ceil: true });
        const model = t.model([out]);
        const result = applyMerges(model, { kernel });
        const what = `${JSON.stringify(cfg)} size ${size} kernel ${kernel}`;
        if (result.merges.length === 0) {
          // Only the centred 'keep' geometry may be impossible; the covering kernel always exists.
          assert.equal(kernel, 'keep', `${what}: refused ${JSON.stringify(result.refused)}`);
          continue;
        }
        const feeds = { x: randomInput([1, 2, size, size]) };
        const [before, after] = [await runOrt(model, feeds), await runOrt(result.model, feeds)];
        assert.deepEqual(after[out]?.dims, before[out]?.dims, what);
      }
    }
  }
});

test('inherit: conv + average pool folds EXACTLY into one conv (ORT, 1e-5)', async () => {
  for (const cfg of [{ size: 12, k: 3, s: 1, p: 1, pk: 2, ps: 2 }, { size: 21, k: 5, s: 2, p: 2, pk: 3, ps: 2 }, { size: 17, k: 3, s: 1, p: 0, pk: 3, ps: 3 }]) {
    const t = new TinyNet(9);
    const x = t.input([1, 3, cfg.size, cfg.size]);
    const pooled = t.pool('AveragePool', 'blk/pool', t.conv('blk/conv', x, 3, 5, cfg.k, { stride: cfg.s, pad: cfg.p }), cfg.pk, cfg.ps, { ceil: true });
    const out = t.relu('blk/relu', pooled);
    const model = t.model([out]);
    const result = applyMerges(model, { init: 'inherit' });
    assert.equal(result.merges.length, 1);
    assert.equal(result.rebirthLayers[0]?.exactness, 'exact', `${JSON.stringify(cfg)}: ${result.rebirthLayers[0]?.note ?? ''}`);
    const feeds = { x: randomInput([1, 3, cfg.size, cfg.size], 3) };
    const [before, after] = [await runOrt(model, feeds), await runOrt(result.model, feeds)];
    assert.deepEqual(after[out]?.dims, before[out]?.dims);
    const diff = maxAbsDiff(before[out]?.data ?? new Float32Array(), after[out]?.data ?? new Float32Array(1));
    assert.ok(diff < 1e-5, `${JSON.stringify(cfg)}: max |diff| ${diff}`);
  }
});

test('inherit: max pool / LRN / partial average windows are flagged approximate, not exact', () => {
  const model = conv1Like(32);
  const result = applyMerges(model, { init: 'inherit' });
  assert.equal(result.rebirthLayers[0]?.exactness, 'approximate');
  assert.match(result.rebirthLayers[0]?.note ?? '', /centre tap.*LRN dropped/);
  // Average pool with a ceil-mode partial window (conv out 5, k2 s2 ceil -> 3 windows, last one half outside).
  const t = new TinyNet(2);
  const x = t.input([1, 1, 5, 5]);
  const out = t.pool('AveragePool', 'p', t.conv('c', x, 1, 2, 1), 2, 2, { ceil: true });
  const r2 = applyMerges(t.model([out]), { init: 'inherit' });
  assert.equal(r2.merges.length, 1);
  assert.equal(r2.rebirthLayers[0]?.exactness, 'approximate');
});

test('inherit places the old kernel at the max pool window centre of the enlarged kernel', () => {
  const model = conv1Like(32);
  const result = applyMerges(model, { init: 'inherit' });
  const w = tensorToFloat32(result.model.graph.initializers.get(result.rebirthParams[0] ?? '') ?? (() => { throw new Error('no weight'); })());
  const old = tensorToFloat32(model.graph.initializers.get('conv1/7x7_s2_w') ?? (() => { throw new Error('no weight'); })());
  // Centre tap of a 3-wide pool at conv stride 2: offset 1 * 2 = 2 in both axes of the 11x11 kernel.
  for (const [y, x] of [[0, 0], [3, 4], [6, 6]] as const) assert.equal(w[(y + 2) * 11 + (x + 2)], old[y * 7 + x]);
  assert.equal(w[0], 0);
});

test('refused: intermediate is a graph output', () => {
  const t = new TinyNet();
  const x = t.input([1, 2, 8, 8]);
  const r = t.relu('c/relu', t.conv('c/conv', x, 2, 2, 3, { pad: 1 }));
  const out = t.pool('MaxPool', 'c/pool', r, 2, 2);
  const model = t.model([out, r]);
  const result = applyMerges(model);
  assert.equal(result.merges.length, 0);
  assert.equal(result.refused.length, 1);
  assert.match(result.refused[0]?.reason ?? '', /'c\/relu_out' is a graph output/);
  assert.equal(result.model.graph.nodes.length, 3);
});

test('refused: intermediate read by another node', () => {
  const t = new TinyNet();
  const x = t.input([1, 2, 8, 8]);
  const c = t.conv('c/conv', x, 2, 2, 3, { pad: 1 });
  const r = t.relu('c/relu', c);
  const side = t.b.op('Sigmoid', [c], {}, 'side');
  const model = t.model([t.pool('MaxPool', 'c/pool', r, 2, 2), side]);
  const result = applyMerges(model);
  assert.equal(result.merges.length, 0);
  assert.match(result.refused[0]?.reason ?? '', /read by 2 nodes \(c\/relu, side\).*single consumer/);
});

test('a shared block OUTPUT is fine: the block ends there', () => {
  const t = new TinyNet();
  const x = t.input([1, 2, 8, 8]);
  const p = t.pool('MaxPool', 'c/pool', t.relu('c/relu', t.conv('c/conv', x, 2, 2, 3, { pad: 1 })), 2, 2);
  const model = t.model([t.b.op('Sigmoid', [p], {}, 'a'), t.b.op('Tanh', [p], {}, 'b')]);
  const result = applyMerges(model);
  assert.equal(result.merges.length, 1);
  assert.deepEqual(opTypes(result.model.graph.nodes), ['Conv', 'Relu', 'Sigmoid', 'Tanh']);
});

test('BatchNormalization in the block: folded first by default, refused with fold: false; BN after the block is left outside', () => {
  const t = new TinyNet();
  const x = t.input([1, 2, 8, 8]);
  const c = t.relu('c/relu', t.batchNorm('c/bn', t.conv('c/conv', x, 2, 4, 3, { pad: 1 }), 4));
  const model = t.model([t.pool('MaxPool', 'c/pool', c, 2, 2)]);
  const folded = applyMerges(model);
  assert.deepEqual(folded.folds, [{ rule: 'fold-batchnorm', count: 1, verified: false }]);
  assert.deepEqual(folded.merges.map((m) => m.name), ['c']);
  assert.deepEqual(opTypes(folded.model.graph.nodes), ['Conv', 'Relu']);
  const result = applyMerges(model, { fold: false });
  assert.equal(result.merges.length, 0);
  assert.deepEqual(result.folds, []);
  assert.match(result.refused[0]?.reason ?? '', /'c\/bn' \(BatchNormalization\) follows the conv and is not folded into it/);

  const t2 = new TinyNet();
  const x2 = t2.input([1, 2, 8, 8]);
  const p = t2.pool('MaxPool', 'c/pool', t2.relu('c/relu', t2.conv('c/conv', x2, 2, 4, 3, { pad: 1 })), 2, 2);
  const r2 = applyMerges(t2.model([t2.batchNorm('after/bn', p, 4)]));
  assert.equal(r2.merges.length, 1);
  assert.deepEqual(opTypes(r2.model.graph.nodes), ['Conv', 'Relu', 'BatchNormalization']);
});

test('refused: no conv geometry when keeping the kernel cannot stay centred', () => {
  // conv 1x1 then a 5x5 stride-1 pool: keeping k=1 would need begin pad -2.
  const t = new TinyNet();
  const x = t.input([1, 2, 5, 5]);
  const model = t.model([t.pool('MaxPool', 'c/pool', t.conv('c/conv', x, 2, 2, 1), 5, 1)]);
  const keep = applyMerges(model, { kernel: 'keep' });
  assert.equal(keep.merges.length, 0);
  assert.match(keep.refused[0]?.reason ?? '', /negative height pad \(-2\)/);
  const cover = applyMerges(model, { kernel: 'cover' });
  assert.equal(cover.merges.length, 1);
});

test('a conv followed only by ReLU is not a candidate and not a refusal', () => {
  const t = new TinyNet();
  const x = t.input([1, 2, 8, 8]);
  const plan = planMerges(t.model([t.relu('r', t.conv('c', x, 2, 2, 3, { pad: 1 }))]));
  assert.deepEqual(plan, { candidates: [], refused: [], folds: [] });
});

test('xavier init is seeded: same seed same weights, other seed other weights', () => {
  const model = conv1Like(32);
  const weight = (seed: number): Float32Array => {
    const r = applyMerges(model, { seed });
    return tensorToFloat32(r.model.graph.initializers.get(r.rebirthParams[0] ?? '') ?? (() => { throw new Error('no weight'); })());
  };
  assert.deepEqual(weight(1), weight(1));
  assert.notDeepEqual(weight(1), weight(2));
  const r = applyMerges(model);
  const bias = tensorToFloat32(r.model.graph.initializers.get(r.rebirthParams[1] ?? '') ?? (() => { throw new Error('no bias'); })());
  assert.ok(bias.every((v) => v === 0));
});

test('planMerges reports FLOPs and params before and after', () => {
  const plan = planMerges(conv1Like(32));
  const c = plan.candidates[0];
  assert.ok(c);
  // Before: conv 2*8*16*16*3*49 + relu 8*16*16 + maxpool 8*8*8*8 + LRN 8*8*8*14.
  assert.equal(c.flops.before, 2 * 8 * 256 * 147 + 8 * 256 + 512 * 8 + 512 * 14);
  // After: conv 2*8*8*8*3*121 + relu 512.
  assert.equal(c.flops.after, 2 * 512 * 363 + 512);
  assert.deepEqual(c.params, { before: 8 * 3 * 49 + 8, after: 8 * 3 * 121 + 8 });
  assert.match(c.description, /Conv 7x7\/2 \+ Relu \+ MaxPool 3x3\/2 ceil \+ LRN -> Conv 11x11\/4 pads \[3,3,4,4\] \+ Relu/);
});

test('option errors are one-line RebirthErrors naming the option', () => {
  const model = conv1Like(32);
  assert.throws(() => applyMerges(model, { only: ['conv9'] }), /option only names 'conv9', not merge candidates of this model \(candidates: conv1\)/);
  assert.throws(() => applyMerges(model, { reducerRatio: 0 }), /option reducerRatio must be in \(0, 1\]/);
});

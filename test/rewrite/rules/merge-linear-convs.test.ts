import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getInts } from '../../../src/ir/attributes.js';
import type { Dim } from '../../../src/ir/graph.js';
import { floatTensor } from '../../../src/ir/tensor.js';
import { mergeLinearConvs } from '../../../src/rewrite/rules/merge-linear-convs.js';
import { builder, expectRefusal, model, opCounts, randomTensor, rewrite } from '../ort.js';

interface ConvSpec {
  cout: number;
  k: number;
  bias?: boolean | 'zero';
  attrs?: Record<string, number | number[]>;
}

/** x [1, cin, 9, 8] -> conv1 -> conv2 -> output. */
function twoConvs(cin: number, c1: ConvSpec, c2: ConvSpec, inputShape: Dim[] = [1, cin, 9, 8]): ReturnType<typeof model> {
  const b = builder();
  let y = b.input('x', inputShape);
  let c = cin;
  [c1, c2].forEach((spec, i) => {
    const group = typeof spec.attrs?.group === 'number' ? spec.attrs.group : 1;
    const inputs = [y, b.initializer(randomTensor(`W${i + 1}`, [spec.cout, c / group, spec.k, spec.k], 10 + i))];
    if (spec.bias === 'zero') inputs.push(b.initializer(floatTensor(`B${i + 1}`, [spec.cout], new Float32Array(spec.cout))));
    else if (spec.bias !== false) inputs.push(b.initializer(randomTensor(`B${i + 1}`, [spec.cout], 20 + i)));
    y = b.op('Conv', inputs, spec.attrs ?? {}, `conv${i + 1}`);
    c = spec.cout;
  });
  b.output(y);
  return model(b);
}

test('(A) merges k x k then 1 x 1 (strides multiply, pads of conv1 kept) when it lowers FLOPs', async () => {
  const m = twoConvs(4, { cout: 16, k: 3, attrs: { pads: [1, 1, 1, 1], strides: [1, 2], dilations: [2, 1] } }, { cout: 4, k: 1, attrs: { strides: [2, 1] } });
  const { optimized, result } = await rewrite(m, [mergeLinearConvs]);
  assert.equal(result.firings['merge-linear-convs'], 1);
  assert.deepEqual(opCounts(optimized), { Conv: 1 });
  const conv = optimized.graph.nodes[0]!;
  assert.deepEqual(getInts(conv, 'strides'), [2, 2]);
  assert.deepEqual(getInts(conv, 'dilations'), [2, 1]);
  assert.deepEqual(optimized.graph.initializers.get('W2')?.dims, [4, 4, 3, 3]);
  assert.ok(!optimized.graph.initializers.has('W1'));
});

test('(A) also with unknown spatial sizes (FLOPs bounded below)', async () => {
  const m = twoConvs(4, { cout: 16, k: 3 }, { cout: 4, k: 1, bias: false }, [1, 4, 'H', 'W']);
  const { result } = await rewrite(m, [mergeLinearConvs], { dims: { H: 9, W: 8 } });
  assert.equal(result.firings['merge-linear-convs'], 1);
});

test('(B) merges 1 x 1 then k x k; with padding only when conv1 has no bias (or a zero one)', async () => {
  const plain = await rewrite(twoConvs(3, { cout: 12, k: 1 }, { cout: 2, k: 3, attrs: { strides: [2, 2] } }), [mergeLinearConvs]);
  assert.equal(plain.result.firings['merge-linear-convs'], 1);
  for (const bias of [false, 'zero'] as const) {
    const padded = await rewrite(twoConvs(3, { cout: 12, k: 1, bias }, { cout: 2, k: 3, attrs: { pads: [1, 1, 1, 1] } }), [mergeLinearConvs]);
    assert.deepEqual(opCounts(padded.optimized), { Conv: 1 });
    assert.deepEqual(getInts(padded.optimized.graph.nodes[0]!, 'pads'), [1, 1, 1, 1]);
  }
});

test('(B) with padding and a non-zero bias on conv1 is refused (padding would see the bias)', () => {
  expectRefusal(twoConvs(3, { cout: 12, k: 1 }, { cout: 2, k: 3, attrs: { pads: [1, 1, 1, 1] } }), [mergeLinearConvs], /would see .*bias/);
});

test('refuses where merging raises FLOPs', () => {
  expectRefusal(twoConvs(4, { cout: 4, k: 3 }, { cout: 16, k: 1 }), [mergeLinearConvs], /would not lower FLOPs/);
  expectRefusal(twoConvs(4, { cout: 4, k: 3 }, { cout: 16, k: 1 }, [1, 4, 'H', 'W']), [mergeLinearConvs], /would not lower FLOPs/);
});

test('merges grouped, depthwise, k x k after k x k and strided chains exactly where that lowers FLOPs', async () => {
  // Grouped 3x3 (2 groups) then a dense 1x1: the result is dense.
  const grouped = await rewrite(twoConvs(4, { cout: 16, k: 3, attrs: { group: 2 } }, { cout: 4, k: 1 }), [mergeLinearConvs]);
  assert.deepEqual(opCounts(grouped.optimized), { Conv: 1 });
  assert.deepEqual(grouped.optimized.graph.initializers.get('W2')?.dims, [4, 4, 3, 3]);
  // Two unpadded 3x3 convs: one 5x5 (k1 + k2 - 1), exact because conv2 has no padding.
  const kk = await rewrite(twoConvs(4, { cout: 4, k: 3 }, { cout: 4, k: 3 }), [mergeLinearConvs]);
  assert.deepEqual(kk.optimized.graph.initializers.get('W2')?.dims, [4, 4, 5, 5]);
  // A strided 1x1 conv first: conv2's taps land every s1 input pixels, a dilated 3x3 of stride 2.
  const strided = await rewrite(twoConvs(3, { cout: 12, k: 1, attrs: { strides: [2, 2] } }, { cout: 2, k: 3 }), [mergeLinearConvs]);
  const conv = strided.optimized.graph.nodes[0]!;
  assert.deepEqual([getInts(conv, 'kernel_shape'), getInts(conv, 'strides'), getInts(conv, 'dilations')], [[3, 3], [2, 2], [2, 2]]);
});

test('depthwise after depthwise stays depthwise; strided first conv composes the padding as p1 + s1 p2', async () => {
  const b = builder();
  const x = b.input('x', [1, 6, 11, 10]);
  // Unbiased 1x1 depthwise (a per-channel scale) then a padded, strided 3x3 depthwise: exact (the scale
  // of a zero pad is zero) and cheaper.
  let y = b.op('Conv', [x, b.initializer(randomTensor('W1', [6, 1, 1, 1], 1))], { group: 6 }, 'dw1');
  y = b.op('Conv', [y, b.initializer(randomTensor('W2', [6, 1, 3, 3], 2)), b.initializer(randomTensor('B2', [6], 3))], { group: 6, pads: [1, 1, 1, 1], strides: [2, 2] }, 'dw2');
  b.output(y);
  const r = await rewrite(model(b), [mergeLinearConvs]);
  const conv = r.optimized.graph.nodes[0]!;
  assert.deepEqual(r.optimized.graph.initializers.get('W2')?.dims, [6, 1, 3, 3]);
  assert.deepEqual([getInts(conv, 'pads'), getInts(conv, 'strides')], [[1, 1, 1, 1], [2, 2]]);
});

test('refuses a padded second conv that would see the first conv\'s bias or real pixels at the border, and FLOP increases', () => {
  // 3x3 'same' then 3x3 'same': the merged conv would add conv1's outputs computed past the border.
  expectRefusal(twoConvs(4, { cout: 4, k: 3, bias: false, attrs: { pads: [1, 1, 1, 1] } }, { cout: 4, k: 3, attrs: { pads: [1, 1, 1, 1] } }), [mergeLinearConvs], /real pixels/);
  expectRefusal(twoConvs(4, { cout: 16, k: 3 }, { cout: 4, k: 1, attrs: { pads: [1, 1, 1, 1] } }), [mergeLinearConvs], /bias/);
  // Unknown sizes and end padding: the end border cannot be checked.
  expectRefusal(twoConvs(3, { cout: 12, k: 1, bias: false }, { cout: 2, k: 3, attrs: { pads: [0, 0, 1, 1] } }, [1, 3, 'H', 'W']), [mergeLinearConvs], /unknown/);
  // A depthwise 3x3 then a 1x1 is cheaper unmerged (the merged conv is dense).
  expectRefusal(twoConvs(8, { cout: 8, k: 3, attrs: { group: 8 } }, { cout: 8, k: 1 }), [mergeLinearConvs], /would not lower FLOPs/);
});

test('refuses when the intermediate is a graph output or the second weight is shared', () => {
  const m = twoConvs(4, { cout: 16, k: 3 }, { cout: 4, k: 1 });
  m.graph.outputs.push({ name: m.graph.nodes[0]!.outputs[0]!, docString: '' });
  expectRefusal(m, [mergeLinearConvs], /graph output/);
  const b = builder();
  const x = b.input('x', [1, 4, 6, 6]);
  const w2 = b.initializer(randomTensor('W2', [4, 16, 1, 1], 2));
  const h = b.op('Conv', [x, b.initializer(randomTensor('W1', [16, 4, 3, 3], 1))]);
  b.output(b.op('Conv', [h, w2]));
  b.output(b.op('Conv', [b.op('Relu', [b.input('z', [1, 16, 2, 2])]), w2]));
  expectRefusal(model(b), [mergeLinearConvs], /weight 'W2' is shared/);
});

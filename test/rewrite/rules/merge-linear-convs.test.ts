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
    const inputs = [y, b.initializer(randomTensor(`W${i + 1}`, [spec.cout, c, spec.k, spec.k], 10 + i))];
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

test('refuses grouped convs, two k x k convs, a padded 1 x 1 second conv, strided 1 x 1 first conv', () => {
  expectRefusal(twoConvs(4, { cout: 16, k: 3, attrs: { group: 2 } }, { cout: 4, k: 1 }), [mergeLinearConvs], /grouped/);
  expectRefusal(twoConvs(4, { cout: 4, k: 3 }, { cout: 4, k: 3 }), [mergeLinearConvs], /neither/);
  expectRefusal(twoConvs(4, { cout: 16, k: 3 }, { cout: 4, k: 1, attrs: { pads: [1, 1, 1, 1] } }), [mergeLinearConvs], /1x1 but has pads/);
  expectRefusal(twoConvs(3, { cout: 12, k: 1, attrs: { strides: [2, 2] } }, { cout: 2, k: 3 }), [mergeLinearConvs], /neither/);
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

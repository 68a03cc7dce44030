import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GraphBuilder } from '../../../src/ir/builder.js';
import { getInt, getInts } from '../../../src/ir/attributes.js';
import { floatTensor, int64Tensor } from '../../../src/ir/tensor.js';
import { foldPad } from '../../../src/rewrite/rules/fold-pad.js';
import { builder, expectRefusal, model, opCounts, randomTensor, rewrite } from '../ort.js';

/** Pad at opset >= 11: pads as an input. */
function pad(b: GraphBuilder, x: string, pads: number[], extra: { value?: number; axes?: number[]; mode?: string } = {}): string {
  const inputs = [x, b.initializer(int64Tensor('pads', [pads.length], pads))];
  if (extra.value !== undefined || extra.axes) inputs.push(extra.value !== undefined ? b.initializer(floatTensor('cv', [], [extra.value])) : '');
  if (extra.axes) inputs.push(b.initializer(int64Tensor('axes', [extra.axes.length], extra.axes)));
  return b.op('Pad', inputs, extra.mode ? { mode: extra.mode } : {});
}

function padConv(pads: number[], opset = 13, extra: Parameters<typeof pad>[3] = {}, convAttrs: Record<string, number[] | string> = { pads: [1, 0, 0, 1] }): ReturnType<typeof model> {
  const b = builder();
  const x = b.input('x', [1, 2, 6, 5]);
  const p = pad(b, x, pads, extra);
  b.output(b.op('Conv', [p, b.initializer(randomTensor('W', [3, 2, 3, 3], 1))], { strides: [2, 1], ...convAttrs }));
  return model(b, opset);
}

test('folds a zero Pad into a strided Conv, adding to its own pads', async () => {
  const { optimized, result } = await rewrite(padConv([0, 0, 1, 2, 0, 0, 3, 0]), [foldPad]);
  assert.equal(result.firings['fold-pad'], 1);
  assert.deepEqual(opCounts(optimized), { Conv: 1 });
  assert.deepEqual(getInts(optimized.graph.nodes[0]!, 'pads'), [2, 2, 3, 1]);
});

test('folds Pad with an explicit zero constant_value (opset 11), with axes (opset 18), and pads as an attribute (opset 10)', async () => {
  await rewrite(padConv([0, 0, 1, 1, 0, 0, 1, 1], 11, { value: 0 }), [foldPad]);
  const withAxes = await rewrite(padConv([2, 1, 0, 3], 18, { axes: [-2, 3] }), [foldPad]);
  assert.deepEqual(getInts(withAxes.optimized.graph.nodes[0]!, 'pads'), [3, 1, 0, 4]);
  const b = builder();
  const x = b.input('x', [1, 2, 5, 5]);
  const p = b.op('Pad', [x], { pads: [0, 0, 1, 1, 0, 0, 1, 1] });
  b.output(b.op('Conv', [p, b.initializer(randomTensor('W', [3, 2, 3, 3], 1))], { auto_pad: 'VALID' }));
  const old = await rewrite(model(b, 10), [foldPad]);
  assert.deepEqual(opCounts(old.optimized), { Conv: 1 });
});

test('folds into AveragePool with count_include_pad=1, and into a pad-less count_include_pad=0 pool (switching it to 1)', async () => {
  for (const [cip, own] of [[1, [1, 1, 0, 0]], [0, [0, 0, 0, 0]]] as const) {
    const b = builder();
    const p = pad(b, b.input('x', [1, 2, 6, 6]), [0, 0, 1, 0, 0, 0, 0, 2]);
    b.output(b.op('AveragePool', [p], { kernel_shape: [3, 3], strides: [2, 2], pads: [...own], count_include_pad: cip }));
    const { optimized } = await rewrite(model(b), [foldPad]);
    assert.deepEqual(opCounts(optimized), { AveragePool: 1 });
    assert.equal(getInt(optimized.graph.nodes[0]!, 'count_include_pad'), 1);
  }
});

test('folds into MaxPool when the input is proven non-negative (after Relu)', async () => {
  const b = builder();
  const r = b.op('Relu', [b.input('x', [1, 2, 6, 6])]);
  b.output(b.op('MaxPool', [pad(b, r, [0, 0, 1, 1, 0, 0, 1, 1])], { kernel_shape: [3, 3], strides: [2, 2] }));
  const { optimized } = await rewrite(model(b), [foldPad]);
  assert.deepEqual(opCounts(optimized), { Relu: 1, MaxPool: 1 });
});

test('refuses MaxPool on a possibly negative input, or with pads as large as the kernel', () => {
  const b = builder();
  b.output(b.op('MaxPool', [pad(b, b.input('x', [1, 2, 6, 6]), [0, 0, 1, 1, 0, 0, 1, 1])], { kernel_shape: [3, 3] }));
  expectRefusal(model(b), [foldPad], /proven >= 0/);
  const b2 = builder();
  const r = b2.op('Relu', [b2.input('x', [1, 2, 6, 6])]);
  b2.output(b2.op('MaxPool', [pad(b2, r, [0, 0, 2, 0, 0, 0, 0, 0])], { kernel_shape: [2, 2] }));
  expectRefusal(model(b2), [foldPad], /would reach the kernel/);
});

test('refuses AveragePool with count_include_pad=0 and pads of its own, and ceil_mode=1', () => {
  const b = builder();
  b.output(b.op('AveragePool', [pad(b, b.input('x', [1, 2, 6, 6]), [0, 0, 1, 1, 0, 0, 1, 1])], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }));
  expectRefusal(model(b), [foldPad], /count_include_pad=0/);
  const b2 = builder();
  b2.output(b2.op('AveragePool', [pad(b2, b2.input('x', [1, 2, 6, 6]), [0, 0, 1, 1, 0, 0, 1, 1])], { kernel_shape: [3, 3], ceil_mode: 1, count_include_pad: 1 }));
  expectRefusal(model(b2), [foldPad], /ceil_mode=1/);
  const b3 = builder();
  b3.output(b3.op('AveragePool', [pad(b3, b3.input('x', [1, 2, 6, 6]), [0, 0, 1, 2, 0, 0, 0, 0])], { kernel_shape: [2, 2], count_include_pad: 1 }));
  expectRefusal(model(b3), [foldPad], /folded pads \[1,2,0,0\] would reach the kernel \[2,2\]/);
});

test('refuses non-zero value, reflect mode, channel pads, negative pads, auto_pad SAME, shared output', () => {
  expectRefusal(padConv([0, 0, 1, 1, 0, 0, 1, 1], 13, { value: 0.5 }), [foldPad], /pads with 0.5/);
  expectRefusal(padConv([0, 0, 1, 1, 0, 0, 1, 1], 13, { mode: 'reflect' }), [foldPad], /mode 'reflect'/);
  expectRefusal(padConv([0, 1, 1, 1, 0, 0, 1, 1]), [foldPad], /batch or channel axis/);
  expectRefusal(padConv([0, 0, -1, 1, 0, 0, 1, 1]), [foldPad], /negative pads/);
  expectRefusal(padConv([0, 0, 1, 1, 0, 0, 1, 1], 13, {}, { auto_pad: 'SAME_UPPER' }), [foldPad], /auto_pad SAME_UPPER/);
  const m = padConv([0, 0, 1, 1, 0, 0, 1, 1]);
  m.graph.outputs.push({ name: m.graph.nodes[0]!.outputs[0]!, docString: '' });
  expectRefusal(m, [foldPad], /graph output/);
});

test('refuses pads that are not constant', () => {
  const b = builder();
  const x = b.input('x', [1, 2, 6, 5]);
  const pads = b.input('pads', [8], 7);
  b.output(b.op('Conv', [b.op('Pad', [x, pads]), b.initializer(randomTensor('W', [3, 2, 3, 3], 1))]));
  expectRefusal(model(b), [foldPad], /pads of .* is a graph input/);
});

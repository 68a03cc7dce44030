import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GraphBuilder } from '../../../src/ir/builder.js';
import { makeAttr } from '../../../src/ir/attributes.js';
import { floatTensor } from '../../../src/ir/tensor.js';
import { foldScale } from '../../../src/rewrite/rules/fold-scale.js';
import { cloneModel, runPasses } from '../../../src/rewrite/engine.js';
import { builder, expectRefusal, model, opCounts, positiveTensor, randomTensor, rewrite } from '../ort.js';

function conv(b: GraphBuilder, x: string, bias = true): string {
  const inputs = [x, b.initializer(randomTensor('W', [3, 2, 3, 3], 1))];
  if (bias) inputs.push(b.initializer(randomTensor('B', [3], 2)));
  return b.op('Conv', inputs, { pads: [1, 1, 1, 1] });
}

test("folds Caffe's Scale + bias (Mul by [C,1,1], Add of [1,C,1,1]) into the conv", async () => {
  const b = builder();
  const y = conv(b, b.input('x', [1, 2, 6, 6]));
  const s = b.op('Mul', [y, b.initializer(randomTensor('scale', [3, 1, 1], 3, 1, 1))]);
  b.output(b.op('Add', [b.initializer(randomTensor('shift', [1, 3, 1, 1], 4)), s]), [1, 3, 6, 6]);
  const { optimized, result } = await rewrite(model(b), [foldScale]);
  assert.equal(result.firings['fold-scale'], 2);
  assert.deepEqual(opCounts(optimized), { Conv: 1 });
  assert.deepEqual([...optimized.graph.initializers.keys()].sort(), ['B', 'W']);
});

test('folds scalar Mul, constant - y, y - c and y / c, on a conv without bias', async () => {
  const b = builder();
  let y = conv(b, b.input('x', [2, 2, 5, 5]), false);
  y = b.op('Mul', [b.initializer(floatTensor('two', [], [2])), y]);
  y = b.op('Sub', [b.initializer(randomTensor('c', [3, 1, 1], 5)), y]);
  y = b.op('Sub', [y, b.initializer(randomTensor('d', [1], 6))]);
  y = b.op('Div', [y, b.initializer(positiveTensor('e', [1, 3, 1, 1], 7))]);
  b.output(y, [2, 3, 5, 5]);
  const { optimized, result } = await rewrite(model(b), [foldScale]);
  assert.equal(result.firings['fold-scale'], 4);
  assert.deepEqual(opCounts(optimized), { Conv: 1 });
});

test('folds a per-column Mul and Add into a Gemm, and a Mul into a ConvTranspose', async () => {
  const b = builder();
  const a = b.input('a', [3, 5]);
  const g = b.op('Gemm', [a, b.initializer(randomTensor('B', [4, 5], 8)), b.initializer(randomTensor('C', [1, 4], 9))], { transB: 1, alpha: { float: 2 } });
  b.output(b.op('Add', [b.op('Mul', [g, b.initializer(randomTensor('m', [4], 10))]), b.initializer(randomTensor('k', [1, 4], 11))]), [3, 4]);
  const x = b.input('x', [1, 4, 3, 3]);
  const t = b.op('ConvTranspose', [x, b.initializer(randomTensor('Wt', [4, 2, 2, 2], 12))], { group: 2, strides: [2, 2] });
  b.output(b.op('Mul', [t, b.initializer(randomTensor('mt', [4, 1, 1], 13))]), [1, 4, 6, 6]);
  const { optimized, result } = await rewrite(model(b), [foldScale]);
  assert.equal(result.firings['fold-scale'], 3);
  assert.deepEqual(opCounts(optimized), { Gemm: 1, ConvTranspose: 1 });
});

test('folds a constant given by a Constant node, and drops the node', async () => {
  const b = builder();
  const y = conv(b, b.input('x', [1, 2, 4, 4]));
  const c = b.op('Constant', [], { value: randomTensor('', [3, 1, 1], 14) });
  b.output(b.op('Mul', [y, c]), [1, 3, 4, 4]);
  const { optimized } = await rewrite(model(b), [foldScale]);
  assert.deepEqual(opCounts(optimized), { Conv: 1 });
});

test('leaves Mul / Add by a computed tensor alone without a refusal (a different pattern)', () => {
  const b = builder();
  const x = b.input('x', [1, 2, 4, 4]);
  const y = conv(b, x);
  const gate = b.op('Sigmoid', [y]);
  b.output(b.op('Mul', [y, gate]));
  const copy = cloneModel(model(b));
  const r = runPasses(copy, [foldScale]);
  assert.equal(r.changed, false);
  assert.deepEqual(r.refusals, []);
});

test('refuses constants that vary along a non-channel axis or would broadcast the output up', () => {
  const mk = (dims: number[]): ReturnType<typeof model> => {
    const b = builder();
    b.output(b.op('Mul', [conv(b, b.input('x', [1, 2, 4, 4])), b.initializer(randomTensor('c', dims, 3))]));
    return model(b);
  };
  expectRefusal(mk([1, 1, 1, 4]), [foldScale], /varies along axis 3/);
  expectRefusal(mk([3]), [foldScale], /varies along axis 3/);
  expectRefusal(mk([1, 1, 3, 1, 1]), [foldScale], /rank 5, above the output's 4/);
  expectRefusal(mk([2, 3, 1, 1]), [foldScale], /varies along axis 0/);
});

test('refuses a graph-input operand, a shared weight, a second reader, division by zero', () => {
  const b1 = builder();
  const y1 = conv(b1, b1.input('x', [1, 2, 4, 4]));
  b1.input('s', [3, 1, 1]);
  b1.graph.initializers.set('s', randomTensor('s', [3, 1, 1], 1));
  b1.output(b1.op('Mul', [y1, 's']));
  expectRefusal(model(b1), [foldScale], /graph input/);

  const b2 = builder();
  const x2 = b2.input('x', [1, 2, 4, 4]);
  const y2 = conv(b2, x2);
  b2.output(b2.op('Add', [y2, b2.initializer(randomTensor('c', [3, 1, 1], 1))]));
  b2.output(b2.op('Conv', [x2, 'W']));
  expectRefusal(model(b2), [foldScale], /weight 'W' is shared/);

  const b3 = builder();
  const y3 = conv(b3, b3.input('x', [1, 2, 4, 4]));
  b3.output(b3.op('Add', [y3, b3.initializer(randomTensor('c', [3, 1, 1], 1))]));
  b3.output(b3.op('Relu', [y3]));
  expectRefusal(model(b3), [foldScale], /2 readers/);

  const b4 = builder();
  const y4 = conv(b4, b4.input('x', [1, 2, 4, 4]));
  b4.output(b4.op('Div', [y4, b4.initializer(floatTensor('z', [3, 1, 1], [1, 0, 2]))]));
  expectRefusal(model(b4), [foldScale], /divides by zero/);
});

test('refuses arithmetic at opset 6 (legacy broadcast attribute)', () => {
  const b = builder();
  const y = conv(b, b.input('x', [1, 2, 4, 4]));
  b.output(b.op('Mul', [y, b.initializer(randomTensor('c', [3, 1, 1], 1))]));
  const m = model(b, 6);
  const mul = m.graph.nodes[1];
  assert.ok(mul);
  mul.attributes.push(makeAttr('broadcast', 1), makeAttr('axis', 1));
  expectRefusal(m, [foldScale], /legacy semantics/);
});

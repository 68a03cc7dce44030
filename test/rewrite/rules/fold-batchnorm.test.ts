import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GraphBuilder } from '../../../src/ir/builder.js';
import { foldBatchNorm } from '../../../src/rewrite/rules/fold-batchnorm.js';
import { builder, expectRefusal, model, opCounts, positiveTensor, randomTensor, rewrite } from '../ort.js';

/** BatchNormalization over `c` channels with random statistics; returns its output. */
function bn(b: GraphBuilder, x: string, c: number, seed: number, attrs: Record<string, number> = {}): string {
  const scale = b.initializer(randomTensor('gamma', [c], seed, 1, 1));
  const bias = b.initializer(randomTensor('beta', [c], seed + 1));
  const mean = b.initializer(randomTensor('mean', [c], seed + 2));
  const variance = b.initializer(positiveTensor('var', [c], seed + 3));
  return b.op('BatchNormalization', [x, scale, bias, mean, variance], { epsilon: { float: 1e-3 }, ...attrs });
}

function convBn(options: { bias?: boolean; group?: number; opset?: number; bnAttrs?: Record<string, number> } = {}): ReturnType<typeof model> {
  const b = builder();
  const group = options.group ?? 1;
  const x = b.input('x', [2, 4, 7, 7]);
  const w = b.initializer(randomTensor('W', [6, 4 / group, 3, 3], 1));
  const inputs = [x, w];
  if (options.bias !== false) inputs.push(b.initializer(randomTensor('Bc', [6], 2)));
  const y = b.op('Conv', inputs, { pads: [1, 1, 1, 1], strides: [2, 2], group });
  b.output(bn(b, y, 6, 10, options.bnAttrs), [2, 6, 4, 4]);
  return model(b, options.opset ?? 15);
}

test('folds BatchNormalization into a Conv with bias', async () => {
  const { optimized, result } = await rewrite(convBn(), [foldBatchNorm]);
  assert.equal(result.firings['fold-batchnorm'], 1);
  assert.deepEqual(opCounts(optimized), { Conv: 1 });
  // BN's statistics are gone; the conv's weight and bias were rewritten in place.
  assert.deepEqual([...optimized.graph.initializers.keys()].sort(), ['Bc', 'W']);
});

test('folds into a Conv without bias (a bias is created) and into a grouped Conv', async () => {
  const noBias = await rewrite(convBn({ bias: false }), [foldBatchNorm]);
  assert.deepEqual(opCounts(noBias.optimized), { Conv: 1 });
  assert.equal(noBias.optimized.graph.nodes[0]?.inputs.length, 3);
  const grouped = await rewrite(convBn({ group: 2 }), [foldBatchNorm]);
  assert.equal(grouped.result.firings['fold-batchnorm'], 1);
});

test('folds at opset 7 and 9 (older BatchNormalization definitions)', async () => {
  for (const opset of [7, 9, 14]) {
    const { result } = await rewrite(convBn({ opset }), [foldBatchNorm]);
    assert.equal(result.firings['fold-batchnorm'], 1, `opset ${opset}`);
  }
});

test('folds into a grouped, strided ConvTranspose (weight layout Cin x Cout/g x k x k)', async () => {
  const b = builder();
  const x = b.input('x', [1, 4, 5, 5]);
  const w = b.initializer(randomTensor('W', [4, 3, 3, 3], 3));
  const bias = b.initializer(randomTensor('Bt', [6], 4));
  const y = b.op('ConvTranspose', [x, w, bias], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] });
  b.output(bn(b, y, 6, 20), [1, 6, 9, 9]);
  const { optimized, result } = await rewrite(model(b), [foldBatchNorm]);
  assert.equal(result.firings['fold-batchnorm'], 1);
  assert.deepEqual(opCounts(optimized), { ConvTranspose: 1 });
});

test('folds into a Gemm with transB 0 and 1, alpha/beta, with and without C', async () => {
  for (const transB of [0, 1]) {
    for (const withC of [true, false]) {
      const b = builder();
      const a = b.input('a', [3, 5]);
      const w = b.initializer(randomTensor('B', transB ? [4, 5] : [5, 4], 5));
      const inputs = [a, w];
      if (withC) inputs.push(b.initializer(randomTensor('C', [4], 6)));
      const y = b.op('Gemm', inputs, { transB, alpha: { float: 0.7 }, beta: { float: 1.3 } });
      b.output(bn(b, y, 4, 30), [3, 4]);
      const { optimized, result } = await rewrite(model(b), [foldBatchNorm]);
      assert.equal(result.firings['fold-batchnorm'], 1, `transB=${transB} C=${withC}`);
      assert.deepEqual(opCounts(optimized), { Gemm: 1 });
      assert.ok(!optimized.graph.nodes[0]?.attributes.some((x) => x.name === 'alpha' || x.name === 'beta'));
    }
  }
});

test('folds a Gemm whose C is a full [M, N] matrix, keeping its shape', async () => {
  const b = builder();
  const a = b.input('a', [3, 5]);
  const y = b.op('Gemm', [a, b.initializer(randomTensor('B', [5, 4], 5)), b.initializer(randomTensor('C', [3, 4], 6))], { beta: { float: 0.5 } });
  b.output(bn(b, y, 4, 30), [3, 4]);
  const { optimized } = await rewrite(model(b), [foldBatchNorm]);
  assert.deepEqual(optimized.graph.initializers.get('C')?.dims, [3, 4]);
});

test('refuses when the conv output is also a graph output', () => {
  const m = convBn();
  const conv = m.graph.nodes[0];
  assert.ok(conv);
  m.graph.outputs.push({ name: conv.outputs[0] as string, docString: '' });
  expectRefusal(m, [foldBatchNorm], /graph output/);
});

test('refuses when the conv output has a second reader', () => {
  const m = convBn();
  const conv = m.graph.nodes[0];
  assert.ok(conv);
  m.graph.nodes.push({ name: 'relu', opType: 'Relu', domain: '', inputs: [conv.outputs[0] as string], outputs: ['r'], attributes: [], docString: '' });
  m.graph.outputs.push({ name: 'r', docString: '' });
  expectRefusal(m, [foldBatchNorm], /2 readers/);
});

test('refuses when the conv weight is shared with another node', () => {
  const b = builder();
  const x = b.input('x', [1, 4, 5, 5]);
  const w = b.initializer(randomTensor('W', [4, 4, 1, 1], 1));
  b.output(bn(b, b.op('Conv', [x, w]), 4, 10));
  b.output(b.op('Conv', [x, w]));
  expectRefusal(model(b), [foldBatchNorm], /weight 'W' is shared with/);
});

test('refuses a weight that is a graph input (overridable at run time)', () => {
  const m = convBn();
  m.graph.inputs.push({ name: 'W', elemType: 1, shape: [6, 4, 3, 3], docString: '' });
  expectRefusal(m, [foldBatchNorm], /graph input/);
});

test('refuses non-constant statistics', () => {
  const m = convBn();
  m.graph.inputs.push({ name: 'mean', elemType: 1, shape: [6], docString: '' });
  m.graph.initializers.delete('mean');
  expectRefusal(m, [foldBatchNorm], /mean .*graph input/);
});

test('refuses training mode, spatial=0, unknown attributes and unsupported opsets', () => {
  expectRefusal(convBn({ bnAttrs: { training_mode: 1 } }), [foldBatchNorm], /training mode/);
  expectRefusal(convBn({ opset: 8, bnAttrs: { spatial: 0 } }), [foldBatchNorm], /spatial=0/);
  expectRefusal(convBn({ bnAttrs: { frobnicate: 1 } }), [foldBatchNorm], /attribute 'frobnicate' is not part of BatchNormalization/);
  expectRefusal(convBn({ opset: 15, bnAttrs: { spatial: 1 } }), [foldBatchNorm], /attribute 'spatial' is not part of/);
  expectRefusal(convBn({ opset: 6 }), [foldBatchNorm], /legacy semantics/);
  expectRefusal(convBn({ opset: 30 }), [foldBatchNorm], /newer than the rules know/);
});

test('refuses float16 weights with a reason (only float32 is folded)', () => {
  const m = convBn();
  const w = m.graph.initializers.get('W');
  assert.ok(w);
  m.graph.initializers.set('W', { ...w, dataType: 10, data: new Uint8Array((w.data?.byteLength ?? 0) / 2) });
  expectRefusal(m, [foldBatchNorm], /float16; only float32/);
});

test('refuses a BatchNormalization in training mode before opset 14 (running-statistics outputs present, unread)', () => {
  const b = builder();
  const x = b.input('x', [2, 4, 7, 7]);
  const y = b.op('Conv', [x, b.initializer(randomTensor('W', [6, 4, 3, 3], 1))], { pads: [1, 1, 1, 1] });
  const scale = b.initializer(randomTensor('gamma', [6], 10, 1, 1));
  const bias = b.initializer(randomTensor('beta', [6], 11));
  const mean = b.initializer(randomTensor('mean', [6], 12));
  const variance = b.initializer(positiveTensor('var', [6], 13));
  // torch's TrainingMode.TRAINING export at opset 13: five outputs, the extra ones read by nothing.
  const [out] = b.node('BatchNormalization', [y, scale, bias, mean, variance], { epsilon: { float: 1e-3 } }, { outputs: 5 });
  b.output(out as string, [2, 6, 7, 7]);
  expectRefusal(model(b, 13), [foldBatchNorm], /training mode \(it has running-statistics outputs, opset 13 < 14\)/);
});

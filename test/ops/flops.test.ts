import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Dim, Model } from '../../src/ir/graph.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import type { AttrInput } from '../../src/ir/attributes.js';
import { floatTensor, int64Tensor, numel } from '../../src/ir/tensor.js';
import { inspectModel, type LayerSummary } from '../../src/inspect/inspect.js';

function zeros(name: string, dims: number[]): ReturnType<typeof floatTensor> {
  return floatTensor(name, dims, new Float32Array(numel(dims)));
}

/** The layer summary of a single node applied to an input of the given shape. */
function layer(
  inputShape: Dim[], opType: string, weights: Array<{ name: string; dims: number[] }>, attrs: Record<string, AttrInput> = {}, opset = 13,
): LayerSummary {
  const b = new GraphBuilder('g');
  const x = b.input('x', inputShape);
  const inputs = [x, ...weights.map((w) => b.initializer(zeros(w.name, w.dims)))];
  b.output(b.op(opType, inputs, attrs, 'layer'));
  const m: Model = modelOf(b.graph, opset);
  const l = inspectModel(m).layers[0];
  assert.ok(l);
  return l;
}

test('Conv 3x3 64->64 on 56x56: 2 * 64 * 64 * 9 * 56 * 56 FLOPs, with or without bias', () => {
  const expected = 2 * 64 * 64 * 9 * 56 * 56;
  const noBias = layer([1, 64, 56, 56], 'Conv', [{ name: 'w', dims: [64, 64, 3, 3] }], { pads: [1, 1, 1, 1] });
  assert.equal(noBias.flops, expected);
  assert.equal(noBias.params, 64 * 64 * 9);
  assert.equal(noBias.category, 'tensor');
  const withBias = layer([1, 64, 56, 56], 'Conv', [{ name: 'w', dims: [64, 64, 3, 3] }, { name: 'b', dims: [64] }], { pads: [1, 1, 1, 1] });
  assert.equal(withBias.flops, expected);
  assert.equal(withBias.params, 64 * 64 * 9 + 64);
});

test('Conv FLOPs scale with the batch and shrink with groups', () => {
  assert.equal(layer([8, 64, 56, 56], 'Conv', [{ name: 'w', dims: [64, 64, 3, 3] }], { pads: [1, 1, 1, 1] }).flops, 8 * 2 * 64 * 64 * 9 * 56 * 56);
  // Depthwise: each output channel sees one input channel.
  assert.equal(layer([1, 32, 10, 10], 'Conv', [{ name: 'w', dims: [32, 1, 3, 3] }], { group: 32, pads: [1, 1, 1, 1] }).flops, 2 * 32 * 9 * 100);
});

test('a symbolic batch is counted as batch 1', () => {
  assert.equal(layer(['N', 64, 56, 56], 'Conv', [{ name: 'w', dims: [64, 64, 3, 3] }], { pads: [1, 1, 1, 1] }).flops, 2 * 64 * 64 * 9 * 56 * 56);
  assert.deepEqual(layer(['N', 64, 56, 56], 'Relu', []).outputShape, ['N', 64, 56, 56]);
});

test('Gemm: 2*M*N*K, plus one multiply per output for alpha != 1 and for beta != 1 with C', () => {
  const w = [{ name: 'w', dims: [1000, 4096] }];
  assert.equal(layer([1, 4096], 'Gemm', w, { transB: 1 }).flops, 2 * 4096 * 1000);
  assert.equal(layer([1, 4096], 'Gemm', [...w, { name: 'c', dims: [1000] }], { transB: 1 }).flops, 2 * 4096 * 1000);
  assert.equal(layer([1, 4096], 'Gemm', w, { transB: 1, alpha: { float: 0.5 } }).flops, 2 * 4096 * 1000 + 1000);
  assert.equal(layer([1, 4096], 'Gemm', [...w, { name: 'c', dims: [1000] }], { transB: 1, beta: { float: 2 } }).flops, 2 * 4096 * 1000 + 1000);
  assert.equal(layer([1, 4096], 'Gemm', [...w, { name: 'c', dims: [1000] }], { transB: 1 }).params, 4096 * 1000 + 1000);
  assert.equal(layer([4096, 2], 'Gemm', [{ name: 'w', dims: [1000, 4096] }], { transA: 1, transB: 1 }).flops, 2 * 2 * 4096 * 1000);
});

test('MatMul: 2 * output elements * K', () => {
  assert.equal(layer([8, 3, 4], 'MatMul', [{ name: 'w', dims: [4, 5] }]).flops, 2 * 8 * 3 * 5 * 4);
  assert.equal(layer([4], 'MatMul', [{ name: 'w', dims: [4, 5] }]).flops, 2 * 5 * 4);
});

test('ConvTranspose: each input element scatters into a (M/group x k x k) patch', () => {
  const l = layer([1, 16, 8, 8], 'ConvTranspose', [{ name: 'w', dims: [16, 8, 4, 4] }], { strides: [2, 2], pads: [1, 1, 1, 1] });
  assert.deepEqual(l.outputShape, [1, 8, 16, 16]);
  assert.equal(l.flops, 2 * 16 * 64 * 8 * 16);
});

test('non-tensor layers: pooling, normalisation and activations', () => {
  const pool = layer([1, 64, 112, 112], 'MaxPool', [], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 });
  assert.equal(pool.flops, 64 * 56 * 56 * 8);
  assert.equal(pool.category, 'non-tensor');
  assert.equal(layer([1, 8, 4, 4], 'AveragePool', [], { kernel_shape: [2, 2], strides: [2, 2] }).flops, 8 * 2 * 2 * 4);
  assert.equal(layer([1, 8, 7, 7], 'GlobalAveragePool', []).flops, 8 * 49);
  assert.equal(layer([1, 8, 7, 7], 'GlobalMaxPool', []).flops, 8 * 48);
  assert.equal(layer([1, 96, 55, 55], 'LRN', [], { size: 5 }).flops, 96 * 55 * 55 * (2 * 5 + 4));
  const n = 16 * 10 * 10;
  assert.equal(layer([1, 16, 10, 10], 'Relu', []).flops, n);
  assert.equal(layer([1, 16, 10, 10], 'LeakyRelu', []).flops, 2 * n);
  assert.equal(layer([1, 16, 10, 10], 'Sigmoid', []).flops, 3 * n);
  assert.equal(layer([1, 16, 10, 10], 'HardSwish', [], {}, 14).flops, 5 * n);
  assert.equal(layer([1, 10], 'Softmax', []).flops, 50);
  const bn = layer([1, 16, 10, 10], 'BatchNormalization', ['s', 'b', 'm', 'v'].map((name) => ({ name, dims: [16] })));
  assert.equal(bn.flops, 2 * n);
  assert.equal(bn.params, 4 * 16, 'scale, shift and both running statistics are stored parameters');
});

test('data movement costs nothing and shape constants are not parameters', () => {
  const b = new GraphBuilder('g');
  const x = b.input('x', [2, 3, 4]);
  const r = b.op('Reshape', [x, b.initializer(int64Tensor('shape', [2], [6, 4]))], {}, 'r');
  const t = b.op('Transpose', [r], { perm: [1, 0] }, 't');
  b.output(b.op('Concat', [t, t], { axis: 0 }, 'c'));
  const layers = inspectModel(modelOf(b.graph, 13)).layers;
  assert.deepEqual(layers.map((l) => [l.flops, l.params]), [[0, 0], [0, 0], [0, 0]]);
});

test('elementwise arithmetic: one FLOP per output element; a constant operand is a parameter', () => {
  const add = layer([1, 16, 4, 4], 'Add', [{ name: 'bias', dims: [16, 1, 1] }]);
  assert.equal(add.flops, 256);
  assert.equal(add.params, 16);
});

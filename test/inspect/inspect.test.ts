import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Model } from '../../src/ir/graph.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { floatTensor, numel } from '../../src/ir/tensor.js';
import { formatCount, formatSummary, inspectModel } from '../../src/inspect/inspect.js';
import { inferShapes } from '../../src/shapes/infer.js';

function zeros(name: string, dims: number[]): ReturnType<typeof floatTensor> {
  return floatTensor(name, dims, new Float32Array(numel(dims)));
}

/** LeNet-style: conv5x5(1->6, pad 2) - relu - maxpool2 - flatten - fc(1176->10) - softmax, batch 'N'. */
function lenet(): Model {
  const b = new GraphBuilder('lenet');
  const x = b.input('x', ['N', 1, 28, 28]);
  const c = b.op('Conv', [x, b.initializer(zeros('conv1_w', [6, 1, 5, 5])), b.initializer(zeros('conv1_b', [6]))], { pads: [2, 2, 2, 2] }, 'conv1');
  const r = b.op('Relu', [c], {}, 'relu1');
  const p = b.op('MaxPool', [r], { kernel_shape: [2, 2], strides: [2, 2] }, 'pool1');
  const f = b.op('Flatten', [p], {}, 'flatten');
  const fc = b.op('Gemm', [f, b.initializer(zeros('fc_w', [10, 1176])), b.initializer(zeros('fc_b', [10]))], { transB: 1 }, 'fc');
  const prob = b.op('Softmax', [fc], {}, 'prob');
  b.graph.outputs.push({ name: prob, docString: '' });
  b.initializer(zeros('unused', [1000]));
  return modelOf(b.graph, 13);
}

const LENET_FLOPS = {
  conv1: 2 * 6 * 28 * 28 * 25,
  relu1: 6 * 28 * 28,
  pool1: 6 * 14 * 14 * 3,
  flatten: 0,
  fc: 2 * 1176 * 10,
  prob: 5 * 10,
};

test('inspectModel: totals, op counts, inputs/outputs and per-layer rows of a small model', () => {
  const s = inspectModel(lenet());
  assert.equal(s.nodes, 6);
  assert.equal(s.parameters, 6 * 25 + 6 + 11760 + 10, 'the unused initializer is not counted');
  assert.equal(s.flops, Object.values(LENET_FLOPS).reduce((a, b) => a + b, 0));
  assert.equal(s.flops, 267002);
  assert.equal(s.layersWithUnknownFlops, 0);
  assert.deepEqual(s.opTypes, { Conv: 1, Relu: 1, MaxPool: 1, Flatten: 1, Gemm: 1, Softmax: 1 });
  assert.deepEqual(s.inputs, [{ name: 'x', shape: ['N', 1, 28, 28], elemType: 'float' }]);
  assert.deepEqual(s.outputs, [{ name: 'prob_out', shape: ['N', 10], elemType: 'float' }]);
  assert.deepEqual(s.layers.map((l) => [l.name, l.flops]), Object.entries(LENET_FLOPS));
  assert.deepEqual(s.layers.map((l) => l.category), ['tensor', 'non-tensor', 'non-tensor', 'non-tensor', 'tensor', 'non-tensor']);
  assert.deepEqual(s.layers.map((l) => l.params), [156, 0, 0, 0, 11770, 0]);
  assert.deepEqual(s.layers[2]?.outputShape, ['N', 6, 14, 14]);
  assert.deepEqual(s.byCategory.tensor, { nodes: 2, flops: LENET_FLOPS.conv1 + LENET_FLOPS.fc, params: 11926 });
  assert.equal(s.byCategory['non-tensor'].nodes, 4);
  assert.equal(s.byCategory.other.nodes, 0);
});

test('inspectModel does not modify the model', () => {
  const m = lenet();
  const before = JSON.stringify({ vi: m.graph.valueInfo, out: m.graph.outputs });
  inspectModel(m);
  assert.equal(JSON.stringify({ vi: m.graph.valueInfo, out: m.graph.outputs }), before);
});

test('a shared initializer counts once in the total, in every layer that reads it', () => {
  const b = new GraphBuilder('g');
  const x = b.input('x', [1, 4, 8, 8]);
  const w = b.initializer(zeros('w', [4, 4, 1, 1]));
  const a = b.op('Conv', [x, w], {}, 'a');
  b.output(b.op('Conv', [a, w], {}, 'b'));
  const s = inspectModel(modelOf(b.graph, 13));
  assert.equal(s.parameters, 16);
  assert.deepEqual(s.layers.map((l) => l.params), [16, 16]);
});

test('unknown ops: category other, unknown FLOPs, left out of the total; unnamed nodes get ORT names', () => {
  const b = new GraphBuilder('g');
  const x = b.input('x', [1, 3, 4, 4]);
  const [mystery] = b.node('Mystery', [x], {}, { domain: 'com.example' });
  const r = b.op('Relu', [x]);
  b.output(mystery as string);
  b.output(r);
  const relu = b.graph.nodes[1];
  assert.ok(relu);
  relu.name = '';
  const s = inspectModel(modelOf(b.graph, 13));
  assert.equal(s.layersWithUnknownFlops, 1);
  assert.equal(s.flops, 48);
  assert.deepEqual(s.layers.map((l) => [l.name, l.category, l.flops]), [['Mystery', 'other', null], ['Relu_1', 'non-tensor', 48]]);
  assert.deepEqual(s.opTypes, { 'com.example.Mystery': 1, Relu: 1 });
  assert.match(formatSummary(s), /\+ 1 layers of unknown cost/);
});

test('formatSummary: totals line, inputs/outputs and one aligned row per layer', () => {
  const m = lenet();
  inferShapes(m);
  const text = formatSummary(inspectModel(m));
  const lines = text.split('\n');
  assert.match(lines[0] ?? '', /^graph 'lenet' \(opset 13\): 6 nodes, 11\.9K parameters, 267K FLOPs$/);
  assert.match(text, /inputs: {2}x float \[N,1,28,28\]/);
  assert.match(text, /outputs: prob_out float \[N,10\]/);
  assert.match(text, /by category: tensor 2 nodes \/ 96\.9% FLOPs/);
  const row = lines.find((l) => /\bconv1\b/.test(l));
  assert.ok(row);
  assert.match(row, /Conv\s+tensor\s+\[N,6,28,28\]\s+156\s+235K\s+88\.1%/);
  const header = lines.find((l) => l.includes('layer') && l.includes('FLOPs') && l.includes('share'));
  assert.ok(header, 'table header');
});

test('formatCount uses K/M/G/T with 3 significant digits', () => {
  assert.equal(formatCount(999), '999');
  assert.equal(formatCount(11926), '11.9K');
  assert.equal(formatCount(3_190_000_000), '3.19G');
  assert.equal(formatCount(61_100_000), '61.1M');
});

// The gradient formulations of src/autodiff/window.ts beyond finite differences: max-pool gradients on
// inputs full of ties against the element ONNX Runtime's own MaxPool picks (its Indices output), for every
// MaxPool form, and which ops each form emits (so a form cannot silently fall back to another).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import type { Model, Node } from '../../src/ir/graph.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import type { AttrInput } from '../../src/ir/attributes.js';
import { DataType, floatTensor } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { Random } from '../../src/util/random.js';
import { buildTrainingGraph } from '../../src/autodiff/training-graph.js';
import { withGradForms, type GradForms } from '../../src/autodiff/forms.js';

const rng = new Random(13);
const numel = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

async function session(model: Model): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 3 });
}

type Attrs = Record<string, AttrInput>;

/**
 * Pools whose windows are full of ties on inputs drawn from {0, 0.5, 1} (mostly 0: the ReLU-dead regions
 * real networks have), with strides, dilations, asymmetric pads and ceil_mode. The gradient of
 * sum(MaxPool(x) * r) must put r[o] on exactly the element ORT's Indices name for window o (the first
 * maximum in scan order, which PyTorch's max_pool backward also picks), summed where windows overlap.
 */
const TIE_CASES: [string, number[], Attrs][] = [
  ['2x2 strides [1,2] pads 1', [2, 2, 6, 6], { kernel_shape: [2, 2], strides: [1, 2], pads: [1, 1, 1, 1] }],
  ['3x3 stride 2 ceil_mode, partial last window', [2, 3, 8, 8], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }],
  ['3x3 stride 2 ceil_mode (googlenet pool3, 7 -> 3)', [2, 3, 7, 7], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }],
  ['3x3 stride 1 pads 1 (inception branch)', [2, 3, 5, 6], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }],
  ['5x5 stride 2 pads 2 ceil_mode', [1, 2, 8, 7], { kernel_shape: [5, 5], strides: [2, 2], pads: [2, 2, 2, 2], ceil_mode: 1 }],
  ['3x3 dilations 2, asymmetric pads', [2, 2, 8, 7], { kernel_shape: [3, 3], dilations: [2, 2], pads: [0, 1, 2, 0] }],
  ['2x3 strides [2,3] asymmetric pads ceil_mode, partial last windows', [2, 2, 8, 10], { kernel_shape: [2, 3], strides: [2, 3], pads: [1, 0, 0, 1], ceil_mode: 1 }],
  ['1-D kernel 3 stride 2', [2, 3, 11], { kernel_shape: [3], strides: [2] }],
  ['3-D kernel 2', [1, 2, 4, 4, 3], { kernel_shape: [2, 2, 2], pads: [1, 0, 0, 0, 1, 1] }],
];
const POOL_FORMS: GradForms['maxPool'][] = ['scatter', 'argmax'];

for (const [title, dims, attrs] of TIE_CASES) {
  for (const form of POOL_FORMS) {
    test(`MaxPool ${title}: gradient on ties goes where ORT's Indices point [${form}]`, async () => {
      const x = Array.from({ length: numel(dims) }, () => { const u = rng.nextFloat(); return u < 0.6 ? 0 : u < 0.8 ? 0.5 : 1; });
      const b = new GraphBuilder('ties');
      b.initializer(floatTensor('x', dims, x));
      const [y, indices] = b.node('MaxPool', ['x'], attrs, { outputs: 2 }) as [string, string];
      b.output(y);
      b.output(indices, undefined, DataType.INT64);
      const forward = await (await session(modelOf(b.graph, 18))).run({});
      const idx = Array.from(forward[indices]?.data as BigInt64Array, Number);
      const r = Array.from({ length: idx.length }, () => rng.nextFloat() + 0.5);
      const expected = new Array<number>(x.length).fill(0);
      idx.forEach((i, o) => { expected[i] = (expected[i] as number) + (r[o] as number); });

      const g = new GraphBuilder('ties');
      g.initializer(floatTensor('x', dims, x));
      g.initializer(floatTensor('r', forward[y]?.dims as number[], r));
      g.output(g.op('ReduceSum', [g.op('Mul', [g.op('MaxPool', ['x'], attrs), 'r'])], { keepdims: 0 }), []);
      const tg = withGradForms({ maxPool: form }, () => buildTrainingGraph(modelOf(g.graph), { loss: { kind: 'scalar' }, trainable: ['x'] }));
      const out = await (await session(tg.model)).run({ x: new ort.Tensor('float32', Float32Array.from(x), dims) });
      const dx = Array.from(out[tg.gradOutputs.x as string]?.data as Float32Array);
      dx.forEach((v, i) => assert.ok(Math.abs(v - (expected[i] as number)) < 1e-5, `dx[${i}] ${v} vs ${expected[i]}`));
    });
  }
}

/** The nodes of a one-node model's training graph (x and the weight, if any, trained). */
function trainingNodes(op: string, attrs: Attrs, inputDims: number[], weightDims: number[] | undefined, forms: Partial<GradForms>): Node[] {
  const b = new GraphBuilder('one');
  b.input('x', inputDims);
  const inputs = ['x'];
  if (weightDims) {
    b.initializer(floatTensor('w', weightDims, new Array<number>(numel(weightDims)).fill(0.1)));
    inputs.push('w');
  }
  const y = b.op(op, inputs, attrs);
  b.output(y);
  const model = modelOf(b.graph, 18);
  // Train x too: dX is emitted only for inputs that need a gradient.
  model.graph.initializers.set('x', floatTensor('x', inputDims, new Array<number>(numel(inputDims)).fill(0.5)));
  model.graph.inputs = model.graph.inputs.filter((v) => v.name !== 'x');
  const tg = withGradForms(forms, () => buildTrainingGraph(model, { loss: { kind: 'scalar' }, trainable: weightDims ? ['x', 'w'] : ['x'] }));
  return tg.model.graph.nodes;
}

/** The op types of the backward nodes. */
function gradOps(op: string, attrs: Attrs, inputDims: number[], weightDims: number[] | undefined, forms: Partial<GradForms>): string[] {
  return trainingNodes(op, attrs, inputDims, weightDims, forms).filter((n) => n.name.startsWith('grad/')).map((n) => n.opType);
}

const count = (ops: readonly string[], op: string): number => ops.filter((o) => o === op).length;

test('Conv dX: Conv with the flipped kernel where the im2col is no wider than ConvTranspose\'s columns (auto)', () => {
  const pad1 = { pads: [1, 1, 1, 1] };
  // 4 -> 3 channels, stride 1: Conv. 3 -> 4 channels: ConvTranspose (the im2col of dY would be wider).
  assert.deepEqual([count(gradOps('Conv', pad1, [2, 4, 5, 5], [3, 4, 3, 3], {}), 'Conv'), count(gradOps('Conv', pad1, [2, 4, 5, 5], [3, 4, 3, 3], {}), 'ConvTranspose')], [1, 0]);
  assert.deepEqual([count(gradOps('Conv', pad1, [2, 3, 5, 5], [4, 3, 3, 3], {}), 'Conv'), count(gradOps('Conv', pad1, [2, 3, 5, 5], [4, 3, 3, 3], {}), 'ConvTranspose')], [0, 1]);
  // 1x1 always Conv; stride 2 always ConvTranspose; 'conv' takes Conv whenever the stride is 1.
  assert.equal(count(gradOps('Conv', {}, [2, 3, 4, 4], [8, 3, 1, 1], {}), 'Conv'), 1);
  assert.equal(count(gradOps('Conv', { strides: [2, 2] }, [2, 4, 5, 5], [3, 4, 3, 3], { convInput: 'conv' }), 'ConvTranspose'), 1);
  assert.equal(count(gradOps('Conv', pad1, [2, 3, 5, 5], [4, 3, 3, 3], { convInput: 'conv' }), 'Conv'), 1);
  // Pads wider than the kernel extent would need negative Conv pads: ConvTranspose.
  assert.equal(count(gradOps('Conv', { pads: [3, 0, 1, 2] }, [2, 2, 5, 5], [2, 2, 3, 2], { convInput: 'conv' }), 'ConvTranspose'), 1);
});

test('Conv dW: one product per tap with the batch folded in, no reduction over the batch', () => {
  // No bias, so any ReduceSum would be the batched form's reduction over n.
  const folded = gradOps('Conv', { pads: [1, 1, 1, 1] }, [2, 3, 5, 5], [4, 3, 3, 3], {});
  assert.deepEqual([count(folded, 'Gemm'), count(folded, 'MatMul'), count(folded, 'ReduceSum')], [9, 0, 0]);
  const grouped = gradOps('Conv', { group: 2, pads: [1, 1, 1, 1] }, [2, 4, 5, 5], [6, 2, 3, 3], {});
  assert.deepEqual([count(grouped, 'MatMul'), count(grouped, 'ReduceSum')], [9, 0]);
  const batched = gradOps('Conv', { pads: [1, 1, 1, 1] }, [2, 3, 5, 5], [4, 3, 3, 3], { convWeight: 'batched-taps' });
  assert.deepEqual([count(batched, 'MatMul'), count(batched, 'ReduceSum')], [9, 1]);
});

test('MaxPool forms: argmax runs the plain MaxPool forward and no ScatterElements; scatter adds Indices', () => {
  const attrs = { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 };
  const pools = (nodes: Node[]): number[] => nodes.filter((n) => n.opType === 'MaxPool').map((n) => n.outputs.length);
  const argmax = trainingNodes('MaxPool', attrs, [2, 3, 7, 7], undefined, { maxPool: 'argmax' });
  assert.deepEqual(pools(argmax), [1]);
  assert.deepEqual([count(argmax.map((n) => n.opType), 'ScatterElements'), count(argmax.map((n) => n.opType), 'ArgMax')], [0, 1]);
  const scatter = trainingNodes('MaxPool', attrs, [2, 3, 7, 7], undefined, { maxPool: 'scatter' });
  assert.deepEqual(pools(scatter), [2]);
  assert.equal(count(scatter.map((n) => n.opType), 'ScatterElements'), 1);
  // Where ONNX shape inference and ORT disagree on a ceil_mode output size, argmax keeps the scatter form.
  const disagree = trainingNodes('MaxPool', { kernel_shape: [2, 2], strides: [3, 3], pads: [1, 1, 1, 1], ceil_mode: 1 }, [1, 1, 4, 4], undefined, { maxPool: 'argmax' });
  assert.deepEqual(pools(disagree), [2]);
});

test('LRN s^-beta: Sqrt/Reciprocal for multiples of 1/4, Pow otherwise', () => {
  const ops = (beta: number): string[] => trainingNodes('LRN', { size: 3, alpha: { float: 0.1 }, beta: { float: beta }, bias: { float: 1 } }, [2, 4, 3, 3], undefined, {}).map((n) => n.opType);
  assert.deepEqual([count(ops(0.75), 'Pow'), count(ops(0.75), 'Sqrt'), count(ops(0.75), 'Reciprocal')], [0, 2, 1]);
  assert.deepEqual([count(ops(0.5), 'Pow'), count(ops(0.5), 'Sqrt')], [0, 1]);
  assert.equal(count(ops(0.6), 'Pow'), 1);
});

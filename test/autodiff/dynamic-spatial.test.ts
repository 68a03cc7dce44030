// Conv gradients when the input's height and width are symbolic (exports with dynamic_axes on H and W): the
// ConvTranspose + Slice form of dX and the per-tap dW with slice ends computed from Shape(dY), checked by
// finite differences at two input sizes through ONE training graph, and against the static-shape rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import type { Dim, Model } from '../../src/ir/graph.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { floatTensor } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { buildTrainingGraph } from '../../src/autodiff/training-graph.js';
import { RebirthError } from '../../src/errors.js';
import { Random } from '../../src/util/random.js';
import { checkModel } from './gradcheck.js';

const TRAINABLE = ['w1', 'b1', 'w2', 'w3', 'w4'];

/**
 * x [2,4,H,W] -> Conv 3x3 stride 2, asymmetric pads -> grouped Conv (2 groups) dilation (2,1) ->
 * depthwise Conv stride (2,1) -> 1x1 Conv. Linear, so central differences are exact up to rounding.
 */
function convStack(h: Dim, w: Dim): Model {
  const rng = new Random(11);
  const init = (name: string, dims: number[]): string => {
    const n = dims.reduce((a, b) => a * b, 1);
    return new GraphBuilder(b.graph).initializer(floatTensor(name, dims, Array.from({ length: n }, () => (rng.nextFloat() * 2 - 1) * 0.5)));
  };
  const b = new GraphBuilder('conv_stack');
  const x = b.input('x', [2, 4, h, w]);
  const h1 = b.op('Conv', [x, init('w1', [6, 4, 3, 3]), init('b1', [6])], { strides: [2, 2], pads: [1, 0, 1, 2] });
  const h2 = b.op('Conv', [h1, init('w2', [6, 3, 3, 3])], { group: 2, dilations: [2, 1], pads: [2, 1, 2, 1] });
  const h3 = b.op('Conv', [h2, init('w3', [6, 1, 3, 3])], { group: 6, strides: [2, 1], pads: [1, 1, 1, 1] });
  const h4 = b.op('Conv', [h3, init('w4', [5, 6, 1, 1])]);
  b.output(h4, [2, 5, null, null]);
  return modelOf(b.graph, 13);
}

function input(h: number, w: number, seed: number): ort.Tensor {
  const rng = new Random(seed);
  return new ort.Tensor('float32', Float32Array.from({ length: 2 * 4 * h * w }, () => rng.nextFloat() * 2 - 1), [2, 4, h, w]);
}

for (const [h, w] of [[7, 9], [8, 6]] as const) {
  test(`Conv with symbolic height and width (fed ${h}x${w}): gradients by finite differences`, async () => {
    const model = convStack('H', 'W');
    const report = await checkModel(model, TRAINABLE, [model.graph.outputs[0]?.name as string], {
      eps: 1e-2, tol: 2e-3, label: `conv-dynamic-${h}x${w}`, rng: new Random(h * 31 + w), feeds: { x: input(h, w, h + w) },
    });
    assert.ok(report.checked > 0);
  });
}

test('Conv with symbolic height and width: the same gradients as the static-shape rules', async () => {
  const feeds = { x: input(7, 9, 1) };
  const grads: Float32Array[][] = [];
  for (const model of [convStack('H', 'W'), convStack(7, 9)]) {
    const out = model.graph.outputs[0]?.name as string;
    const b = new GraphBuilder(model.graph);
    const objective = b.op('ReduceSum', [b.op('Mul', [out, out])], { keepdims: 0 });
    b.output(objective, []);
    const tg = buildTrainingGraph(model, { loss: { kind: 'scalar', output: objective }, trainable: TRAINABLE });
    // The symbolic model takes the dynamic path (sizes read from Shape in the graph); the static one does not.
    assert.equal(tg.model.graph.nodes.some((n) => n.opType === 'Shape'), typeof model.graph.inputs[0]?.shape?.[2] === 'string');
    const s = await ort.InferenceSession.create(encodeModel(tg.model), { logSeverityLevel: 3, intraOpNumThreads: 1 });
    try {
      const params: Record<string, ort.Tensor> = {};
      for (const p of TRAINABLE) {
        const t = model.graph.initializers.get(p);
        assert.ok(t?.data);
        params[p] = new ort.Tensor('float32', new Float32Array(t.data.slice().buffer), t.dims);
      }
      const r = await s.run({ ...feeds, ...params });
      grads.push(TRAINABLE.map((p) => r[tg.gradOutputs[p] as string]?.data as Float32Array));
    } finally {
      await s.release();
    }
  }
  const [dynamic, fixed] = grads as [Float32Array[], Float32Array[]];
  TRAINABLE.forEach((p, k) => {
    const a = dynamic[k] as Float32Array;
    const e = fixed[k] as Float32Array;
    assert.equal(a.length, e.length);
    const scale = Math.max(...Array.from(e, Math.abs));
    a.forEach((v, i) => assert.ok(Math.abs(v - (e[i] as number)) <= 1e-5 * scale, `${p}[${i}]: dynamic ${v} vs static ${e[i]}`));
  });
});

test('Conv with auto_pad SAME and symbolic height/width is refused with a message naming the node', () => {
  const b = new GraphBuilder('same');
  const x = b.input('x', [1, 2, 'H', 'W']);
  const w = b.initializer(floatTensor('w', [2, 2, 3, 3], new Array<number>(36).fill(0.1)));
  const h1 = b.op('Conv', [x, w], { pads: [1, 1, 1, 1] });
  const y = b.op('Conv', [h1, b.initializer(floatTensor('w2', [2, 2, 3, 3], new Array<number>(36).fill(0.1)))], { auto_pad: 'SAME_UPPER', strides: [2, 2] }, 'same_conv');
  b.output(y, [1, 2, null, null]);
  assert.throws(() => buildTrainingGraph(modelOf(b.graph, 13), { loss: { kind: 'mse' }, trainable: ['w'] }),
    (e: unknown) => e instanceof RebirthError && /node 'same_conv' \(Conv\): auto_pad SAME_UPPER .* dynamic/.test(e.message));
});

// Independent reference: PyTorch's loss, gradients and BatchNorm running statistics for two small
// networks (scripts/make-grad-fixtures.py), against rebirth's training graph for the same networks rebuilt
// in the IR from the fixture's weights and run by onnxruntime-node. The batch dim is symbolic, so the
// dynamic-shape paths (batch counts, sums to shape) run too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import type { Model } from '../../src/ir/graph.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { floatTensor } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { buildTrainingGraph, type LossSpec } from '../../src/autodiff/training-graph.js';
import { withGradForms, type GradForms } from '../../src/autodiff/forms.js';

interface Entry { dims: number[]; data: number[] }
interface Fixture {
  name: string;
  input: Entry;
  labels: number[];
  teacher?: Entry;
  target?: Entry;
  temperature?: number;
  params: Record<string, Entry>;
  buffers: Record<string, Entry>;
  loss: number;
  logits: number[];
  grads: Record<string, number[]>;
  running: Record<string, number[]>;
}

/** test/fixtures/grad, found from here whether run from test/ (tsx) or from dist/test/ (compiled). */
const FIXTURES = ((): string => {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'test', 'fixtures', 'grad');
    if (fs.existsSync(candidate) && !candidate.includes(`${path.sep}dist${path.sep}`)) return candidate;
    if (path.dirname(dir) === dir) throw new Error('test/fixtures/grad not found above this test file');
  }
})();

function load(name: string): Fixture {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as Fixture;
}

function withWeights(b: GraphBuilder, f: Fixture): void {
  for (const [name, e] of [...Object.entries(f.params), ...Object.entries(f.buffers)]) b.initializer(floatTensor(name, e.dims, e.data));
}

function inceptionMini(f: Fixture): Model {
  const b = new GraphBuilder('inception_mini');
  withWeights(b, f);
  const x = b.input('x', ['N', 3, 12, 12]);
  let h = b.op('Conv', [x, 'conv1.weight', 'conv1.bias'], { strides: [2, 2], pads: [2, 2, 2, 2] });
  h = b.op('BatchNormalization', [h, 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var'], { epsilon: 1e-5, momentum: 0.9 });
  h = b.op('Relu', [h]);
  h = b.op('MaxPool', [h], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 });
  h = b.op('LRN', [h], { size: 5, alpha: 0.05, beta: 0.75, bias: { float: 1 } });
  const a = b.op('Relu', [b.op('Conv', [h, 'branch1.weight', 'branch1.bias'])]);
  const c3 = b.op('Relu', [b.op('Conv', [h, 'branch3.weight', 'branch3.bias'], { pads: [1, 1, 1, 1] })]);
  const pooled = b.op('MaxPool', [h], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  const p = b.op('Relu', [b.op('Conv', [pooled, 'proj.weight', 'proj.bias'])]);
  const cat = b.op('Concat', [a, c3, p], { axis: 1 });
  const flat = b.op('Flatten', [b.op('GlobalAveragePool', [cat])]);
  const logits = b.op('Gemm', [flat, 'fc.weight', 'fc.bias'], { transB: 1 }, 'fc');
  b.output(logits, ['N', 5]);
  return modelOf(b.graph, 13);
}

function mobileMini(f: Fixture): Model {
  const b = new GraphBuilder('mobile_mini');
  withWeights(b, f);
  const x = b.input('x', ['N', 4, 9, 9]);
  let h = b.op('Conv', [x, 'dw.weight', 'dw.bias'], { strides: [2, 2], pads: [1, 1, 1, 1], group: 4 });
  h = b.op('HardSwish', [b.op('Conv', [h, 'pw.weight', 'pw.bias'])]);
  h = b.op('AveragePool', [h], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1, count_include_pad: 0 });
  h = b.op('Tanh', [b.op('ConvTranspose', [h, 'up.weight', 'up.bias'], { strides: [2, 2], group: 2 })]);
  h = b.op('AveragePool', [h], { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 });
  const logits = b.op('Gemm', [b.op('Flatten', [h]), 'fc.weight', 'fc.bias'], { transB: 1 }, 'fc');
  b.output(logits, ['N', 7]);
  return modelOf(b.graph, 13);
}

/**
 * Largest |a - b| over the tensor, relative to the reference's largest magnitude (floored at `floor`: a
 * gradient that is zero in exact arithmetic, like a conv bias right before training-mode BatchNorm, is
 * compared absolutely).
 */
function relError(actual: ArrayLike<number>, expected: readonly number[], floor = 1e-12): number {
  assert.equal(actual.length, expected.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    err = Math.max(err, Math.abs((actual[i] as number) - (expected[i] as number)));
    scale = Math.max(scale, Math.abs(expected[i] as number));
  }
  return err / Math.max(scale, floor);
}

async function compare(f: Fixture, model: Model, loss: LossSpec | LossSpec[], extraFeeds: Record<string, ort.Tensor>, forms: Partial<GradForms>): Promise<void> {
  const trainable = Object.keys(f.params);
  const tg = withGradForms(forms, () => buildTrainingGraph(model, { loss, trainable, runningVariance: 'unbiased' }));
  const session = await ort.InferenceSession.create(encodeModel(tg.model), { logSeverityLevel: 3 });
  const feeds: Record<string, ort.Tensor> = { ...extraFeeds, x: new ort.Tensor('float32', Float32Array.from(f.input.data), f.input.dims) };
  for (const name of [...tg.paramInputs, ...tg.stateInputs]) {
    const e = f.params[name] ?? f.buffers[name];
    assert.ok(e, `fixture has ${name}`);
    feeds[name] = new ort.Tensor('float32', Float32Array.from(e.data), e.dims);
  }
  const out = await session.run(feeds);
  const lossValue = (out[tg.lossOutput]?.data as Float32Array)[0] as number;
  assert.ok(Math.abs(lossValue - f.loss) / Math.abs(f.loss) < 1e-5, `loss ${lossValue} vs torch ${f.loss}`);
  assert.ok(relError(out[tg.logitsOutput]?.data as Float32Array, f.logits) < 1e-5, 'logits');
  for (const name of trainable) {
    const got = out[tg.gradOutputs[name] as string]?.data as Float32Array;
    const err = relError(got, f.grads[name] as number[], 1e-3);
    assert.ok(err < 1e-4, `gradient of ${name}: relative error ${err.toExponential(2)}`);
  }
  for (const [name, expected] of Object.entries(f.running)) {
    const err = relError(out[tg.extraOutputs[name] as string]?.data as Float32Array, expected);
    assert.ok(err < 1e-5, `updated ${name}: relative error ${err.toExponential(2)}`);
  }
}

// Every window-op gradient form (src/autodiff/window.ts): the defaults, the alternatives kept for
// comparisons, and the forms before issue 13.
const FORM_VARIANTS: [string, Partial<GradForms>][] = [
  ['default', {}],
  ['dX always Conv, argmax max-pool', { convInput: 'conv', maxPool: 'argmax' }],
  ['before issue 13', { maxPool: 'scatter', convInput: 'transpose', convWeight: 'batched-taps', lrnPower: 'pow', mask: 'where' }],
];

for (const [label, forms] of FORM_VARIANTS) {
  test(`inception-mini (conv-BN-ReLU-maxpool ceil-LRN-inception-concat-GAP-FC, CE with smoothing) matches PyTorch [${label}]`, async () => {
    const f = load('inception_mini');
    await compare(f, inceptionMini(f), { kind: 'softmax-cross-entropy', smoothing: 0.1 }, {
      labels: new ort.Tensor('int64', BigInt64Array.from(f.labels, (v) => BigInt(v)), [f.labels.length]),
    }, forms);
  });

  test(`mobile-mini (depthwise, HardSwish, avgpool both count modes, grouped ConvTranspose; KL + CE + MSE) matches PyTorch [${label}]`, async () => {
    const f = load('mobile_mini');
    const teacher = f.teacher as Entry;
    const target = f.target as Entry;
    await compare(f, mobileMini(f), [
      { kind: 'kl-divergence', temperature: f.temperature, weight: 0.7, labelsName: 'teacher' },
      { kind: 'cross-entropy', weight: 0.3 },
      { kind: 'mse', weight: 0.1, labelsName: 'target' },
    ], {
      labels: new ort.Tensor('int64', BigInt64Array.from(f.labels, (v) => BigInt(v)), [f.labels.length]),
      teacher: new ort.Tensor('float32', Float32Array.from(teacher.data), teacher.dims),
      target: new ort.Tensor('float32', Float32Array.from(target.data), target.dims),
    }, forms);
  });
}

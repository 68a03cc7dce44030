// Training-mode exports and BatchNormalization state: normalizeTrainingExport's rewrites and refusals, the
// training graph of a training-mode BatchNormalization (opset 13's 5 outputs, opset 15's training_mode=1)
// by finite differences with its running statistics vs a JS reference, freezeBatchNorm (by finite
// differences, statistics constant), running statistics refused as trainables, Dropout's training_mode input
// and mask output, and dropoutMasks 'none'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import type { Model } from '../../src/ir/graph.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { DataType, floatTensor } from '../../src/ir/tensor.js';
import { findAttr } from '../../src/ir/attributes.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { makeTensor } from '../../src/autodiff/context.js';
import { buildTrainingGraph, type TrainingGraph } from '../../src/autodiff/training-graph.js';
import { normalizeModelTrainingExport } from '../../src/autodiff/training-export.js';
import { batchNormStateNames, floatParamNames } from '../../src/train/params.js';
import { RebirthError } from '../../src/errors.js';
import { Random } from '../../src/util/random.js';
import { checkModel } from './gradcheck.js';

const C = 3;
const DIMS = [4, C, 3, 2];
const MEAN0 = [0.3, -0.2, 0.1];
const VAR0 = [1.2, 0.7, 0.9];
const MOMENTUM = 0.8;

function values(n: number, seed: number): number[] {
  const rng = new Random(seed);
  return Array.from({ length: n }, () => rng.nextFloat() * 4 - 1.5);
}

const X = values(DIMS.reduce((a, b) => a * b, 1), 1);

/**
 * x -> BatchNormalization in training mode as an exporter writes it: at opset 13 with the 5 outputs of
 * BN-9 (torch's TrainingMode.TRAINING), at opset 15 with training_mode=1 and 3 outputs. Only Y is read.
 */
function trainingBn(opset: 13 | 15): Model {
  const b = new GraphBuilder('bn_train');
  b.initializer(floatTensor('x', DIMS, X));
  b.initializer(floatTensor('scale', [C], [0.9, 1.3, 0.6]));
  b.initializer(floatTensor('bias', [C], [0.1, -0.4, 0.2]));
  b.initializer(floatTensor('running_mean', [C], MEAN0));
  b.initializer(floatTensor('running_var', [C], VAR0));
  const outputs = opset === 13 ? ['y', 'mean_out', 'var_out', 'saved_mean', 'saved_var'] : ['y', 'mean_out', 'var_out'];
  b.node('BatchNormalization', ['x', 'scale', 'bias', 'running_mean', 'running_var'],
    { epsilon: 1e-3, momentum: MOMENTUM, training_mode: opset === 15 ? 1 : undefined }, { name: 'bn', outputs });
  b.output('y', DIMS);
  return modelOf(b.graph, opset);
}

/** Per channel: batch mean and population variance of X. */
function batchStats(): { mean: number[]; variance: number[]; count: number } {
  const [n, c, h, w] = DIMS as [number, number, number, number];
  const mean: number[] = [];
  const variance: number[] = [];
  for (let ch = 0; ch < c; ch++) {
    const xs: number[] = [];
    for (let i = 0; i < n; i++) for (let p = 0; p < h * w; p++) xs.push(X[(i * c + ch) * h * w + p] as number);
    const m = xs.reduce((a, v) => a + v, 0) / xs.length;
    mean.push(m);
    variance.push(xs.reduce((a, v) => a + (v - m) ** 2, 0) / xs.length);
  }
  return { mean, variance, count: n * h * w };
}

function f32(dims: number[], v: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', Float32Array.from(v), dims);
}

async function run(tg: TrainingGraph, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
  const s = await ort.InferenceSession.create(encodeModel(tg.model), { logSeverityLevel: 3, intraOpNumThreads: 1 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function floats(t: ort.Tensor | undefined): Float32Array {
  assert.ok(t && t.type === 'float32');
  return t.data as Float32Array;
}

for (const opset of [13, 15] as const) {
  test(`normalizeTrainingExport: training-mode BatchNormalization at opset ${opset} becomes the 1-output inference node, once`, () => {
    const model = trainingBn(opset);
    const report = normalizeModelTrainingExport(model);
    assert.deepEqual(report, { batchNorms: ['bn'], dropouts: [] });
    const bn = model.graph.nodes[0];
    assert.deepEqual(bn?.outputs, ['y']);
    assert.equal(bn && findAttr(bn, 'training_mode'), undefined);
    assert.deepEqual(normalizeModelTrainingExport(model), { batchNorms: [], dropouts: [] }, 'idempotent');
  });

  test(`training-mode BatchNormalization export (opset ${opset}): gradients by finite differences, running statistics from the node's momentum`, async () => {
    const model = trainingBn(opset);
    await checkModel(model, ['x', 'scale', 'bias'], ['y'], { eps: 1e-2, tol: 2e-3, label: `BN-train-export-${opset}`, rng: new Random(3) });
    for (const runningVariance of ['population', 'unbiased'] as const) {
      const tg = buildTrainingGraph(model, { loss: { kind: 'scalar', output: 'y' }, trainable: ['scale', 'bias'], runningVariance });
      assert.deepEqual(tg.stateInputs, ['running_mean', 'running_var']);
      assert.equal(tg.trainingExport.batchNorms.length, 1);
      const out = await run(tg, {
        scale: f32([C], [0.9, 1.3, 0.6]), bias: f32([C], [0.1, -0.4, 0.2]), running_mean: f32([C], MEAN0), running_var: f32([C], VAR0),
      });
      const { mean, variance, count } = batchStats();
      const mOut = floats(out[tg.extraOutputs.running_mean as string]);
      const vOut = floats(out[tg.extraOutputs.running_var as string]);
      for (let c = 0; c < C; c++) {
        const batchVar = runningVariance === 'unbiased' ? ((variance[c] as number) * count) / (count - 1) : (variance[c] as number);
        assert.ok(Math.abs((mOut[c] as number) - (MOMENTUM * (MEAN0[c] as number) + (1 - MOMENTUM) * (mean[c] as number))) < 1e-6, `running mean ${c}`);
        assert.ok(Math.abs((vOut[c] as number) - (MOMENTUM * (VAR0[c] as number) + (1 - MOMENTUM) * batchVar)) < 1e-5, `running var ${c} (${runningVariance})`);
      }
    }
  });
}

test('freezeBatchNorm: BN in inference mode in a training graph; statistics stay constants; gradients by finite differences', async () => {
  const model = trainingBn(13);
  const tg = buildTrainingGraph(model, { loss: { kind: 'scalar', output: 'y' }, trainable: ['scale', 'bias'], freezeBatchNorm: true });
  assert.deepEqual(tg.stateInputs, []);
  assert.deepEqual(tg.extraOutputs, {});
  assert.ok(tg.model.graph.initializers.has('running_mean') && tg.model.graph.initializers.has('running_var'), 'frozen statistics stay initializers');
  await checkModel(model, ['x', 'scale', 'bias'], ['y'], { eps: 1e-2, tol: 2e-3, label: 'BN-frozen', rng: new Random(4), graph: { freezeBatchNorm: true } });
  // Frozen = inference semantics: y = (x - mean) / sqrt(var + eps) * scale + bias with the running statistics.
  const out = await run(tg, { scale: f32([C], [0.9, 1.3, 0.6]), bias: f32([C], [0.1, -0.4, 0.2]) });
  const y = floats(out.y);
  const hw = (DIMS[2] as number) * (DIMS[3] as number);
  X.forEach((v, k) => {
    const c = Math.floor(k / hw) % C;
    const expected = ((v - (MEAN0[c] as number)) / Math.sqrt((VAR0[c] as number) + 1e-3)) * ([0.9, 1.3, 0.6][c] as number) + ([0.1, -0.4, 0.2][c] as number);
    assert.ok(Math.abs((y[k] as number) - expected) < 1e-5, `y[${k}]`);
  });
});

test('running statistics are state: never in floatParamNames, refused as trainables of a training-mode BN, allowed when BN is frozen', () => {
  const model = trainingBn(13);
  assert.deepEqual(batchNormStateNames(model).sort(), ['running_mean', 'running_var']);
  assert.deepEqual(floatParamNames(model).sort(), ['bias', 'scale', 'x']);
  assert.throws(() => buildTrainingGraph(model, { loss: { kind: 'scalar', output: 'y' }, trainable: ['scale', 'running_mean'] }),
    (e: unknown) => e instanceof RebirthError && /trainable 'running_mean' is the running mean of node 'bn' \(BatchNormalization\).*remove it from trainable/.test(e.message) && !e.message.includes('\n'));
  // Through frozen statistics the gradient is defined (gradients.test.ts checks it by finite differences).
  const tg = buildTrainingGraph(model, { loss: { kind: 'scalar', output: 'y' }, trainable: ['scale', 'running_mean'], freezeBatchNorm: true });
  assert.ok(tg.gradOutputs.running_mean);
});

test('a training-mode BN whose running-statistics output is read is refused with a one-line message naming node and reader', () => {
  const model = trainingBn(13);
  const b = new GraphBuilder(model.graph);
  b.output(b.op('Identity', ['mean_out'], {}, 'reader'), [C]);
  assert.throws(() => buildTrainingGraph(model, { loss: { kind: 'scalar', output: 'y' }, trainable: ['scale'] }),
    (e: unknown) => e instanceof RebirthError && /node 'bn' \(BatchNormalization\) is in training mode and its running mean output 'mean_out' is read by node 'reader' \(Identity\)/.test(e.message) && !e.message.includes('\n'));
});

/** y = Dropout(x * w, ratio, training_mode) as torch's TRAINING export writes it: Constant ratio and mode, mask output. */
function trainingDropout(maskRead: boolean): Model {
  const b = new GraphBuilder('dropout_train');
  const n = 4000;
  b.input('x', ['N', n]);
  b.initializer(floatTensor('w', [n], new Array<number>(n).fill(1)));
  const ratio = b.node('Constant', [], { value: makeTensor('ratio', DataType.FLOAT, [], [0.25]) }, { name: 'ratio', outputs: ['ratio'] })[0] as string;
  const mode = b.node('Constant', [], { value: makeTensor('mode', DataType.BOOL, [], [1]) }, { name: 'mode', outputs: ['mode'] })[0] as string;
  b.node('Dropout', [b.op('Mul', ['x', 'w']), ratio, mode], {}, { name: 'drop', outputs: ['y', 'mask'] });
  b.output('y', ['N', n]);
  if (maskRead) b.output(b.node('Cast', ['mask'], { to: DataType.FLOAT }, { name: 'cast_mask', outputs: ['mask_float'] })[0] as string, ['N', n]);
  return modelOf(b.graph, 13);
}

test('training-mode Dropout export: training_mode input dropped, unread mask dropped; rebirth decides the semantics', async () => {
  const model = trainingDropout(false);
  const n = 4000;
  const x = { x: f32([1, n], new Array<number>(n).fill(2)), w: f32([n], new Array<number>(n).fill(1)) };
  // 'seed' masks (rebirth's training default): about a quarter of the elements dropped, the rest scaled by 1/(1-0.25).
  const seeded = buildTrainingGraph(model, { loss: { kind: 'scalar', output: 'y' }, trainable: ['w'] });
  assert.deepEqual(seeded.trainingExport.dropouts, ['drop']);
  const drop = seeded.model.graph.nodes.find((node) => node.opType === 'Dropout');
  assert.equal(drop, undefined, 'seeded masks replace the Dropout node');
  const y = floats((await run(seeded, { ...x, [seeded.seedName as string]: new ort.Tensor('int64', BigInt64Array.of(5n), []) })).y);
  const dropped = y.filter((v) => v === 0).length / n;
  assert.ok(Math.abs(dropped - 0.25) < 0.03, `dropped ${dropped}`);
  assert.ok(y.every((v) => v === 0 || Math.abs(v - 2 / 0.75) < 1e-5));
  // 'none' and 'eval': the identity, deterministic; the gradient is the identity too.
  for (const options of [{ dropoutMasks: 'none' as const }, { mode: 'eval' as const }]) {
    const tg = buildTrainingGraph(model, { loss: { kind: 'scalar', output: 'y' }, trainable: ['w'], ...options });
    const node = tg.model.graph.nodes.find((nd) => nd.opType === 'Dropout');
    assert.ok(node, 'the inference Dropout node is kept');
    assert.equal(node.inputs.length, 2, 'no training_mode input');
    assert.deepEqual(node.outputs, ['y'], 'no mask output');
    const out = await run(tg, x);
    assert.ok(floats(out.y).every((v) => v === 2));
    assert.ok(floats(out[tg.gradOutputs.w as string]).every((v) => v === 2));
  }
});

test('training-mode Dropout export whose mask is read keeps its mask output (all true in inference form)', async () => {
  const model = trainingDropout(true);
  const report = normalizeModelTrainingExport(model);
  assert.deepEqual(report.dropouts, ['drop']);
  const node = model.graph.nodes.find((nd) => nd.opType === 'Dropout');
  assert.deepEqual(node?.outputs, ['y', 'mask']);
  assert.equal(node?.inputs.length, 2);
  const s = await ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 3 });
  try {
    const out = await s.run({ x: f32([1, 4000], new Array<number>(4000).fill(2)) });
    assert.ok(floats(out.mask_float).every((v) => v === 1));
    assert.ok(floats(out.y).every((v) => v === 2));
  } finally {
    await s.release();
  }
});

test('a weight read through Identity (torch exports of shared or tied parameters) trains: finite differences', async () => {
  const b = new GraphBuilder('tied');
  b.initializer(floatTensor('x', [2, 3, 5, 4], values(120, 7)));
  b.initializer(floatTensor('w', [4, 3, 3, 3], values(108, 8).map((v) => v * 0.3)));
  const w = b.node('Identity', ['w'], {}, { name: 'onnx_Identity', outputs: ['onnx::Conv_12'] })[0] as string;
  const y = b.op('Conv', ['x', w], { pads: [1, 1, 1, 1] });
  // The same weight again, read directly: the gradients of both uses add up.
  const z = b.op('Conv', [y, b.op('Transpose', ['w'], { perm: [1, 0, 2, 3] })], { pads: [1, 1, 1, 1] });
  b.output(z, [2, 3, 5, 4]);
  const model = modelOf(b.graph, 13);
  assert.deepEqual(floatParamNames(model).sort(), ['w', 'x']);
  await checkModel(model, ['w'], [z], { eps: 1e-2, tol: 2e-3, label: 'identity-weight', rng: new Random(9) });
});

// buildTrainingGraph as a whole: losses against JS references, BatchNorm running statistics, pruning,
// dropout masks, opset upgrades and the errors users see.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import type { Model } from '../../src/ir/graph.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { DataType, floatTensor, int64Tensor } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { RebirthError } from '../../src/errors.js';
import { Random } from '../../src/util/random.js';
import { buildTrainingGraph, type LossSpec, type TrainingGraph } from '../../src/autodiff/training-graph.js';
import { dropoutSalt, maskHashReference } from '../../src/autodiff/norm.js';
import { checkModel } from './gradcheck.js';

const rng = new Random(11);
const uniform = (n: number, lo = -1, hi = 1): number[] => Array.from({ length: n }, () => lo + (hi - lo) * rng.nextFloat());
const f32 = (dims: number[], values: number[]): ort.Tensor => new ort.Tensor('float32', Float32Array.from(values), dims);

async function run(tg: TrainingGraph, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
  const s = await ort.InferenceSession.create(encodeModel(tg.model), { logSeverityLevel: 3 });
  return s.run(feeds);
}

const data = (t: ort.Tensor | undefined): number[] => Array.from(t?.data as Float32Array);

/** A model whose output is the trainable tensor 'p' itself (through Identity). */
function paramModel(dims: number[], values: number[]): Model {
  const b = new GraphBuilder('param');
  b.initializer(floatTensor('p', dims, values));
  b.output(b.op('Identity', ['p'], {}, 'out'), dims);
  return modelOf(b.graph);
}

function logSoftmaxRows(x: number[], k: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / k; r++) {
    const row = x.slice(r * k, r * k + k);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    out.push(...row.map((v) => v - lse));
  }
  return out;
}

/** Loss value and gradient of the training graph against JS references, plus central differences of the loss output. */
async function checkLoss(loss: LossSpec, dims: number[], logits: number[], feeds: Record<string, ort.Tensor>, expected: { loss: number; grad: number[] }): Promise<void> {
  const tg = buildTrainingGraph(paramModel(dims, logits), { loss, trainable: ['p'] });
  const s = await ort.InferenceSession.create(encodeModel(tg.model), { logSeverityLevel: 3 });
  const at = async (v: number[]): Promise<ort.InferenceSession.OnnxValueMapType> => s.run({ ...feeds, p: f32(dims, v) });
  const out = await at(logits);
  const lossValue = data(out[tg.lossOutput])[0] as number;
  assert.ok(Math.abs(lossValue - expected.loss) < 1e-5 * Math.max(1, Math.abs(expected.loss)), `loss ${lossValue} vs ${expected.loss}`);
  const grad = data(out[tg.gradOutputs.p as string]);
  grad.forEach((g, i) => assert.ok(Math.abs(g - (expected.grad[i] as number)) < 1e-6, `grad[${i}] ${g} vs ${expected.grad[i]}`));
  for (const i of [0, 3, logits.length - 1]) {
    const eps = 1e-2;
    const plus = [...logits];
    const minus = [...logits];
    plus[i] = (plus[i] as number) + eps;
    minus[i] = (minus[i] as number) - eps;
    const numeric = ((data((await at(plus))[tg.lossOutput])[0] as number) - (data((await at(minus))[tg.lossOutput])[0] as number)) / (2 * eps);
    assert.ok(Math.abs(numeric - (grad[i] as number)) < 2e-4, `finite difference ${numeric} vs ${grad[i]}`);
  }
}

test('softmax cross-entropy with label smoothing: loss and (softmax - target)/N', async () => {
  const [n, k, eps] = [4, 5, 0.2];
  const logits = uniform(n * k, -3, 3);
  const labels = [2, 0, 4, 1];
  const logp = logSoftmaxRows(logits, k);
  let loss = 0;
  const grad: number[] = [];
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const target = (c === labels[r] ? 1 - eps : 0) + eps / k;
      loss -= (target * (logp[r * k + c] as number)) / n;
      grad.push((Math.exp(logp[r * k + c] as number) - target) / n);
    }
  }
  await checkLoss({ kind: 'softmax-cross-entropy', labelsName: 'y', smoothing: eps }, [n, k], logits,
    { y: new ort.Tensor('int64', BigInt64Array.from(labels, (v) => BigInt(v)), [n]) }, { loss, grad });
});

test('mean squared error: loss and 2(y - t)/numel, weighted', async () => {
  const dims = [3, 4];
  const y = uniform(12);
  const t = uniform(12);
  const w = 0.5;
  const loss = (w * y.reduce((a, v, i) => a + (v - (t[i] as number)) ** 2, 0)) / 12;
  const grad = y.map((v, i) => (w * 2 * (v - (t[i] as number))) / 12);
  await checkLoss({ kind: 'mse', labelsName: 'target', weight: w }, dims, y, { target: f32(dims, t) }, { loss, grad });
});

test('KL divergence to teacher logits with temperature: T^2-scaled loss, T (q - p)/N gradient', async () => {
  const [n, k, temp] = [3, 4, 3];
  const y = uniform(n * k, -2, 2);
  const teacher = uniform(n * k, -4, 4);
  const logq = logSoftmaxRows(y.map((v) => v / temp), k);
  const logp = logSoftmaxRows(teacher.map((v) => v / temp), k);
  let loss = 0;
  const grad: number[] = [];
  logp.forEach((lp, i) => {
    loss += (temp * temp * Math.exp(lp) * (lp - (logq[i] as number))) / n;
    grad.push((temp * (Math.exp(logq[i] as number) - Math.exp(lp))) / n);
  });
  await checkLoss({ kind: 'kl-divergence', labelsName: 'teacher', temperature: temp }, [n, k], y, { teacher: f32([n, k], teacher) }, { loss, grad });
});

/** x -> BatchNormalization(scale, B, running mean, running var) with the statistics' initial values. */
function bnModel(x: number[], dims: number[], mean: number[], variance: number[]): Model {
  const c = dims[1] as number;
  const b = new GraphBuilder('bn');
  b.initializer(floatTensor('x', dims, x));
  b.initializer(floatTensor('scale', [c], uniform(c, 0.5, 1.5)));
  b.initializer(floatTensor('bias', [c], uniform(c)));
  b.initializer(floatTensor('mean', [c], mean));
  b.initializer(floatTensor('var', [c], variance));
  const y = b.op('BatchNormalization', ['x', 'scale', 'bias', 'mean', 'var'], { epsilon: 1e-3, momentum: 0.8 }, 'bn');
  b.output(y, dims);
  return modelOf(b.graph);
}

for (const runningVariance of ['population', 'unbiased'] as const) {
  test(`BatchNormalization training mode: running statistics (${runningVariance} variance) and normalized output vs JS`, async () => {
    const dims = [3, 2, 2, 2];
    const x = uniform(24, -2, 3);
    const mean0 = [0.3, -0.2];
    const var0 = [1.2, 0.7];
    const model = bnModel(x, dims, mean0, var0);
    const tg = buildTrainingGraph(model, { loss: { kind: 'scalar', output: 'bn_out' }, trainable: ['scale'], runningVariance, outputs: ['bn_out'] });
    assert.deepEqual(tg.stateInputs, ['mean', 'var']);
    assert.equal(tg.model.graph.initializers.has('mean'), false, 'running statistics are inputs, not initializers');
    const scale = Array.from(model.graph.initializers.get('scale')?.data ?? [], () => 0);
    const scaleValues = Array.from(new Float32Array((model.graph.initializers.get('scale')?.data as Uint8Array).slice().buffer));
    const biasValues = Array.from(new Float32Array((model.graph.initializers.get('bias')?.data as Uint8Array).slice().buffer));
    assert.ok(scale.length > 0);
    const out = await run(tg, { scale: f32([2], scaleValues), mean: f32([2], mean0), var: f32([2], var0) });
    const y = data(out.bn_out);
    for (let c = 0; c < 2; c++) {
      const xs: number[] = [];
      for (let n = 0; n < 3; n++) for (let i = 0; i < 4; i++) xs.push(x[n * 8 + c * 4 + i] as number);
      const m = xs.reduce((a, v) => a + v, 0) / xs.length;
      const v = xs.reduce((a, u) => a + (u - m) ** 2, 0) / xs.length;
      const vRun = runningVariance === 'unbiased' ? (v * xs.length) / (xs.length - 1) : v;
      assert.ok(Math.abs((data(out[tg.extraOutputs.mean as string])[c] as number) - (0.8 * (mean0[c] as number) + 0.2 * m)) < 1e-6);
      assert.ok(Math.abs((data(out[tg.extraOutputs.var as string])[c] as number) - (0.8 * (var0[c] as number) + 0.2 * vRun)) < 1e-5);
      for (let n = 0; n < 3; n++) {
        for (let i = 0; i < 4; i++) {
          const k = n * 8 + c * 4 + i;
          const expected = (((x[k] as number) - m) / Math.sqrt(v + 1e-3)) * (scaleValues[c] as number) + (biasValues[c] as number);
          assert.ok(Math.abs((y[k] as number) - expected) < 1e-5, `y[${k}]`);
        }
      }
    }
  });
}

/** x -> Conv(w1) -> Relu -> Conv(w2) -> out, with static shapes. */
function twoConvModel(): Model {
  const b = new GraphBuilder('two');
  const x = b.input('x', [2, 3, 6, 6]);
  b.initializer(floatTensor('w1', [4, 3, 3, 3], uniform(108)));
  b.initializer(floatTensor('w2', [5, 4, 3, 3], uniform(180)));
  const h = b.op('Relu', [b.op('Conv', [x, 'w1'], { pads: [1, 1, 1, 1] })]);
  b.output(b.op('Conv', [h, 'w2']), [2, 5, 4, 4]);
  return modelOf(b.graph);
}

test('pruning: only nodes between trainable parameters and the loss are differentiated', () => {
  const loss: LossSpec = { kind: 'mse', labelsName: 'target' };
  const count = (tg: TrainingGraph, op: string): number => tg.model.graph.nodes.filter((n) => n.opType === op).length;
  const last = buildTrainingGraph(twoConvModel(), { loss, trainable: ['w2'] });
  assert.equal(count(last, 'ConvTranspose'), 0, 'no input gradient is needed when only the last weight trains');
  assert.equal(count(last, 'Greater'), 0, "the Relu before it is not differentiated (its backward masks dy by Greater(y, 0))");
  const first = buildTrainingGraph(twoConvModel(), { loss, trainable: ['w1'] });
  assert.equal(count(first, 'ConvTranspose'), 1, "the second conv's input gradient only; the data input needs none");
  assert.equal(count(first, 'Greater'), 1, 'the Relu between the convs is differentiated');
  assert.deepEqual(first.model.graph.inputs.map((v) => v.name).sort(), ['target', 'w1', 'x']);
  assert.ok(first.model.graph.initializers.has('w2') && !first.model.graph.initializers.has('w1'), 'frozen weights stay initializers, trained ones become inputs');
  assert.equal(first.inputName, 'x');
  assert.deepEqual(first.paramShapes, { w1: [4, 3, 3, 3] });
});

test('errors name the op, node, parameter or option at fault', () => {
  const b = new GraphBuilder('bad');
  const x = b.input('x', [2, 3]);
  b.initializer(floatTensor('w', [3], uniform(3)));
  b.initializer(floatTensor('frozen', [3], uniform(3)));
  const h = b.op('Atan', [b.op('Mul', [x, 'w'])], {}, 'mystery');
  const side = b.op('Atan', [b.op('Mul', [x, 'frozen'])], {}, 'harmless');
  b.output(b.op('Add', [h, side]), [2, 3]);
  const model = modelOf(b.graph);
  const loss: LossSpec = { kind: 'mse' };
  assert.throws(() => buildTrainingGraph(model, { loss, trainable: ['w'] }), (e: unknown) => e instanceof RebirthError && /no gradient rule for node 'mystery' \(Atan\)/.test(e.message));
  assert.throws(() => buildTrainingGraph(model, { loss, trainable: ['nope'] }), (e: unknown) => e instanceof RebirthError && /'nope' is not an initializer/.test(e.message));
  assert.throws(() => buildTrainingGraph(model, { loss: { kind: 'mse', output: 'missing' }, trainable: ['w'] }), (e: unknown) => e instanceof RebirthError && /'missing' is not a value/.test(e.message));
  // An op without a rule off the gradient path is fine: 'harmless' depends on no trainable parameter.
  const ok = b.graph;
  ok.nodes = ok.nodes.filter((n) => n.name !== 'mystery');
  const direct = ok.nodes.find((n) => n.opType === 'Add');
  if (direct) direct.inputs[0] = ok.nodes.find((n) => n.opType === 'Mul' && n.inputs[1] === 'w')?.outputs[0] as string;
  assert.doesNotThrow(() => buildTrainingGraph(modelOf(ok), { loss, trainable: ['w'] }));
  const unused = modelOf({ ...ok, initializers: new Map([...ok.initializers, ['spare', floatTensor('spare', [1], [1])]]) });
  assert.throws(() => buildTrainingGraph(unused, { loss, trainable: ['spare'] }), (e: unknown) => e instanceof RebirthError && /'spare' does not affect the loss/.test(e.message));
});

test('AveragePool whose ceil_mode window starts in the end pad is refused with a clear error', () => {
  const b = new GraphBuilder('pool');
  b.initializer(floatTensor('x', [1, 1, 5, 5], uniform(25)));
  const y = b.op('AveragePool', ['x'], { kernel_shape: [2, 2], strides: [3, 3], pads: [1, 1, 1, 1], ceil_mode: 1 }, 'pool');
  b.output(y);
  assert.throws(() => buildTrainingGraph(modelOf(b.graph), { loss: { kind: 'scalar' }, trainable: ['x'] }),
    (e: unknown) => e instanceof RebirthError && /node 'pool' \(AveragePool\).*pads_end/.test(e.message));
});

/** y = Dropout(x * w) with a constant ratio; 'seed' masks. */
function dropoutModel(n: number, ratio: number): Model {
  const b = new GraphBuilder('drop');
  b.initializer(floatTensor('x', [n], uniform(n, 0.5, 1.5)));
  b.initializer(floatTensor('w', [n], new Array<number>(n).fill(1)));
  b.initializer(floatTensor('ratio', [], [ratio]));
  b.output(b.op('Dropout', [b.op('Mul', ['x', 'w']), 'ratio'], {}, 'drop'), [n]);
  return modelOf(b.graph);
}

test('seeded dropout: masks are a pure function of (seed, node, element), at the requested rate', async () => {
  const n = 20000;
  const ratio = 0.25;
  const model = dropoutModel(n, ratio);
  const tg = buildTrainingGraph(model, { loss: { kind: 'scalar' }, trainable: ['w'] });
  const seedName = tg.seedName;
  assert.ok(seedName !== undefined, 'a seed input exists');
  const s = await ort.InferenceSession.create(encodeModel(tg.model), { logSeverityLevel: 3 });
  const ones = f32([n], new Array<number>(n).fill(1));
  const masks: boolean[][] = [];
  const dropIndex = model.graph.nodes.findIndex((node) => node.opType === 'Dropout');
  for (const seed of [1n, 2n, 1n, -7n]) {
    const out: ort.InferenceSession.OnnxValueMapType = await s.run({ w: ones, [seedName]: new ort.Tensor('int64', BigInt64Array.of(seed), []) });
    // dL/dw = x * mask / (1 - ratio) with L = sum(y): zero exactly where the mask dropped.
    const mask: boolean[] = data(out[tg.gradOutputs.w as string]).map((g) => g !== 0);
    assert.deepEqual(mask.slice(0, 500), maskHashReference(seed, dropoutSalt(dropIndex), 500, ratio), `mask for seed ${seed} matches the JS reference`);
    masks.push(mask);
  }
  const [a, b, again] = masks as [boolean[], boolean[], boolean[]];
  assert.deepEqual(again, a, 'same seed, same mask');
  const keep = a.filter(Boolean).length / n;
  assert.ok(Math.abs(keep - (1 - ratio)) < 0.01, `keep rate ${keep}`);
  const agree = a.filter((v, i) => v === b[i]).length / n;
  const independent = (1 - ratio) ** 2 + ratio ** 2;
  assert.ok(Math.abs(agree - independent) < 0.015, `masks of seeds 1 and 2 agree on ${agree} (independent: ${independent})`);
  const neighbours = a.slice(1).filter((v, i) => v === a[i]).length / (n - 1);
  assert.ok(Math.abs(neighbours - independent) < 0.015, `neighbouring elements agree on ${neighbours}`);
});

test("ORT-drawn dropout ('ort' masks) runs and scales kept elements by 1/(1 - ratio)", async () => {
  const n = 64;
  const tg = buildTrainingGraph(dropoutModel(n, 0.5), { loss: { kind: 'scalar' }, trainable: ['w'], dropoutMasks: 'ort', seed: 3 });
  assert.equal(tg.seedName, undefined);
  const out = await run(tg, { w: f32([n], new Array<number>(n).fill(1)) });
  const y = data(out[tg.logitsOutput]);
  const g = data(out[tg.gradOutputs.w as string]);
  // With w = 1: y = x * mask * 2 and dL/dw = x * mask * 2, so they agree element by element.
  y.forEach((v, i) => assert.ok(Math.abs(v - (g[i] as number)) < 1e-6));
  assert.ok(y.some((v) => v === 0) && y.some((v) => v !== 0));
});

test('an opset-11 model (2-D Softmax coercion, Split/Squeeze/ReduceSum axes attributes, Dropout ratio attribute) is upgraded and differentiated', async () => {
  const b = new GraphBuilder('old');
  b.initializer(floatTensor('x', [2, 3, 2, 2], uniform(24)));
  b.initializer(floatTensor('w', [1, 3, 1, 1], uniform(3, 0.5, 1.5)));
  const h = b.op('Mul', ['x', 'w']);
  const sm = b.op('Softmax', [h], { axis: 1 });
  const [p, q] = b.node('Split', [sm], { axis: 2, split: [1, 1] }, { outputs: 2 }) as [string, string];
  const sq = b.op('Squeeze', [p], { axes: [2] });
  const r = b.op('ReduceSum', [q], { axes: [2], keepdims: 0 });
  const d = b.op('Dropout', [b.op('Add', [sq, r])], { ratio: 0.5 });
  b.output(d, [2, 3, 2]);
  const model = modelOf(b.graph, 11);
  const tg = buildTrainingGraph(model, { loss: { kind: 'scalar' }, trainable: ['w'], mode: 'eval' });
  assert.equal(tg.opset, 18);
  // The upgraded forward computes what the opset-11 model computes.
  const original = await (await ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 3 })).run({});
  const w = Array.from(new Float32Array((model.graph.initializers.get('w')?.data as Uint8Array).slice().buffer));
  const upgraded = await run(tg, { w: f32([1, 3, 1, 1], w) });
  const expected = data(original[d]);
  data(upgraded[tg.logitsOutput]).forEach((v, i) => assert.ok(Math.abs(v - (expected[i] as number)) < 1e-6));
  await checkModel(model, ['w'], [d], { eps: 1e-2, tol: 2e-3, label: 'opset 11', rng: new Random(3), mode: 'eval' });
});

test('a parameter used by several nodes accumulates their gradients', async () => {
  const b = new GraphBuilder('shared');
  b.initializer(floatTensor('x', [2, 3], uniform(6)));
  b.initializer(floatTensor('w', [3], uniform(3)));
  const a = b.op('Mul', ['x', 'w']);
  const c = b.op('Tanh', [b.op('Add', [a, 'w'])]);
  const e = b.op('Mul', [c, b.op('Sigmoid', ['w'])]);
  b.output(e, [2, 3]);
  await checkModel(modelOf(b.graph), ['w'], [e], { eps: 1e-2, tol: 2e-3, label: 'shared', rng: new Random(5) });
});

test('labels default to an int64 [N] input named "labels" and the loss output to the first model output', () => {
  const tg = buildTrainingGraph(twoConvModel(), { loss: { kind: 'mse' }, trainable: ['w2'] });
  const labels = tg.model.graph.inputs.find((v) => v.name === 'labels');
  assert.deepEqual(labels?.shape, [2, 5, 4, 4]);
  const b = new GraphBuilder('cls');
  b.input('x', ['N', 4]);
  b.initializer(floatTensor('w', [4, 3], uniform(12)));
  b.initializer(int64Tensor('unused', [1], [0]));
  b.output(b.op('MatMul', ['x', 'w']), ['N', 3]);
  const ce = buildTrainingGraph(modelOf(b.graph), { loss: { kind: 'cross-entropy' }, trainable: ['w'] });
  const y = ce.model.graph.inputs.find((v) => v.name === 'labels');
  assert.equal(y?.elemType, DataType.INT64);
  assert.deepEqual(y?.shape, ['N']);
  assert.equal(ce.labelsName, 'labels');
});

for (const kernel of [[2, 2], [5, 5]]) {
  test(`MaxPool ${kernel.join('x')} gradient on ties goes to the first max, as ORT's Indices say`, async () => {
    const dims = [2, 2, 6, 6];
    const n = 144;
    // Values in {0, 1}: windows full of ties (the ReLU-dead regions real networks have).
    const x = Array.from({ length: n }, () => (rng.nextFloat() < 0.3 ? 1 : 0));
    const attrs = { kernel_shape: kernel, strides: [1, 2], pads: [1, 1, 1, 1] };
    const b = new GraphBuilder('ties');
    b.initializer(floatTensor('x', dims, x));
    const [y, indices] = b.node('MaxPool', ['x'], attrs, { outputs: 2 }) as [string, string];
    b.output(y);
    b.output(indices, undefined, DataType.INT64);
    const forward = await (await ort.InferenceSession.create(encodeModel(modelOf(b.graph, 18)), { logSeverityLevel: 3 })).run({});
    const idx = Array.from(forward[indices]?.data as BigInt64Array, Number);
    const weights = uniform(idx.length);
    const expected = new Array<number>(n).fill(0);
    idx.forEach((i, o) => { expected[i] = (expected[i] as number) + (weights[o] as number); });
    const g = new GraphBuilder('ties');
    g.initializer(floatTensor('x', dims, x));
    g.initializer(floatTensor('r', forward[y]?.dims as number[], weights));
    g.output(g.op('ReduceSum', [g.op('Mul', [g.op('MaxPool', ['x'], attrs), 'r'])], { keepdims: 0 }), []);
    const tg = buildTrainingGraph(modelOf(g.graph), { loss: { kind: 'scalar' }, trainable: ['x'] });
    const out = await run(tg, { x: f32(dims, x) });
    data(out[tg.gradOutputs.x as string]).forEach((v, i) => assert.ok(Math.abs(v - (expected[i] as number)) < 1e-6, `dx[${i}] ${v} vs ${expected[i]}`));
  });
}

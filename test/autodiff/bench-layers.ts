// Cost of the gradient formulations on a GoogLeNet-mini-sized layer (batch 64, 64 channels, 28x28), in
// onnxruntime-node on this machine's CPU. Not a test (tests never check wall-clock time): run by hand with
//   npx tsx test/autodiff/bench-layers.ts
// and copy the table into docs/autodiff.md. Each row times one graph's session.run (median of 7 after a
// warm-up); "backward" rows are the training graph minus the forward-only graph of the same layer.
import * as ort from 'onnxruntime-node';
import type { Model } from '../../src/ir/graph.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import type { AttrInput } from '../../src/ir/attributes.js';
import { DataType, floatTensor } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { Random } from '../../src/util/random.js';
import { buildTrainingGraph } from '../../src/autodiff/training-graph.js';

const N = 64;
const C = 64;
const H = 28;
const rng = new Random(1);
const randoms = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.nextFloat() * 2 - 1);
const threads = Number(process.env.THREADS ?? 2);

async function time(model: Model, feeds: Record<string, ort.Tensor>): Promise<number> {
  const s = await ort.InferenceSession.create(encodeModel(model), { intraOpNumThreads: threads, logSeverityLevel: 3 });
  await s.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    await s.run(feeds);
    times.push(performance.now() - t0);
  }
  await s.release();
  return times.sort((a, b) => a - b)[3] as number;
}

const xFeed = (): ort.Tensor => new ort.Tensor('float32', randoms(N * C * H * H), [N, C, H, H]);

/** One layer applied to x [N,C,H,H]; weights (if any) are trainable initializers. */
function layer(op: string, attrs: Record<string, AttrInput | undefined>, weights: Array<{ name: string; dims: number[] }>): Model {
  const b = new GraphBuilder(op);
  const x = b.input('x', [N, C, H, H]);
  for (const w of weights) b.initializer(floatTensor(w.name, w.dims, randoms(w.dims.reduce((p, q) => p * q, 1))));
  const y = b.op(op, [x, ...weights.map((w) => w.name)], attrs, 'layer');
  b.output(b.op('ReduceSum', [b.op('Mul', [y, y])], { keepdims: 0 }), []);
  return modelOf(b.graph, 18);
}

async function forwardBackward(label: string, op: string, attrs: Record<string, AttrInput | undefined>, weights: Array<{ name: string; dims: number[]; frozen?: boolean }>, trainX: boolean): Promise<string> {
  const model = layer(op, attrs, weights);
  const x = xFeed();
  // Make x trainable by turning it into an initializer when its gradient is what we measure.
  const fwdModel = model;
  let trainable = weights.filter((w) => !w.frozen).map((w) => w.name);
  let trainModel = model;
  if (trainX) {
    const g = { ...model.graph, inputs: [], initializers: new Map(model.graph.initializers) };
    g.initializers.set('x', floatTensor('x', [N, C, H, H], x.data as Float32Array));
    trainModel = { ...model, graph: g };
    trainable = ['x', ...trainable];
  }
  const forward = await time(fwdModel, { x });
  const tg = buildTrainingGraph(trainModel, { loss: { kind: 'scalar' }, trainable });
  const feeds: Record<string, ort.Tensor> = trainX ? {} : { x };
  for (const p of tg.paramInputs) {
    const t = trainModel.graph.initializers.get(p);
    feeds[p] = new ort.Tensor('float32', new Float32Array((t?.data as Uint8Array).slice().buffer), t?.dims ?? []);
  }
  for (const p of tg.stateInputs) {
    const t = trainModel.graph.initializers.get(p);
    feeds[p] = new ort.Tensor('float32', new Float32Array((t?.data as Uint8Array).slice().buffer), t?.dims ?? []);
  }
  const step = await time(tg.model, feeds);
  return `| ${label} | ${forward.toFixed(1)} | ${step.toFixed(1)} | ${(step - forward).toFixed(1)} |`;
}

/** A standalone graph: inputs shaped `dims`, body built by `build`. */
async function standalone(label: string, inputs: Record<string, { dims: number[]; type?: number }>, build: (b: GraphBuilder) => string): Promise<string> {
  const b = new GraphBuilder(label);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, spec] of Object.entries(inputs)) {
    b.input(name, spec.dims, spec.type ?? DataType.FLOAT);
    const n = spec.dims.reduce((p, q) => p * q, 1);
    feeds[name] = spec.type === DataType.INT64
      ? new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(rng.nextInt(N * C * H * H))), spec.dims)
      : new ort.Tensor('float32', randoms(n), spec.dims);
  }
  b.output(build(b));
  return `| ${label} | ${(await time(modelOf(b.graph, 18), feeds)).toFixed(1)} |`;
}

const rows: string[] = [];
rows.push(`Layer input [${N},${C},${H},${H}] float32, ${threads} intra-op threads, onnxruntime-node ${ort.env.versions.common}.`, '');
rows.push('| layer | forward ms | training graph ms | backward ms |', '|---|---|---|---|');
rows.push(await forwardBackward('Conv 3x3 64->64 pad 1 (dX + dW + dB)', 'Conv', { pads: [1, 1, 1, 1] }, [{ name: 'w', dims: [64, 64, 3, 3] }, { name: 'b', dims: [64] }], true));
rows.push(await forwardBackward('Conv 3x3 64->64 pad 1 (dW + dB only)', 'Conv', { pads: [1, 1, 1, 1] }, [{ name: 'w', dims: [64, 64, 3, 3] }, { name: 'b', dims: [64] }], false));
rows.push(await forwardBackward('Conv 3x3 stride 2 64->64 (dX + dW)', 'Conv', { pads: [1, 1, 1, 1], strides: [2, 2] }, [{ name: 'w', dims: [64, 64, 3, 3] }], true));
rows.push(await forwardBackward('Conv 1x1 64->64 (dX + dW)', 'Conv', {}, [{ name: 'w', dims: [64, 64, 1, 1] }], true));
rows.push(await forwardBackward('depthwise Conv 3x3 (dX + dW)', 'Conv', { pads: [1, 1, 1, 1], group: 64 }, [{ name: 'w', dims: [64, 1, 3, 3] }], true));
rows.push(await forwardBackward('MaxPool 3x3 s2 ceil (Indices + ScatterElements add)', 'MaxPool', { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, [], true));
rows.push(await forwardBackward('MaxPool 3x3 s1 pad 1 (Indices + ScatterElements add)', 'MaxPool', { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, [], true));
rows.push(await forwardBackward('MaxPool 5x5 s2 pad 2 (Indices + ScatterElements add)', 'MaxPool', { kernel_shape: [5, 5], strides: [2, 2], pads: [2, 2, 2, 2] }, [], true));
rows.push(await forwardBackward('AveragePool 3x3 s1 pad 1 (ConvTranspose)', 'AveragePool', { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, [], true));
rows.push(await forwardBackward('LRN size 5', 'LRN', { size: 5, alpha: 0.0001, beta: 0.75, bias: { float: 1 } }, [], true));
rows.push(await forwardBackward('BatchNormalization (training graph: decomposed, batch statistics)', 'BatchNormalization', {}, [
  { name: 'scale', dims: [64] }, { name: 'bias', dims: [64] }, { name: 'mean', dims: [64], frozen: true }, { name: 'var', dims: [64], frozen: true }], true));
rows.push('');
rows.push('| alternative formulation | ms |', '|---|---|');
const dyPool = [N, C, H, H];
rows.push(await standalone('AvgPool grad: ConvTranspose on [N*C,1,H,W] (used)', { dy: { dims: dyPool } }, (b) => {
  b.initializer(floatTensor('k', [1, 1, 3, 3], new Array<number>(9).fill(1 / 9)));
  const flat = b.op('Reshape', ['dy', b.initializer({ ...floatTensor('s', [4], [0, 0, 0, 0]), dataType: DataType.INT64, data: new Uint8Array(BigInt64Array.from([-1n, 1n, 28n, 28n]).buffer) })]);
  return b.op('ConvTranspose', [flat, 'k'], { pads: [1, 1, 1, 1] });
}));
rows.push(await standalone('AvgPool grad: grouped ConvTranspose group=64', { dy: { dims: dyPool } }, (b) => {
  b.initializer(floatTensor('k', [64, 1, 3, 3], new Array<number>(64 * 9).fill(1 / 9)));
  return b.op('ConvTranspose', ['dy', 'k'], { pads: [1, 1, 1, 1], group: 64 });
}));
const maxPoolIndices = new GraphBuilder('mp');
maxPoolIndices.input('x', [N, C, H, H]);
const [mpY, mpI] = maxPoolIndices.node('MaxPool', ['x'], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, { outputs: 2 });
maxPoolIndices.output(mpY as string);
maxPoolIndices.output(mpI as string, undefined, DataType.INT64);
rows.push(`| MaxPool 3x3 s2 forward with the Indices output (scatter formulation's forward) | ${(await time(modelOf(maxPoolIndices.graph, 18), { x: xFeed() })).toFixed(1)} |`);
rows.push(await standalone('MaxPool grad: ScatterElements add, 64x64x14x14 updates into 64x64x28x28', {
  idx: { dims: [N * C * 14 * 14], type: DataType.INT64 }, dy: { dims: [N * C * 14 * 14] },
}, (b) => {
  const zeros = b.op('ConstantOfShape', [b.initializer({ ...floatTensor('n', [1], [0]), dataType: DataType.INT64, data: new Uint8Array(BigInt64Array.from([BigInt(N * C * H * H)]).buffer) })]);
  return b.op('ScatterElements', [zeros, 'idx', 'dy'], { axis: 0, reduction: 'add' });
}));
const bnFused = new GraphBuilder('bn');
bnFused.input('x', [N, C, H, H]);
for (const n of ['s', 'bb', 'm', 'v']) bnFused.initializer(floatTensor(n, [C], randoms(C).map((v) => Math.abs(v) + 0.5)));
const [bnY, bnM, bnV] = bnFused.node('BatchNormalization', ['x', 's', 'bb', 'm', 'v'], { training_mode: 1 }, { outputs: 3 });
bnFused.output(bnY as string);
bnFused.output(bnM as string);
bnFused.output(bnV as string);
rows.push(`| BN training forward, ORT's fused kernel (training_mode=1) | ${(await time(modelOf(bnFused.graph, 18), { x: xFeed() })).toFixed(1)} |`);
for (const size of [[N, 1024], [N, C, H, H]]) {
  const b = new GraphBuilder('drop');
  const x = b.input('x', size);
  b.initializer(floatTensor('w', [1], [1]));
  b.initializer(floatTensor('ratio', [], [0.4]));
  b.output(b.op('ReduceSum', [b.op('Dropout', [b.op('Mul', [x, 'w']), 'ratio'])], { keepdims: 0 }), []);
  const model = modelOf(b.graph, 18);
  const tg = buildTrainingGraph(model, { loss: { kind: 'scalar' }, trainable: ['w'] });
  const feeds = { x: new ort.Tensor('float32', randoms(size.reduce((p, q) => p * q, 1)), size), w: new ort.Tensor('float32', Float32Array.of(1), [1]), [tg.seedName as string]: new ort.Tensor('int64', BigInt64Array.of(5n), []) };
  const ortTg = buildTrainingGraph(model, { loss: { kind: 'scalar' }, trainable: ['w'], dropoutMasks: 'ort' });
  const ortFeeds = { x: feeds.x, w: feeds.w };
  rows.push(`| Dropout [${size.join(',')}] step: seeded hash mask / ORT Dropout | ${(await time(tg.model, feeds)).toFixed(1)} / ${(await time(ortTg.model, ortFeeds)).toFixed(1)} |`);
}
console.log(rows.join('\n'));

/**
 * ORT kernels vs elementwise formulations on a googlenet-mini-sized tensor ([64,96,14,14], 2 threads):
 * LRN as one op vs x * (bias + alpha/n * windowsum(x^2))^-beta, and MaxPool with and without its Indices
 * output. All variants in one run; compare the printed times with each other.
 * usage: npx tsx bench/lrn-forms.ts
 */
import { GraphBuilder, modelOf } from '../src/ir/builder.js';
import { floatTensor, int64Tensor } from '../src/ir/tensor.js';
import { encodeModel } from '../src/onnx/encode.js';
import { Session } from '../src/runtime/session.js';
const N = 64, C = 96, H = 14;
async function time(name: string, build: (b: GraphBuilder, x: string) => string[]) {
  const b = new GraphBuilder('g');
  const x = b.input('x', [N, C, H, H]);
  const outs = build(b, x);
  outs.forEach((o, i) => b.output(o, undefined, i === 1 && name.includes('indices') ? 7 : 1));
  const s = await Session.create(encodeModel(modelOf(b.graph, 17)), { threads: 2 });
  const feeds = { x: { type: 'float32' as const, dims: [N, C, H, H], data: new Float32Array(N * C * H * H).map(() => Math.random()) } };
  for (let i = 0; i < 3; i++) await s.run(feeds);
  const t0 = performance.now();
  for (let i = 0; i < 10; i++) await s.run(feeds);
  console.log(name, ((performance.now() - t0) / 10).toFixed(2), 'ms');
  await s.release();
}
await time('LRN', (b, x) => [b.op('LRN', [x], { size: 5, alpha: { float: 1e-4 }, beta: { float: 0.75 }, bias: { float: 1 } })]);
await time('LRN decomposed', (b, x) => {
  const sq = b.op('Mul', [x, x]);
  const shp = b.initializer(int64Tensor('shp', [4], [N, 1, C, H * H]));
  const r = b.op('Reshape', [sq, shp]);
  const s = b.op('AveragePool', [r], { kernel_shape: [5, 1], pads: [2, 0, 2, 0], count_include_pad: 1 });
  const shp2 = b.initializer(int64Tensor('shp2', [4], [N, C, H, H]));
  const s2 = b.op('Reshape', [s, shp2]);
  const a = b.initializer(floatTensor('a', [], [1e-4]));
  const one = b.initializer(floatTensor('one', [], [1]));
  const e = b.initializer(floatTensor('e', [], [-0.75]));
  const t = b.op('Add', [b.op('Mul', [s2, a]), one]);
  return [b.op('Mul', [x, b.op('Pow', [t, e])])];
});
await time('LRN slices', (b, x) => {
  const sq = b.op('Mul', [x, x]);
  const pads = b.initializer(int64Tensor('pads', [8], [0, 2, 0, 0, 0, 2, 0, 0]));
  const p = b.op('Pad', [sq, pads]);
  let acc = '';
  for (let k = 0; k < 5; k++) {
    const st = b.initializer(int64Tensor(`st${k}`, [1], [k]));
    const en = b.initializer(int64Tensor(`en${k}`, [1], [k + C]));
    const ax = b.initializer(int64Tensor(`ax${k}`, [1], [1]));
    const sl = b.op('Slice', [p, st, en, ax]);
    acc = acc ? b.op('Add', [acc, sl]) : sl;
  }
  const a = b.initializer(floatTensor('a', [], [1e-4 / 5]));
  const one = b.initializer(floatTensor('one', [], [1]));
  const e = b.initializer(floatTensor('e', [], [-0.75]));
  const t = b.op('Add', [b.op('Mul', [acc, a]), one]);
  return [b.op('Mul', [x, b.op('Pow', [t, e])])];
});
await time('LRN conv', (b, x) => {
  const sq = b.op('Mul', [x, x]);
  const shp = b.initializer(int64Tensor('shp', [4], [N, 1, C, H * H]));
  const r = b.op('Reshape', [sq, shp]);
  const w = b.initializer(floatTensor('w', [1, 1, 5, 1], [1e-4 / 5, 1e-4 / 5, 1e-4 / 5, 1e-4 / 5, 1e-4 / 5]));
  const one = b.initializer(floatTensor('one', [1], [1]));
  const s = b.op('Conv', [r, w, one], { pads: [2, 0, 2, 0] });
  const shp2 = b.initializer(int64Tensor('shp2', [4], [N, C, H, H]));
  const s2 = b.op('Reshape', [s, shp2]);
  const e = b.initializer(floatTensor('e', [], [-0.75]));
  return [b.op('Mul', [x, b.op('Pow', [s2, e])])];
});
await time('Pow only', (b, x) => { const e = b.initializer(floatTensor('e', [], [-0.75])); return [b.op('Pow', [x, e])]; });
await time('Exp(Log*) only', (b, x) => { const e = b.initializer(floatTensor('e', [], [-0.75])); return [b.op('Exp', [b.op('Mul', [b.op('Log', [x]), e])])]; });
await time('Sqrt-based x^-0.75', (b, x) => { const s = b.op('Sqrt', [x]); const q = b.op('Sqrt', [s]); return [b.op('Reciprocal', [b.op('Mul', [s, q])])]; });
await time('MaxPool 3x3 s2 ceil', (b, x) => [b.op('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 })]);
await time('MaxPool 3x3 s2 ceil +indices', (b, x) => b.node('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, { outputs: 2 }));
await time('MaxPool 3x3 s1 p1', (b, x) => [b.op('MaxPool', [x], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] })]);
await time('MaxPool 3x3 s1 p1 +indices', (b, x) => b.node('MaxPool', [x], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, { outputs: 2 }));

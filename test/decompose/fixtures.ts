// Hand-built one-layer models for the Tucker tests, and a way to run any model on onnxruntime-node.
import type { Model } from '../../src/ir/graph.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { floatTensor } from '../../src/ir/tensor.js';
import type { AttrInput } from '../../src/ir/attributes.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { Session } from '../../src/runtime/session.js';
import { Random } from '../../src/util/random.js';

export function uniform(n: number, seed: number, scale = 1): Float32Array {
  const rng = new Random(seed);
  return Float32Array.from({ length: n }, () => (rng.nextFloat() * 2 - 1) * scale);
}

/**
 * A Cout x Cin x k x k kernel with exact multilinear ranks (rin, rout): G x_0 A x_1 B for random
 * A (cout x rout), B (cin x rin), G (rout x rin x k x k).
 */
export function plantedKernel(cout: number, cin: number, k: number, rin: number, rout: number, seed: number): Float32Array {
  const a = uniform(cout * rout, seed);
  const b = uniform(cin * rin, seed + 1);
  const g = uniform(rout * rin * k * k, seed + 2);
  const ks = k * k;
  const w = new Float32Array(cout * cin * ks);
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < cin; i++) {
      for (let s = 0; s < ks; s++) {
        let sum = 0;
        for (let q = 0; q < rout; q++) for (let r = 0; r < rin; r++) sum += (a[o * rout + q] as number) * (b[i * rin + r] as number) * (g[(q * rin + r) * ks + s] as number);
        w[(o * cin + i) * ks + s] = sum;
      }
    }
  }
  return w;
}

export interface ConvSpec {
  cin: number;
  cout: number;
  kernel: number[];
  size: number[];
  weight?: Float32Array;
  bias?: boolean;
  attrs?: Record<string, AttrInput>;
  name?: string;
  seed?: number;
}

/** x -> Conv(name) -> y, weight 'name_w', bias 'name_b'. */
export function convModel(spec: ConvSpec): Model {
  const b = new GraphBuilder('conv');
  const name = spec.name ?? 'conv';
  const x = b.input('x', [1, spec.cin, ...spec.size]);
  const ks = spec.kernel.reduce((p, q) => p * q, 1);
  const w = b.initializer(floatTensor(`${name}_w`, [spec.cout, spec.cin, ...spec.kernel], spec.weight ?? uniform(spec.cout * spec.cin * ks, spec.seed ?? 3, 1 / Math.sqrt(spec.cin * ks))));
  const inputs = [x, w];
  if (spec.bias ?? true) inputs.push(b.initializer(floatTensor(`${name}_b`, [spec.cout], uniform(spec.cout, 99, 0.5))));
  const y = b.node('Conv', inputs, { kernel_shape: spec.kernel, ...(spec.attrs ?? {}) }, { name, outputs: ['y'] })[0] as string;
  b.output(y);
  return modelOf(b.graph);
}

/** x [batch, in] -> Gemm or MatMul -> y. */
export function denseModel(op: 'Gemm' | 'MatMul', inF: number, outF: number, opts: { transB?: boolean; alpha?: number; beta?: number; bias?: boolean; batch?: number; weight?: Float32Array } = {}): Model {
  const b = new GraphBuilder('dense');
  const x = b.input('x', [opts.batch ?? 2, inF]);
  const transB = opts.transB ?? false;
  const dims = op === 'Gemm' && transB ? [outF, inF] : [inF, outF];
  const w = b.initializer(floatTensor('fc_w', dims, opts.weight ?? uniform(inF * outF, 5, 1 / Math.sqrt(inF))));
  const inputs = [x, w];
  if (op === 'Gemm' && (opts.bias ?? true)) inputs.push(b.initializer(floatTensor('fc_b', [outF], uniform(outF, 6, 0.5))));
  const attrs: Record<string, AttrInput> = {};
  if (op === 'Gemm') {
    if (transB) attrs.transB = 1;
    if (opts.alpha !== undefined) attrs.alpha = { float: opts.alpha };
    if (opts.beta !== undefined) attrs.beta = { float: opts.beta };
  }
  const y = b.node(op, inputs, attrs, { name: 'fc', outputs: ['y'] })[0] as string;
  b.output(y);
  return modelOf(b.graph);
}

/** Run a single-input model on onnxruntime-node; returns its first output. */
export async function runModel(model: Model, input: Float32Array, dims: number[]): Promise<Float32Array> {
  const s = await Session.create(encodeModel(model), { backend: 'node', optLevel: 'all' });
  try {
    const out = await s.run({ [s.inputNames[0] as string]: { type: 'float32', dims, data: input } });
    return out[s.outputNames[0] as string]?.data as Float32Array;
  } finally {
    await s.release();
  }
}

export function relativeDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, n = 0;
  for (let i = 0; i < a.length; i++) {
    d += ((a[i] as number) - (b[i] as number)) ** 2;
    n += (b[i] as number) ** 2;
  }
  return Math.sqrt(d / n);
}

// Tiny hand-built graphs for the merge tests, and a way to run them on onnxruntime-node.
import * as ort from 'onnxruntime-node';
import type { Dim, Model } from '../../src/ir/graph.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { floatTensor } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { Random } from '../../src/util/random.js';

export class TinyNet {
  readonly b = new GraphBuilder('tiny');
  private readonly rng: Random;
  constructor(seed = 1) {
    this.rng = new Random(seed);
  }

  input(shape: Dim[], name = 'x'): string {
    return this.b.input(name, shape);
  }

  private values(n: number, scale: number): Float32Array {
    return Float32Array.from({ length: n }, () => (this.rng.nextFloat() * 2 - 1) * scale);
  }

  conv(name: string, x: string, cin: number, cout: number, k: number, opts: { stride?: number; pad?: number; pads?: number[]; group?: number; bias?: boolean } = {}): string {
    const group = opts.group ?? 1;
    const w = this.b.initializer(floatTensor(`${name}_w`, [cout, cin / group, k, k], this.values(cout * (cin / group) * k * k, 1 / Math.sqrt((cin / group) * k * k))));
    const inputs = [x, w];
    if (opts.bias ?? true) inputs.push(this.b.initializer(floatTensor(`${name}_b`, [cout], this.values(cout, 0.2))));
    const pad = opts.pad ?? 0;
    return this.b.op('Conv', inputs, {
      kernel_shape: [k, k], strides: [opts.stride ?? 1, opts.stride ?? 1], pads: opts.pads ?? [pad, pad, pad, pad],
      ...(group !== 1 ? { group } : {}),
    }, name);
  }

  relu(name: string, x: string): string {
    return this.b.op('Relu', [x], {}, name);
  }

  lrn(name: string, x: string): string {
    return this.b.op('LRN', [x], { size: 5, alpha: { float: 1e-4 }, beta: { float: 0.75 }, bias: { float: 1 } }, name);
  }

  pool(op: 'MaxPool' | 'AveragePool', name: string, x: string, k: number, s: number, opts: { pad?: number; pads?: number[]; ceil?: boolean } = {}): string {
    const pad = opts.pad ?? 0;
    return this.b.op(op, [x], { kernel_shape: [k, k], strides: [s, s], pads: opts.pads ?? [pad, pad, pad, pad], ...(opts.ceil ? { ceil_mode: 1 } : {}) }, name);
  }

  batchNorm(name: string, x: string, c: number): string {
    const p = (suffix: string, v: number): string => this.b.initializer(floatTensor(`${name}_${suffix}`, [c], new Float32Array(c).fill(v)));
    return this.b.op('BatchNormalization', [x, p('scale', 1), p('bias', 0), p('mean', 0), p('var', 1)], {}, name);
  }

  concat(name: string, xs: string[]): string {
    return this.b.op('Concat', xs, { axis: 1 }, name);
  }

  model(outputs: string[]): Model {
    for (const o of outputs) this.b.output(o);
    return modelOf(this.b.graph);
  }
}

export interface RunResult {
  dims: number[];
  data: Float32Array;
}

/** Runs a model on onnxruntime-node (1 thread, default optimizations) and returns every output. */
export async function runOrt(model: Model, feeds: Record<string, { dims: number[]; data: Float32Array }>): Promise<Record<string, RunResult>> {
  const session = await ort.InferenceSession.create(encodeModel(model), { intraOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = new ort.Tensor('float32', v.data, v.dims);
    const out = await session.run(ortFeeds);
    const result: Record<string, RunResult> = {};
    for (const [k, v] of Object.entries(out)) result[k] = { dims: [...v.dims], data: v.data as Float32Array };
    return result;
  } finally {
    await session.release();
  }
}

export function randomInput(dims: number[], seed = 7): { dims: number[]; data: Float32Array } {
  const rng = new Random(seed);
  return { dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rng.nextFloat() * 2 - 1) };
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Channels [from, to) of an NCHW batch-1 tensor. */
export function channels(t: RunResult, from: number, to: number): Float32Array {
  const plane = (t.dims[2] ?? 1) * (t.dims[3] ?? 1);
  return t.data.slice(from * plane, to * plane);
}

/** GoogLeNet conv1 in miniature: conv 7x7/2 p3 -> ReLU -> max pool 3x3/2 ceil -> LRN. */
export function conv1Like(size: number, batch: Dim = 1): Model {
  const t = new TinyNet(3);
  const x = t.input([batch, 3, size, size]);
  const c = t.relu('conv1/relu_7x7', t.conv('conv1/7x7_s2', x, 3, 8, 7, { stride: 2, pad: 3 }));
  const p = t.pool('MaxPool', 'pool1/3x3_s2', c, 3, 2, { ceil: true });
  return t.model([t.lrn('pool1/norm1', p)]);
}


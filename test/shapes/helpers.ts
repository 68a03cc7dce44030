// Shared by the shape-engine tests: ONNX Runtime runs, torch-like export subgraphs built with the IR builder.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Dim, Graph, Model } from '../../src/ir/graph.js';
import { GraphBuilder, emptyGraph } from '../../src/ir/builder.js';
import { DataType, floatTensor, int64Tensor, numel } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { RebirthError } from '../../src/errors.js';

export const TORCH_FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'torch');

/** Deterministic values in [-1, 1). */
export function pseudoRandom(n: number, seed = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

export function weight(b: GraphBuilder, name: string, dims: number[], seed = 7): string {
  return b.initializer(floatTensor(name, dims, pseudoRandom(numel(dims), seed)));
}

export function ints(b: GraphBuilder, name: string, values: number[], scalar = false): string {
  return b.initializer(int64Tensor(name, scalar ? [] : [values.length], values));
}

/** Run on onnxruntime-node; 'disabled' keeps ORT's own folding out of the comparison. */
export async function runOrt(model: Model, feeds: Record<string, { dims: number[]; data: Float32Array }>, optLevel: 'disabled' | 'all' = 'disabled'): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: optLevel });
  try {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) tensors[k] = new ort.Tensor('float32', v.data, v.dims);
    const out = await session.run(tensors);
    const result: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(out)) result[k] = v.data as Float32Array;
    return result;
  } finally {
    await session.release();
  }
}

/** Both models give bit-identical outputs on the same feeds. */
export async function assertSameOnOrt(a: Model, b: Model, feeds: Record<string, { dims: number[]; data: Float32Array }>): Promise<void> {
  const [x, y] = [await runOrt(a, feeds), await runOrt(b, feeds)];
  assert.deepEqual(Object.keys(y).sort(), Object.keys(x).sort());
  for (const k of Object.keys(x)) {
    const p = x[k] as Float32Array;
    const q = y[k] as Float32Array;
    assert.equal(q.length, p.length, `${k}: length`);
    for (let i = 0; i < p.length; i++) if (!Object.is(p[i], q[i])) assert.fail(`${k}[${i}]: ${q[i]} after folding, ${p[i]} before`);
  }
}

export function feed(dims: number[], seed = 3): { dims: number[]; data: Float32Array } {
  return { dims, data: pseudoRandom(numel(dims), seed) };
}

export function opTypes(m: Model): string[] {
  return m.graph.nodes.map((n) => n.opType);
}

/** A one-line RebirthError whose message matches. */
export function throwsOneLine(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RebirthError, `expected a RebirthError, got ${String(e)}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one-line message');
    return true;
  });
}

/** Shape(x)[k] as a 1-element int64 tensor, the way torch exports `x.size(k)` feeding a view. */
function sizeOf(b: GraphBuilder, x: string, k: number): string {
  const s = b.op('Shape', [x]);
  const d = b.op('Gather', [s, ints(b, `dim${k}`, [k], true)], { axis: 0 });
  return b.op('Unsqueeze', [d, ints(b, 'axis0', [0])]);
}

/** A branch graph of an If: one node reading `input` from the enclosing scope. */
function branch(name: string, opType: string, inputs: string[], output: string): Graph {
  const g = emptyGraph(name);
  g.nodes.push({ name: `${name}/${opType}`, opType, domain: '', inputs, outputs: [output], attributes: [], docString: '' });
  g.outputs.push({ name: output, elemType: DataType.FLOAT, docString: '' });
  return g;
}

/**
 * nn.LocalResponseNorm(size) on a 4-D x as torch 1.13 exports it (opset 13): the square is viewed as
 * [N, 1, C, H, W] with sizes taken from Shape, padded on C by pads computed at run time (ConstantOfShape,
 * Concat, Reshape, a reversing Slice, Transpose, Reshape, Cast), averaged by a [size, 1, 1] AveragePool,
 * squeezed back under an If on `Equal(Shape(..)[1], 1)`, viewed as x's shape, and divided into x.
 */
export function torchLrn(b: GraphBuilder, x: string, size: number, prefix = 'lrn'): string {
  const sq = b.op('Mul', [x, x]);
  const u = b.op('Unsqueeze', [sq, ints(b, 'axis1', [1])]);
  const [n, c, h] = [0, 1, 2].map((k) => sizeOf(b, x, k)) as [string, string, string];
  const view = b.op('Reshape', [u, b.op('Concat', [n, ints(b, 'one', [1]), c, h, ints(b, 'minus1', [-1])], { axis: 0 })]);
  const before = Math.floor(size / 2);
  const after = Math.floor((size - 1) / 2);
  const padList = ints(b, 'pad_list', [0, 0, 0, 0, before, after]);
  const extension = b.op('ConstantOfShape', [ints(b, 'four', [4])], { value: int64Tensor('value', [1], [0]) });
  const pairs = b.op('Reshape', [b.op('Concat', [padList, extension], { axis: 0 }), ints(b, 'pairs', [-1, 2])]);
  const flipped = b.op('Slice', [pairs, ints(b, 'start', [-1]), ints(b, 'end', [-(2 ** 63)]), ints(b, 'axis0s', [0]), ints(b, 'step', [-1])]);
  const pads = b.op('Cast', [b.op('Reshape', [b.op('Transpose', [flipped], { perm: [1, 0] }), ints(b, 'flat', [-1])])], { to: DataType.INT64 });
  const padded = b.op('Pad', [view, pads], { mode: 'constant' });
  const avg = b.op('AveragePool', [padded], { kernel_shape: [size, 1, 1], strides: [1, 1, 1] }, `${prefix}/AveragePool`);
  const dim1 = b.op('Gather', [b.op('Shape', [avg]), ints(b, 'idx1', [1])], { axis: 0 });
  const cond = b.op('Equal', [dim1, ints(b, 'one_b', [1])]);
  const squeezeAxes = ints(b, 'squeeze_axes', [1]);
  const then = branch(`${prefix}_then`, 'Squeeze', [avg, squeezeAxes], `${prefix}_squeezed`);
  const orElse = branch(`${prefix}_else`, 'Identity', [avg], `${prefix}_same`);
  const picked = b.op('If', [cond], { then_branch: then, else_branch: orElse }, `${prefix}/If`);
  const [n2, c2, h2, w2] = [0, 1, 2, 3].map((k) => sizeOf(b, x, k)) as [string, string, string, string];
  const back = b.op('Reshape', [picked, b.op('Concat', [n2, c2, h2, w2], { axis: 0 })]);
  const scaled = b.op('Mul', [back, b.initializer(floatTensor('alpha', [], [1e-4]))]);
  const div = b.op('Pow', [b.op('Add', [scaled, b.initializer(floatTensor('k', [], [1]))]), b.initializer(floatTensor('beta', [], [0.75]))]);
  return b.op('Div', [x, div]);
}

export type { Dim };

// Gradients of the sliding-window ops (Conv, ConvTranspose, MaxPool, AveragePool, GlobalAveragePool, LRN),
// each expressed with standard ONNX ops. The derivations are next to the code; docs/autodiff.md has the
// measured costs.
import { getFloat, getInt, getInts, type AttrInput } from '../ir/attributes.js';
import type { Attribute, Node } from '../ir/graph.js';
import type { Emitter, ForwardContext, GradContext } from './context.js';
import { makeTensor } from './context.js';
import {
  adjointTransposeSettings, avgPoolAxisCounts, ceilModeDisagrees, convTransposeGeometry, groupOf, outerProduct, outputSpatial,
  windowGeometry, type WindowGeometry,
} from './geometry.js';

type Grads = (string | null)[];

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/** Spatial sizes and channel count of an N-C-spatial value, which must be static. */
function ncSpatial(ctx: GradContext, value: string, why: string): { channels: number; spatial: number[] } {
  const s = ctx.shapeOf(value);
  const rest = s?.slice(1);
  if (!s || s.length < 3 || !rest?.every((d) => typeof d === 'number')) {
    ctx.requireStatic(value, why);
  }
  return { channels: (s as number[])[1] as number, spatial: (s as number[]).slice(2) };
}

/**
 * dW of a convolution, one kernel tap at a time:
 *   dW[g*Mg+m, c, t] = sum_n sum_o dY[n, g*Mg+m, o] * Xpad[n, g*Cg+c, o*s + t*d]
 * For each tap t the strided slice Xpad[..., t*d : t*d + (O-1)*s + 1 : s] lines up with dY, so the tap is
 * a batched MatMul over (n, group): dY [N,G,Mg,P] x slice [N,G,P,Cg] -> [N,G,Mg,Cg] (P = output positions),
 * and one ReduceSum over n at the end. X is padded and moved to channels-last once ([N,G,H,W,Cg]) so every
 * slice reshapes to [N,G,P,Cg] without another transpose. This replaced a single Conv over transposed
 * tensors (X^T [C,N,H,W] convolved with dY^T [M,N,Ho,Wo] as the kernel): same result, but ORT runs that
 * Conv's huge kernel as an im2col GEMM with a k*k-column output: 1.4x slower than these MatMuls for 3x3 and
 * 5x5 kernels and 6.5x slower for 1x1 on a 64x64x28x28 layer (docs/autodiff.md). Returns [outC, inC/G, k...].
 */
export function convWeightGrad(
  ctx: GradContext, input: string, inChannels: number, inSpatial: readonly number[],
  gradOut: string, outChannels: number, outSpatial: readonly number[], geo: WindowGeometry, group: number,
): string {
  const r = inSpatial.length;
  const cg = inChannels / group;
  const mg = outChannels / group;
  const padded = [...geo.padsBegin, ...geo.padsEnd].some((p) => p !== 0)
    ? ctx.op('Pad', [input, ctx.ints([0, 0, ...geo.padsBegin, 0, 0, ...geo.padsEnd])])
    : input;
  const paddedSpatial = inSpatial.map((n, i) => n + (geo.padsBegin[i] as number) + (geo.padsEnd[i] as number));
  if (cg === 1 && mg === 1) return depthwiseWeightGrad(ctx, padded, paddedSpatial, gradOut, outChannels, outSpatial, geo);
  // [N, G*Cg, S...] -> [N, G, Cg, S...] -> [N, G, S..., Cg]
  const grouped = ctx.reshape(padded, [0, group, cg, ...paddedSpatial]);
  const channelsLast = ctx.transpose(grouped, [0, 1, ...range(3, 3 + r), 2]);
  const dy = ctx.reshape(gradOut, [0, group, mg, -1]);
  const spatialAxes = range(2, 2 + r);
  const taps: string[] = [];
  const kernelSize = geo.kernel.reduce((a, b) => a * b, 1);
  for (let t = 0; t < kernelSize; t++) {
    const starts = tapIndex(t, geo.kernel).map((k, i) => k * (geo.dilations[i] as number));
    const ends = starts.map((st, i) => st + ((outSpatial[i] as number) - 1) * (geo.strides[i] as number) + 1);
    const whole = starts.every((st, i) => st === 0 && ends[i] === paddedSpatial[i]) && geo.strides.every((s) => s === 1);
    const slice = whole ? channelsLast : ctx.op('Slice', [channelsLast, ctx.ints(starts), ctx.ints(ends), ctx.ints(spatialAxes), ctx.ints(geo.strides)]);
    const product = ctx.op('MatMul', [dy, ctx.reshape(slice, [0, group, -1, cg])]);
    taps.push(kernelSize === 1 ? product : ctx.unsqueeze(product, [4]));
  }
  const stacked = taps.length === 1 ? (taps[0] as string) : ctx.op('Concat', taps, { axis: 4 });
  const summed = ctx.reduce('ReduceSum', stacked, [0], false);
  return ctx.reshape(summed, [outChannels, cg, ...geo.kernel]);
}

/** Row-major multi-index of kernel tap t. */
function tapIndex(t: number, kernel: readonly number[]): number[] {
  const index: number[] = [];
  let rest = t;
  for (let i = kernel.length - 1; i >= 0; i--) {
    index[i] = rest % (kernel[i] as number);
    rest = Math.floor(rest / (kernel[i] as number));
  }
  return index;
}

/**
 * Depthwise dW (one input and one output channel per group): the per-tap MatMul degenerates into
 * thousands of 1xPx1 products, so each tap is an elementwise Mul of dY with the tap's strided slice and a
 * ReduceSum over batch and positions instead (1.6x faster on 64x64x28x28, docs/autodiff.md).
 */
function depthwiseWeightGrad(ctx: GradContext, padded: string, paddedSpatial: readonly number[], gradOut: string, channels: number, outSpatial: readonly number[], geo: WindowGeometry): string {
  const r = paddedSpatial.length;
  const axes = range(2, 2 + r);
  const kernelSize = geo.kernel.reduce((a, b) => a * b, 1);
  const taps: string[] = [];
  for (let t = 0; t < kernelSize; t++) {
    const starts = tapIndex(t, geo.kernel).map((k, i) => k * (geo.dilations[i] as number));
    const ends = starts.map((st, i) => st + ((outSpatial[i] as number) - 1) * (geo.strides[i] as number) + 1);
    const slice = ctx.op('Slice', [padded, ctx.ints(starts), ctx.ints(ends), ctx.ints(axes), ctx.ints(geo.strides)]);
    taps.push(ctx.reduce('ReduceSum', ctx.mul(gradOut, slice), [0, ...axes], false));
  }
  const stacked = taps.length === 1 ? (taps[0] as string) : ctx.op('Concat', taps.map((t) => ctx.unsqueeze(t, [1])), { axis: 1 });
  return ctx.reshape(stacked, [channels, 1, ...geo.kernel]);
}

/** dBias of Conv/ConvTranspose: sum of dY over batch and spatial axes. */
function biasGrad(ctx: GradContext, dy: string, rank: number): string {
  return ctx.reduce('ReduceSum', dy, [0, ...range(2, rank)], false);
}

function pads(geo: { padsBegin: readonly number[]; padsEnd: readonly number[] }): number[] {
  return [...geo.padsBegin, ...geo.padsEnd];
}

/** Operands and static geometry shared by the Conv and ConvTranspose gradients. */
function convOperands(ctx: GradContext): { x: string; w: string; channels: number; spatial: number[]; ws: number[]; kernel: number[]; group: number } {
  const [x, w] = ctx.inputs as [string, string];
  const { channels, spatial } = ncSpatial(ctx, x, 'build its gradient');
  const ws = ctx.requireStatic(w, 'build its gradient');
  return { x, w, channels, spatial, ws, kernel: getInts(ctx.node, 'kernel_shape') ?? ws.slice(2), group: groupOf(ctx.node) };
}

/**
 * Conv: Y = conv(X, W) + B.
 * dX is ConvTranspose(dY, W) with the same strides/dilations/group, pads_begin kept and the end chosen so the
 * result has X's size exactly (adjointTransposeSettings: crop or output_padding when (in+pads-extent) % s != 0).
 */
export function convGrad(ctx: GradContext): Grads {
  const dy = ctx.gradOut(0);
  if (!dy) return [null, null, null];
  const { x, w, channels, spatial, ws, kernel, group } = convOperands(ctx);
  const geo = windowGeometry(ctx.node, spatial, kernel);
  const outSp = outputSpatial(geo, spatial, false);
  const grads: Grads = [null, null, null];
  if (ctx.needs(0)) {
    const adj = spatial.map((n, i) => adjointTransposeSettings(n, outSp[i] as number, kernel[i] as number, geo.strides[i] as number, geo.dilations[i] as number, geo.padsBegin[i] as number));
    const outputPadding = adj.map((a) => a.outputPadding);
    grads[0] = ctx.op('ConvTranspose', [dy, w], {
      strides: geo.strides, dilations: geo.dilations, group: group === 1 ? undefined : group, kernel_shape: kernel,
      pads: [...adj.map((a) => a.padBegin), ...adj.map((a) => a.padEnd)],
      output_padding: outputPadding.some((p) => p !== 0) ? outputPadding : undefined,
    });
  }
  if (ctx.needs(1)) grads[1] = convWeightGrad(ctx, x, channels, spatial, dy, ws[0] as number, outSp, geo, group);
  if (ctx.needs(2) && ctx.inputs[2]) grads[2] = biasGrad(ctx, dy, spatial.length + 2);
  return grads;
}

/**
 * ConvTranspose is the adjoint of Conv with the same strides/pads/dilations/group, so
 * dX = Conv(dY, W) (a Slice trims when output_padding >= stride made dY longer than that Conv reads), and
 * dW[c,m,k] = sum_n sum_i X[n,c,i] * dY[n,m,i*s + k*d - pb] is convWeightGrad with dY as the input and X as
 * the output gradient.
 */
export function convTransposeGrad(ctx: GradContext): Grads {
  const dy = ctx.gradOut(0);
  if (!dy) return [null, null, null];
  const { x, w, channels, spatial, ws, kernel, group } = convOperands(ctx);
  const geo = convTransposeGeometry(ctx.node, spatial, kernel);
  const sp = range(2, 2 + spatial.length);
  const grads: Grads = [null, null, null];
  if (ctx.needs(0)) {
    let dx = ctx.op('Conv', [dy, w], { strides: geo.strides, dilations: geo.dilations, pads: pads(geo), group: group === 1 ? undefined : group, kernel_shape: kernel });
    const got = outputSpatial(geo, geo.outSpatial, false);
    if (got.some((g, i) => g !== spatial[i])) dx = ctx.slice(dx, sp.map(() => 0), spatial, sp);
    grads[0] = dx;
  }
  if (ctx.needs(1)) {
    const outChannels = (ws[1] as number) * group;
    grads[1] = convWeightGrad(ctx, dy, outChannels, geo.outSpatial, x, channels, spatial, geo, group);
  }
  if (ctx.needs(2) && ctx.inputs[2]) grads[2] = biasGrad(ctx, dy, spatial.length + 2);
  return grads;
}

/**
 * MaxPool's training forward adds the Indices output (flat index into X over all of N*C*H*W, padding
 * excluded; storage_order 0) for backward; a node already producing row-major indices is kept as is.
 */
export function maxPoolForward(ctx: ForwardContext): void {
  const node = ctx.node;
  if (!ctx.onGradientPath) { ctx.emitAsIs(); return; }
  const rowMajor = getInt(node, 'storage_order', 0) === 0;
  if (node.outputs[1] && rowMajor) {
    ctx.emitAsIs();
    ctx.save('indices', node.outputs[1]);
    return;
  }
  const attrs = Object.fromEntries(node.attributes.filter((a) => a.name !== 'storage_order').map((a) => [a.name, attrValue(a)]));
  const indices = ctx.fresh(`${node.outputs[0] ?? 'maxpool'}_indices`);
  if (!node.outputs[1]) {
    ctx.emitExact('MaxPool', [...node.inputs], attrs, [node.outputs[0] as string, indices]);
  } else {
    ctx.emitAsIs();
    ctx.emitExact('MaxPool', [...node.inputs], attrs, [ctx.fresh(`${node.outputs[0] ?? 'maxpool'}_again`), indices]);
  }
  ctx.save('indices', indices);
}

export function attrValue(a: Attribute): AttrInput {
  switch (a.kind) {
    case 'int': return Number(a.value);
    case 'ints': return { ints: a.value.map(Number) };
    case 'float': return { float: a.value };
    case 'floats': return { floats: a.value };
    case 'string': return new TextDecoder().decode(a.value);
    default: throw new Error(`attribute '${a.name}' of kind ${a.kind} cannot be copied`);
  }
}

/**
 * MaxPool: each output's gradient goes to the input element it took the max from (ORT keeps the first max
 * in window scan order, and its Indices say which), accumulated where windows overlap:
 * ScatterElements(zeros[N*C*H*W], flat Indices, flat dY, reduction='add') (opset 16), reshaped to X's shape.
 * Measured alternative (docs/autodiff.md): a dense formulation without Indices (per kernel tap, Equal of
 * the tap's strided slice with Y, first-match masking, one ConvTranspose with a one-hot kernel to place the
 * masked dY) was no faster for 3x3 kernels and 4x slower for 5x5 in ORT 1.30, so it was dropped.
 */
export function maxPoolGrad(ctx: GradContext): Grads {
  const dy = ctx.gradOut(0);
  if (!dy || !ctx.needs(0)) return [null];
  const indices = ctx.saved('indices');
  if (!indices) throw ctx.fail('the training forward did not save its indices');
  const x = ctx.inputs[0] as string;
  const s = ctx.staticShape(x);
  const flatShape = s ? ctx.ints([s.reduce((a, b) => a * b, 1)]) : ctx.reshape(ctx.op('Size', [x]), [1]);
  const zeros = ctx.op('ConstantOfShape', [flatShape], { value: makeTensor('value', ctx.dtype, [1], [0]) });
  const scattered = ctx.op('ScatterElements', [zeros, ctx.reshape(indices, [-1]), ctx.reshape(dy, [-1])], { axis: 0, reduction: 'add' });
  return [ctx.reshape(scattered, s ? ctx.ints(s) : ctx.shape(x))];
}

/**
 * AveragePool: dX[i] = sum over windows o containing i of dY[o] / divisor[o], i.e. a ConvTranspose of
 * dY/divisor with a kernel of ones, per channel. The divisors are static (avgPoolAxisCounts, which follows
 * ORT for count_include_pad both ways and ceil_mode edge windows); when they are all equal they are folded
 * into the kernel. Channels are moved into the batch ([N*C,1,Ho,Wo], one 1->1 ConvTranspose) rather than
 * a group=C ConvTranspose with a [C,1,k,k] kernel: same result and, measured, the same speed in ORT 1.30
 * (docs/autodiff.md), but it needs neither the channel count nor a per-channel kernel constant.
 */
export function averagePoolGrad(ctx: GradContext): Grads {
  const dy = ctx.gradOut(0);
  if (!dy || !ctx.needs(0)) return [null];
  const node = ctx.node;
  const x = ctx.inputs[0] as string;
  const { spatial } = ncSpatial(ctx, x, 'compute its window divisors');
  const kernel = getInts(node, 'kernel_shape', []);
  const geo = windowGeometry(node, spatial, kernel);
  const ceil = getInt(node, 'ceil_mode', 0) === 1;
  const cip = getInt(node, 'count_include_pad', 0) === 1;
  if (geo.dilations.some((d) => d !== 1)) throw ctx.fail('dilated AveragePool (opset 19) has no gradient rule yet; use dilations of 1');
  if (ceil && ceilModeDisagrees(geo, spatial)) {
    throw ctx.fail(`with ceil_mode its last window starts in the end padding, where ONNX shape inference and ONNX Runtime disagree on the output size; lower pads_end below the stride`);
  }
  const outSp = outputSpatial(geo, spatial, ceil);
  const divisors = outerProduct(spatial.map((n, i) => avgPoolAxisCounts(n, outSp[i] as number, kernel[i] as number, geo.strides[i] as number, geo.padsBegin[i] as number, geo.padsEnd[i] as number, cip)));
  const uniform = divisors.every((d) => d === divisors[0]);
  let scaled = dy;
  if (!uniform) scaled = ctx.mul(dy, ctx.constant(divisors.map((d) => 1 / d), outSp));
  const kernelValue = uniform ? 1 / (divisors[0] as number) : 1;
  const ones = ctx.constant(new Array<number>(kernel.reduce((a, b) => a * b, 1)).fill(kernelValue), [1, 1, ...kernel]);
  const adj = spatial.map((n, i) => adjointTransposeSettings(n, outSp[i] as number, kernel[i] as number, geo.strides[i] as number, geo.dilations[i] as number, geo.padsBegin[i] as number));
  const outputPadding = adj.map((a) => a.outputPadding);
  const flat = ctx.reshape(scaled, [-1, 1, ...outSp]);
  const dx = ctx.op('ConvTranspose', [flat, ones], {
    strides: geo.strides, kernel_shape: kernel,
    pads: [...adj.map((a) => a.padBegin), ...adj.map((a) => a.padEnd)],
    output_padding: outputPadding.some((p) => p !== 0) ? outputPadding : undefined,
  });
  const xs = ctx.staticShape(x);
  return [ctx.reshape(dx, xs ? ctx.ints(xs) : ctx.shape(x))];
}

/** GlobalAveragePool: dX = broadcast(dY) / (H*W). */
export function globalAveragePoolGrad(ctx: GradContext): Grads {
  const dy = ctx.gradOut(0);
  if (!dy || !ctx.needs(0)) return [null];
  const x = ctx.inputs[0] as string;
  const rank = ctx.requireRank(x);
  const count = ctx.countOf(x, range(2, rank));
  const xs = ctx.staticShape(x);
  return [ctx.op('Expand', [ctx.div(dy, count), xs ? ctx.ints(xs) : ctx.shape(x)])];
}

/**
 * Sum over a channel window: out[c] = sum_{j=c-before}^{c+after} t[j] (zero outside [0,C)), as Pad on the
 * channel axis then before+after+1 shifted Slices added up.
 */
function channelWindowSum(ctx: Emitter, t: string, rank: number, channels: number, before: number, after: number): string {
  const padsBegin = new Array<number>(rank).fill(0);
  const padsEnd = new Array<number>(rank).fill(0);
  padsBegin[1] = before;
  padsEnd[1] = after;
  const padded = before + after > 0 ? ctx.op('Pad', [t, ctx.ints([...padsBegin, ...padsEnd])]) : t;
  let sum: string | undefined;
  for (let j = 0; j <= before + after; j++) {
    const part = ctx.slice(padded, [j], [j + channels], [1]);
    sum = sum === undefined ? part : ctx.add(sum, part);
  }
  return sum as string;
}

/**
 * LRN (ONNX: window over channels [c - floor((n-1)/2), c + ceil((n-1)/2)], alpha divided by size):
 *   s_c = bias + alpha/n * sum_{j in W(c)} x_j^2,   y_c = x_c * s_c^-beta.
 * Differentiating, dy_c/dx_i = [i=c] s_c^-beta - beta * x_c * s_c^(-beta-1) * (alpha/n) * 2 x_i * [i in W(c)], so
 *   dx_i = dy_i * s_i^-beta - (2*alpha*beta/n) * x_i * sum_{c : i in W(c)} dy_c * x_c * s_c^(-beta-1).
 * i in W(c) iff c in [i - ceil((n-1)/2), i + floor((n-1)/2)]: the mirrored window (same one for odd n).
 * dy_c * x_c * s_c^(-beta-1) = dy_c * y_c / s_c, which reuses the forward output. s is recomputed (LRN does
 * not output it).
 */
/** LRN attributes with their ONNX defaults, and the channel window they define. */
function lrnParams(node: Node): { size: number; alpha: number; beta: number; bias: number; lo: number; hi: number } {
  const size = getInt(node, 'size', 0);
  return {
    size, alpha: getFloat(node, 'alpha', 0.0001), beta: getFloat(node, 'beta', 0.75), bias: getFloat(node, 'bias', 1),
    lo: Math.floor((size - 1) / 2), hi: Math.ceil((size - 1) / 2),
  };
}

/** s = bias + alpha/n * windowsum(x^2) and s^-beta, shared by the training forward and the gradient. */
function lrnDenominator(ctx: Emitter, node: Node, x: string, rank: number, channels: number): { s: string; sPow: string } {
  const p = lrnParams(node);
  const sumSq = channelWindowSum(ctx, ctx.mul(x, x), rank, channels, p.lo, p.hi);
  const s = ctx.add(ctx.scale(sumSq, p.alpha / p.size), ctx.constant(p.bias));
  return { s, sPow: ctx.op('Pow', [s, ctx.constant(-p.beta)]) };
}

/**
 * Training forward of LRN as y = x * s^-beta from elementwise ops, saving s and s^-beta for backward.
 * Measured (tmp/lrn-bench, [64,96,14,14], 2 threads): ORT's LRN kernel 172-205 ms, this form 42-61 ms;
 * the backward needs s anyway, so the training graph computes it once instead of twice.
 */
export function lrnForward(ctx: ForwardContext): void {
  const node = ctx.node;
  const x = node.inputs[0];
  const y = node.outputs[0];
  const channels = x ? ctx.shapeOf(x)?.[1] : undefined;
  const rank = x ? ctx.shapeOf(x)?.length : undefined;
  if (!x || !y || typeof channels !== 'number' || rank === undefined) { ctx.emitAsIs(); return; }
  const { s, sPow } = lrnDenominator(ctx, node, x, rank, channels);
  ctx.emitExact('Mul', [x, sPow], {}, [y]);
  ctx.save('s', s);
  ctx.save('sPow', sPow);
}

export function lrnGrad(ctx: GradContext): Grads {
  const dy = ctx.gradOut(0);
  if (!dy || !ctx.needs(0)) return [null];
  const x = ctx.inputs[0] as string;
  const y = ctx.outputs[0] as string;
  const rank = ctx.requireRank(x);
  const xs = ctx.shapeOf(x);
  const channels = xs?.[1];
  if (typeof channels !== 'number') throw ctx.fail(`the channel count of '${x}' must be static to build its gradient`);
  const p = lrnParams(ctx.node);
  const savedS = ctx.saved('s');
  const savedPow = ctx.saved('sPow');
  const { s, sPow } = savedS && savedPow ? { s: savedS, sPow: savedPow } : lrnDenominator(ctx, ctx.node, x, rank, channels);
  const t = ctx.div(ctx.mul(dy, y), s);
  const back = channelWindowSum(ctx, t, rank, channels, p.hi, p.lo);
  const dx = ctx.sub(ctx.mul(dy, sPow), ctx.mul(ctx.scale(x, (2 * p.alpha * p.beta) / p.size), back));
  return [dx];
}

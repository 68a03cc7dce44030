// Gradients of the sliding-window ops (Conv, ConvTranspose, MaxPool, AveragePool, GlobalAveragePool, LRN),
// each expressed with standard ONNX ops. The derivations are next to the code; docs/autodiff.md has the
// measured costs.
import { getFloat, getInt, getInts, getString, type AttrInput } from '../ir/attributes.js';
import type { Attribute, Node } from '../ir/graph.js';
import type { Emitter, ForwardContext, GradContext } from './context.js';
import { makeTensor } from './context.js';
import { DataType } from '../ir/tensor.js';
import {
  adjointTransposeSettings, avgPoolAxisCounts, ceilModeDisagrees, convTransposeGeometry, groupOf, outerProduct, outputSpatial,
  windowGeometry, type WindowGeometry,
} from './geometry.js';
import { gradForms } from './forms.js';

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
 * For each tap t the strided slice Xpad[..., t*d : t*d + (O-1)*s + 1 : s] lines up with dY, so each tap is
 * one matrix product contracting over (n, o) (foldedWeightGrad; batchedTapsWeightGrad is the form before
 * issue 13, kept selectable for comparisons). This replaced a single Conv over transposed tensors
 * (X^T [C,N,H,W] convolved with dY^T [M,N,Ho,Wo] as the kernel): same result, but ORT runs that Conv's huge
 * kernel as an im2col GEMM with a k*k-column output, 1.4x slower than per-tap products for 3x3 and 5x5
 * kernels and 6.5x slower for 1x1 on a 64x64x28x28 layer (docs/autodiff.md). Depthwise convolutions take
 * depthwiseWeightGrad. Returns [outC, inC/G, k...].
 */
export function convWeightGrad(
  ctx: GradContext, input: string, inChannels: number, inSpatial: readonly number[] | undefined,
  gradOut: string, outChannels: number, outSpatial: readonly number[] | undefined, geo: WindowGeometry, group: number,
): string {
  const cg = inChannels / group;
  const mg = outChannels / group;
  const padded = [...geo.padsBegin, ...geo.padsEnd].some((p) => p !== 0)
    ? ctx.op('Pad', [input, ctx.ints([0, 0, ...geo.padsBegin, 0, 0, ...geo.padsEnd])])
    : input;
  const paddedSpatial = inSpatial?.map((n, i) => n + (geo.padsBegin[i] as number) + (geo.padsEnd[i] as number));
  const tapEnds = tapEndsOf(ctx, gradOut, outSpatial, geo);
  if (cg === 1 && mg === 1) return depthwiseWeightGrad(ctx, padded, tapEnds, gradOut, outChannels, geo);
  const w: TapWeightGrad = { padded, paddedSpatial, tapEnds, gradOut, geo, group, cg, mg };
  if (gradForms().convWeight === 'batched-taps') return batchedTapsWeightGrad(ctx, w);
  return foldedWeightGrad(ctx, w);
}

/** What the dW routines share: X padded once, its spatial sizes when static, the taps' slice ends, dY, the window. */
interface TapWeightGrad {
  padded: string;
  paddedSpatial: readonly number[] | undefined;
  tapEnds: (starts: readonly number[]) => string;
  gradOut: string;
  geo: WindowGeometry;
  group: number;
  cg: number;
  mg: number;
}

/** Offsets of kernel tap t into the padded input, per spatial axis (tap t in row-major kernel order). */
function tapStarts(t: number, geo: WindowGeometry): number[] {
  return tapIndex(t, geo.kernel).map((k, i) => k * (geo.dilations[i] as number));
}

/**
 * Whether a tap's strided slice is the whole padded input: it starts at 0 with stride 1 and its
 * (out-1)*s + 1 = out positions reach the end, out = padded size, i.e. a kernel extent of 1 on every axis.
 */
function tapIsWhole(geo: WindowGeometry): boolean {
  return geo.strides.every((s) => s === 1) && geo.kernel.every((k, i) => (k - 1) * (geo.dilations[i] as number) === 0);
}

/** Reshape [N, G*Cg, S...] to [N, G, Cg, S...], with S from the graph when the spatial sizes are dynamic. */
function splitGroups(ctx: GradContext, padded: string, paddedSpatial: readonly number[] | undefined, group: number, cg: number, r: number): string {
  return ctx.reshape(padded, paddedSpatial
    ? ctx.ints([0, group, cg, ...paddedSpatial])
    : ctx.op('Concat', [ctx.ints([0, group, cg]), ctx.slice(ctx.shape(padded), [2], [2 + r], [0])], { axis: 0 }));
}

/**
 * dW with the batch folded into the contraction: per tap, dW[g,m,c,t] = sum_{(n,o)} dY[n,g,m,o] *
 * Xpad[n,g,c,o*s + t*d] is ONE product over n*P rows with a [G,Mg,Cg] result, so the taps stack into a
 * tensor of dW's size. The batched form multiplied per image ([N,G,Mg,Cg] per tap), concatenated those
 * and reduced over n: in googlenet-mini's step its Concat alone took 87-122 ms (1 thread, ORT profile
 * median), against about 1 ms here, and the products got faster too (one GEMM with a deep n*P
 * contraction instead of N shallow ones).
 * One group: X and dY go channels-last once ([N,S...,C] and [N*P,M]) and each tap is
 * Gemm(dY', slice [N*P,C], transA=1) = [M,C]; MLAS reads the transposed operand in place. Both transposes
 * move one axis to the end, which ORT runs about 5x faster than the two-axis permutations a [C,N,...] or
 * [G,N,...] layout needs (Transpose 31 vs 6 ms per step), and the strided slices of a channels-last
 * tensor copy whole C-long rows (slicing [C,N,H,W] copied 7-14-float rows: Slice 1.7x slower).
 * Several groups: X is [G,N,S...,Cg], dY [G,Mg,N*P] and each tap is a MatMul batched over g.
 */
function foldedWeightGrad(ctx: GradContext, w: TapWeightGrad): string {
  const { padded, paddedSpatial, tapEnds, gradOut, geo, group, cg, mg } = w;
  const r = geo.kernel.length;
  const kernelSize = geo.kernel.reduce((a, b) => a * b, 1);
  const outChannels = group * mg;
  /** Tap t's strided window of x, whose spatial axes start at `first`. */
  const tapSlice = (x: string, t: number, first: number): string => {
    if (tapIsWhole(geo)) return x;
    const starts = tapStarts(t, geo);
    return ctx.op('Slice', [x, ctx.ints(starts), tapEnds(starts), ctx.ints(range(first, first + r)), ctx.ints(geo.strides)]);
  };
  if (group === 1) {
    // X [N, C, S...] -> [N, S..., C]; dY [N, M, O...] -> [N, O..., M] -> [N*P, M].
    const spatialAxes = range(2, 2 + r);
    const xT = ctx.transpose(padded, [0, ...spatialAxes, 1]);
    const dyT = ctx.reshape(ctx.transpose(gradOut, [0, ...spatialAxes, 1]), [-1, outChannels]);
    const taps = range(0, kernelSize).map((t) => ctx.op('Gemm', [dyT, ctx.reshape(tapSlice(xT, t, 1), [-1, cg])], { transA: 1 }));
    const stacked = kernelSize === 1 ? (taps[0] as string) : ctx.op('Concat', taps.map((t) => ctx.unsqueeze(t, [2])), { axis: 2 });
    return ctx.reshape(stacked, [outChannels, cg, ...geo.kernel]);
  }
  // X [N, G*Cg, S...] -> [N, G, Cg, S...] -> [G, N, S..., Cg]; dY -> [N, G, Mg, P] -> [G, Mg, N, P] -> [G, Mg, N*P].
  const xT = ctx.transpose(splitGroups(ctx, padded, paddedSpatial, group, cg, r), [1, 0, ...range(3, 3 + r), 2]);
  const dyT = ctx.reshape(ctx.transpose(ctx.reshape(gradOut, [0, group, mg, -1]), [1, 2, 0, 3]), [group, mg, -1]);
  const taps = range(0, kernelSize).map((t) => ctx.op('MatMul', [dyT, ctx.reshape(tapSlice(xT, t, 2), [group, -1, cg])]));
  const stacked = kernelSize === 1 ? (taps[0] as string) : ctx.op('Concat', taps.map((t) => ctx.unsqueeze(t, [3])), { axis: 3 });
  return ctx.reshape(stacked, [outChannels, cg, ...geo.kernel]);
}

/**
 * The dW form before issue 13: per tap a MatMul batched over (n, group), dY [N,G,Mg,P] x slice
 * [N,G,P,Cg] -> [N,G,Mg,Cg], the taps concatenated and one ReduceSum over n.
 */
function batchedTapsWeightGrad(ctx: GradContext, w: TapWeightGrad): string {
  const { padded, paddedSpatial, tapEnds, gradOut, geo, group, cg, mg } = w;
  const r = geo.kernel.length;
  const outChannels = group * mg;
  // [N, G*Cg, S...] -> [N, G, Cg, S...] -> [N, G, S..., Cg]
  const grouped = splitGroups(ctx, padded, paddedSpatial, group, cg, r);
  const channelsLast = ctx.transpose(grouped, [0, 1, ...range(3, 3 + r), 2]);
  const dy = ctx.reshape(gradOut, [0, group, mg, -1]);
  const spatialAxes = range(2, 2 + r);
  const taps: string[] = [];
  const kernelSize = geo.kernel.reduce((a, b) => a * b, 1);
  for (let t = 0; t < kernelSize; t++) {
    const starts = tapStarts(t, geo);
    const slice = tapIsWhole(geo) ? channelsLast : ctx.op('Slice', [channelsLast, ctx.ints(starts), tapEnds(starts), ctx.ints(spatialAxes), ctx.ints(geo.strides)]);
    const product = ctx.op('MatMul', [dy, ctx.reshape(slice, [0, group, -1, cg])]);
    taps.push(kernelSize === 1 ? product : ctx.unsqueeze(product, [4]));
  }
  const stacked = taps.length === 1 ? (taps[0] as string) : ctx.op('Concat', taps, { axis: 4 });
  const summed = ctx.reduce('ReduceSum', stacked, [0], false);
  return ctx.reshape(summed, [outChannels, cg, ...geo.kernel]);
}

/**
 * Ends of a kernel tap's strided slice of the padded input: start + (out-1)*s + 1 per spatial axis, so the
 * slice has exactly `out` positions. Static when the output sizes are; otherwise (dynamic height/width)
 * computed in the graph from Shape(gradOut), the shared (out-1)*s + 1 once per node.
 */
function tapEndsOf(ctx: GradContext, gradOut: string, outSpatial: readonly number[] | undefined, geo: WindowGeometry): (starts: readonly number[]) => string {
  if (outSpatial) return (starts) => ctx.ints(starts.map((st, i) => st + ((outSpatial[i] as number) - 1) * (geo.strides[i] as number) + 1));
  const r = geo.kernel.length;
  const ones = ctx.ints(new Array<number>(r).fill(1));
  let span: string | undefined;
  return (starts) => {
    span ??= ctx.add(ctx.op('Mul', [ctx.sub(ctx.slice(ctx.shape(gradOut), [2], [2 + r], [0]), ones), ctx.ints(geo.strides)]), ones);
    return ctx.add(span, ctx.ints(starts));
  };
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
function depthwiseWeightGrad(ctx: GradContext, padded: string, tapEnds: (starts: readonly number[]) => string, gradOut: string, channels: number, geo: WindowGeometry): string {
  const r = geo.kernel.length;
  const axes = range(2, 2 + r);
  const kernelSize = geo.kernel.reduce((a, b) => a * b, 1);
  const taps: string[] = [];
  for (let t = 0; t < kernelSize; t++) {
    const starts = tapIndex(t, geo.kernel).map((k, i) => k * (geo.dilations[i] as number));
    const slice = ctx.op('Slice', [padded, ctx.ints(starts), tapEnds(starts), ctx.ints(axes), ctx.ints(geo.strides)]);
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
 * result has X's size exactly (adjointTransposeSettings: crop or output_padding when (in+pads-extent) % s != 0),
 * or, for stride 1 where useConvForInputGrad says so, a plain Conv of dY with the flipped, transposed kernel
 * (stride1InputGradPads). dW: convWeightGrad. dB: the sum of dY over batch and positions.
 */
export function convGrad(ctx: GradContext): Grads {
  const dy = ctx.gradOut(0);
  if (!dy) return [null, null, null];
  const xShape = ctx.shapeOf(ctx.inputs[0] as string);
  if (xShape && xShape.length >= 3 && typeof xShape[1] === 'number' && xShape.slice(2).some((d) => typeof d !== 'number')) {
    return convGradDynamicSpatial(ctx, dy, xShape[1], xShape.length - 2);
  }
  const { x, w, channels, spatial, ws, kernel, group } = convOperands(ctx);
  const geo = windowGeometry(ctx.node, spatial, kernel);
  const outSp = outputSpatial(geo, spatial, false);
  const grads: Grads = [null, null, null];
  const flippedPads = useConvForInputGrad(ws, kernel, group) ? stride1InputGradPads(geo) : undefined;
  if (ctx.needs(0) && flippedPads) {
    grads[0] = ctx.op('Conv', [dy, flippedTransposedKernel(ctx, w, ws, kernel, group)], {
      dilations: geo.dilations, group: group === 1 ? undefined : group, kernel_shape: kernel, pads: flippedPads,
    });
  } else if (ctx.needs(0)) {
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
 * Pads of the plain Conv that computes a stride-1 Conv's dX, or undefined when dX needs ConvTranspose.
 * With stride 1, dX[i] = sum_k sum_m dY[i + pb - k*d] W[m, c, k]. Substituting k' = K-1-k (the flipped
 * kernel) gives dY[i - ((K-1)*d - pb) + k'*d]: a convolution of dY with pads_begin' = (K-1)*d - pb, and
 * since dY has in + pb + pe - (K-1)*d positions, pads_end' = (K-1)*d - pe makes its output exactly `in`
 * long. Conv takes no negative pads, so a forward pad wider than the kernel extent keeps ConvTranspose.
 */
function stride1InputGradPads(geo: WindowGeometry): number[] | undefined {
  if (geo.strides.some((s) => s !== 1)) return undefined;
  const extent = geo.kernel.map((k, i) => (k - 1) * (geo.dilations[i] as number));
  const pads = [...geo.padsBegin.map((p, i) => (extent[i] as number) - p), ...geo.padsEnd.map((p, i) => (extent[i] as number) - p)];
  return pads.every((p) => p >= 0) ? pads : undefined;
}

/**
 * Whether Conv dX takes the plain-Conv form (when its stride allows). Both forms are one SGEMM of the same
 * size per image; they differ in the buffer around it: Conv builds an im2col copy of dY (Mg*K rows per
 * group), ConvTranspose writes a column buffer of Cg*K rows and folds it with col2im. For a 1x1 kernel
 * Conv needs no im2col at all (its dX is the GEMM alone). Measured per layer on googlenet-mini (ORT 1.30,
 * 1 thread, profile medians on a loaded machine): 1x1 Conv 0.2-0.5 ms vs ConvTranspose 0.3-0.8 ms, but 3x3
 * 32->96 29 vs 27 ms and 5x5 16->48 11.4 vs 3.0 ms, where the im2col of the wider dY is 3x the column
 * buffer. (With 2 threads the two were within noise of each other for every layer.)
 */
function useConvForInputGrad(ws: readonly number[], kernel: readonly number[], group: number): boolean {
  if (gradForms().convInput === 'transpose') return false;
  if (gradForms().convInput === 'conv') return true;
  return kernel.every((k) => k === 1) || (ws[0] as number) / group <= (ws[1] as number);
}

/**
 * The kernel of that Conv: W' [G*Cg, Mg, k...] with W'[g*Cg + c, m, k'] = W[g*Mg + m, c, K-1-k'] (input and
 * output channels swapped within each group, every spatial axis reversed by a Slice with step -1).
 * It is computed from the parameter input every step; it is the size of W, so it costs nothing next to dX.
 */
function flippedTransposedKernel(ctx: GradContext, w: string, ws: readonly number[], kernel: readonly number[], group: number): string {
  const r = kernel.length;
  const cg = ws[1] as number;
  const mg = (ws[0] as number) / group;
  const spatialAxes = range(2, 2 + r);
  const swapped = group === 1
    ? ctx.transpose(w, [1, 0, ...spatialAxes])
    : ctx.reshape(ctx.transpose(ctx.reshape(w, [group, mg, cg, ...kernel]), [0, 2, 1, ...range(3, 3 + r)]), [group * cg, mg, ...kernel]);
  const flipAxes = spatialAxes.filter((_, i) => (kernel[i] as number) > 1);
  if (flipAxes.length === 0) return swapped;
  // Step -1 from the last element to before the first (an end below -dim clamps to -1, i.e. past index 0).
  return ctx.op('Slice', [swapped, ctx.ints(flipAxes.map(() => -1)), ctx.ints(flipAxes.map(() => Number.MIN_SAFE_INTEGER)), ctx.ints(flipAxes), ctx.ints(flipAxes.map(() => -1))]);
}

/**
 * Conv over an input whose spatial sizes are dynamic (exports with dynamic height/width; the channel count
 * must still be static). Explicit pads are needed (auto_pad SAME depends on the input size).
 * dX: ConvTranspose(dY, W) with pads_begin kept, pads_end 0 and output_padding s-1, then a Slice to X's size.
 * ConvTranspose writes window o at input position o*s + k*d - pb exactly as in the static case; only the
 * extent differs: it is T + (s-1) - pb with T = s(out-1) + d(k-1) + 1. From out = floor((in + pb + pe - ext)/s)
 * + 1 (ext = d(k-1) + 1), s(out-1) >= in + pb + pe - ext - (s-1), so T + (s-1) - pb >= in + pe >= in: the
 * result covers all of X, and the Slice drops positions past it (for s = 1 exactly the pe end pad).
 * output_padding s-1 stays below the stride as ONNX requires.
 * dW: the per-tap routine with the tap slices' ends computed from Shape(dY) (tapEndsOf).
 */
function convGradDynamicSpatial(ctx: GradContext, dy: string, channels: number, r: number): Grads {
  const [x, w] = ctx.inputs as [string, string];
  const ws = ctx.requireStatic(w, 'build its gradient');
  const kernel = getInts(ctx.node, 'kernel_shape') ?? ws.slice(2);
  const autoPad = getString(ctx.node, 'auto_pad', 'NOTSET');
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    throw ctx.fail(`auto_pad ${autoPad} pads by the input size, and the spatial sizes of '${x}' are dynamic; give the model's inputs static height and width, or export with explicit pads`);
  }
  // windowGeometry reads the input sizes only for auto_pad SAME, refused above.
  const geo = windowGeometry(ctx.node, new Array<number>(r).fill(0), kernel);
  const group = groupOf(ctx.node);
  const grads: Grads = [null, null, null];
  if (ctx.needs(0)) {
    const outputPadding = geo.strides.map((st) => st - 1);
    const full = ctx.op('ConvTranspose', [dy, w], {
      strides: geo.strides, dilations: geo.dilations, group: group === 1 ? undefined : group, kernel_shape: kernel,
      pads: [...geo.padsBegin, ...new Array<number>(r).fill(0)],
      output_padding: outputPadding.some((p) => p !== 0) ? outputPadding : undefined,
    });
    const sp = range(2, 2 + r);
    grads[0] = ctx.op('Slice', [full, ctx.ints(sp.map(() => 0)), ctx.slice(ctx.shape(x), [2], [2 + r], [0]), ctx.ints(sp)]);
  }
  if (ctx.needs(1)) grads[1] = convWeightGrad(ctx, x, channels, undefined, dy, ws[0] as number, undefined, geo, group);
  if (ctx.needs(2) && ctx.inputs[2]) grads[2] = biasGrad(ctx, dy, r + 2);
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
 * excluded; storage_order 0) for backward; a node already producing row-major indices is kept as is. Under
 * the 'argmax' form the node stays as it is (the backward recomputes the argmax).
 */
export function maxPoolForward(ctx: ForwardContext): void {
  const node = ctx.node;
  if (!ctx.onGradientPath || argmaxPoolPlan(ctx, node)) { ctx.emitAsIs(); return; }
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
 * The Indices output costs ORT's fast MaxPool kernel (17x slower over googlenet-mini's pools), but every
 * exact Indices-free backward measured so far costs more than it saves (docs/training.md, "MaxPool:
 * measured, not changed"); the 'argmax' form (argmaxPoolGrad) stays selectable for re-measuring.
 */
export function maxPoolGrad(ctx: GradContext): Grads {
  const dy = ctx.gradOut(0);
  if (!dy || !ctx.needs(0)) return [null];
  const plan = argmaxPoolPlan(ctx, ctx.node);
  if (plan) return [argmaxPoolGrad(ctx, plan, dy)];
  const indices = ctx.saved('indices');
  if (!indices) throw ctx.fail('the training forward did not save its indices');
  const x = ctx.inputs[0] as string;
  const s = ctx.staticShape(x);
  const flatShape = s ? ctx.ints([s.reduce((a, b) => a * b, 1)]) : ctx.reshape(ctx.op('Size', [x]), [1]);
  const zeros = ctx.op('ConstantOfShape', [flatShape], { value: makeTensor('value', ctx.dtype, [1], [0]) });
  const scattered = ctx.op('ScatterElements', [zeros, ctx.reshape(indices, [-1]), ctx.reshape(dy, [-1])], { axis: 0, reduction: 'add' });
  return [ctx.reshape(scattered, s ? ctx.ints(s) : ctx.shape(x))];
}

/** Static geometry of a MaxPool whose gradient takes the 'argmax' form. */
interface ArgmaxPoolPlan {
  spatial: number[];
  outSpatial: number[];
  geo: WindowGeometry;
}

/**
 * Whether a MaxPool takes the 'argmax' gradient form, and its static geometry if so. The forward hook and
 * the rule ask the same question, so a node gets Indices exactly when its backward reads them. It needs
 * static spatial sizes (the tap slices and the one-hot ConvTranspose are sized by them) and output sizes
 * that ONNX shape inference agrees with (ceilModeDisagrees: otherwise ORT's model check would see the
 * slices and dY disagree); other nodes keep the scatter form.
 */
function argmaxPoolPlan(ctx: Emitter, node: Node): ArgmaxPoolPlan | undefined {
  if (gradForms().maxPool !== 'argmax') return undefined;
  const xs = ctx.shapeOf(node.inputs[0] ?? '');
  const spatial = xs?.slice(2);
  if (!xs || xs.length < 3 || !spatial?.every((d): d is number => typeof d === 'number')) return undefined;
  const kernel = getInts(node, 'kernel_shape', []);
  if (kernel.length !== spatial.length) return undefined;
  const geo = windowGeometry(node, spatial, kernel);
  const ceil = getInt(node, 'ceil_mode', 0) === 1;
  if (ceil && ceilModeDisagrees(geo, spatial)) return undefined;
  return { spatial, outSpatial: outputSpatial(geo, spatial, ceil), geo };
}

/**
 * MaxPool without Indices. dX[i] = sum over windows o whose (first) max is at i of dY[o]. Channels go into
 * the batch (X as [N*C, 1, S...]) and X is padded with -inf where windows overhang it, so padding never
 * wins. Tap t's strided slice (taps in row-major kernel order = ORT's and PyTorch's window scan order)
 * holds window o's t-th element; the K slices are stacked as channels [N*C, K, O...] and
 * ArgMax(axis 1, select_last_index=0) gives, per window, the FIRST tap holding the maximum: exactly the
 * element ORT's MaxPool kernel picks (it keeps a candidate only when strictly greater, scanning in that
 * order) and PyTorch's max_pool2d backward, ties included (ReLU-dead windows full of zeros send their
 * gradient to the first zero, not to every zero as an Equal(X, Y) mask would). Then
 * routed[o, t] = (argmax[o] == t) ? dY[o] : 0, and a ConvTranspose with a one-hot kernel (channel t -> tap t,
 * the pool's strides and dilations, adjointTransposeSettings pads) adds routed[o, t] into input position
 * o*s + t*d - pb: the adjoint of the tap slices, summing where windows overlap.
 * Not covered (ORT itself is ill-defined there): windows whose real values are all -inf, and NaN inputs.
 * Cost: K-times-output-sized Slices, Concat, Equal, Where and ConvTranspose input; on googlenet-mini's
 * step 80 ms more kernel time than Indices + ScatterElements at 1 thread (docs/training.md).
 */
function argmaxPoolGrad(ctx: GradContext, plan: ArgmaxPoolPlan, dy: string): string {
  const { spatial, outSpatial, geo } = plan;
  const x = ctx.inputs[0] as string;
  const r = spatial.length;
  const kernelSize = geo.kernel.reduce((a, b) => a * b, 1);
  const axes = range(2, 2 + r);
  const flat = ctx.reshape(x, [-1, 1, ...spatial]);
  // Windows reach (out-1)*s + (k-1)*d + 1 positions of the padded axis; pad (with -inf) only what they read.
  const reach = spatial.map((_, i) => ((outSpatial[i] as number) - 1) * (geo.strides[i] as number) + ((geo.kernel[i] as number) - 1) * (geo.dilations[i] as number) + 1);
  const padsEnd = spatial.map((n, i) => Math.max(0, (reach[i] as number) - (geo.padsBegin[i] as number) - n));
  const padded = [...geo.padsBegin, ...padsEnd].some((p) => p > 0)
    ? ctx.op('Pad', [flat, ctx.ints([0, 0, ...geo.padsBegin, 0, 0, ...padsEnd]), ctx.constant(-Infinity)])
    : flat;
  const taps = range(0, kernelSize).map((t) => {
    const starts = tapStarts(t, geo);
    const ends = starts.map((st, i) => st + ((outSpatial[i] as number) - 1) * (geo.strides[i] as number) + 1);
    return ctx.op('Slice', [padded, ctx.ints(starts), ctx.ints(ends), ctx.ints(axes), ctx.ints(geo.strides)]);
  });
  const stacked = kernelSize === 1 ? (taps[0] as string) : ctx.op('Concat', taps, { axis: 1 });
  const argmax = ctx.op('ArgMax', [stacked], { axis: 1, keepdims: 1, select_last_index: 0 });
  const mask = ctx.op('Equal', [argmax, ctx.constant(range(0, kernelSize), [1, kernelSize, ...spatial.map(() => 1)], DataType.INT64)]);
  const routed = ctx.op('Where', [mask, ctx.reshape(dy, [-1, 1, ...outSpatial]), ctx.constant(0)]);
  const oneHot = ctx.constant(range(0, kernelSize * kernelSize).map((i) => (Math.floor(i / kernelSize) === i % kernelSize ? 1 : 0)), [kernelSize, 1, ...geo.kernel]);
  const adj = spatial.map((n, i) => adjointTransposeSettings(n, outSpatial[i] as number, geo.kernel[i] as number, geo.strides[i] as number, geo.dilations[i] as number, geo.padsBegin[i] as number));
  const outputPadding = adj.map((a) => a.outputPadding);
  const dx = ctx.op('ConvTranspose', [routed, oneHot], {
    strides: geo.strides, dilations: geo.dilations, kernel_shape: geo.kernel,
    pads: [...adj.map((a) => a.padBegin), ...adj.map((a) => a.padEnd)],
    output_padding: outputPadding.some((p) => p !== 0) ? outputPadding : undefined,
  });
  const xs = ctx.staticShape(x);
  return ctx.reshape(dx, xs ? ctx.ints(xs) : ctx.shape(x));
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
  return { s, sPow: negativePower(ctx, s, p.beta) };
}

/**
 * s^-beta. ORT's Pow calls std::pow per element (7-23 ms for googlenet-mini's norm2 at [64,96,14,14]);
 * when beta is a multiple of 1/4 (0.75 in AlexNet, GoogLeNet and CaffeNet) it is a product of s^n,
 * s^(1/2) = Sqrt(s) and s^(1/4) = Sqrt(Sqrt(s)) (vectorized kernels), then Reciprocal: s^-0.75 =
 * 1 / (Sqrt(s) * Sqrt(Sqrt(s))). s >= bias > 0 here, and each step rounds once, so the result is within a
 * few float ulps of Pow's.
 */
function negativePower(ctx: Emitter, s: string, beta: number): string {
  const quarters = beta * 4;
  if (gradForms().lrnPower === 'pow' || !Number.isInteger(quarters) || quarters <= 0 || quarters > 16) return ctx.op('Pow', [s, ctx.constant(-beta)]);
  const factors: string[] = [];
  for (let i = 0; i < Math.floor(quarters / 4); i++) factors.push(s);
  const rest = quarters % 4;
  const half = rest > 0 ? ctx.op('Sqrt', [s]) : undefined;
  if (half && rest >= 2) factors.push(half);
  if (half && rest % 2 === 1) factors.push(ctx.op('Sqrt', [half]));
  const power = factors.slice(1).reduce((acc, f) => ctx.mul(acc, f), factors[0] as string);
  return ctx.op('Reciprocal', [power]);
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

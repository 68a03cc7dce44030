/**
 * Rows for the layers of a CNN: convolutions, dense products, normalisation, pooling, dropout, softmax
 * and reductions. Attribute defaults and opset history follow the ONNX operator spec (Operators.md).
 */
import type { Dim } from '../ir/graph.js';
import { DataType } from '../ir/tensor.js';
import type { OpContext, OpInfo } from './context.js';
import { broadcastShapes, dimsConflict, formatShape, isNum, knownNumel, windowOutput } from './dims.js';
import { axesIn, axisIn, free, outputNumel, perOutputElement, sameAsInput, weightParams } from './rules.js';
import type { AttrSpec, ValueType } from './types.js';

// ---- shared attribute specs -------------------------------------------------------------------

const AUTO_PAD: AttrSpec = {
  type: 'string', default: 'NOTSET',
  note: 'NOTSET (use pads), SAME_UPPER / SAME_LOWER (output = ceil(input / stride); odd padding extra at the end / beginning), VALID (no padding)',
};
const PADS: AttrSpec = { type: 'ints', whenAbsent: '0 at both ends of every spatial axis', note: '[x1_begin, x2_begin, ..., x1_end, x2_end, ...]' };
const STRIDES: AttrSpec = { type: 'ints', whenAbsent: '1 along every spatial axis' };
const DILATIONS: AttrSpec = { type: 'ints', whenAbsent: '1 along every spatial axis' };
const KERNEL_FROM_W: AttrSpec = { type: 'ints', whenAbsent: 'taken from the spatial dims of W' };
const CONSUMED_INPUTS: AttrSpec = { type: 'ints', whenAbsent: 'legacy in-place hint; ignored', until: 6 };

// ---- sliding windows: Conv, ConvTranspose, MaxPool, AveragePool -------------------------------

interface Window {
  spatial: number;
  kernel: (number | null)[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: string;
}

function windowParams(ctx: OpContext, kernel: (number | null)[], useDilations: boolean): Window {
  const n = kernel.length;
  const strides = ctx.optInts('strides') ?? Array<number>(n).fill(1);
  const dilations = (useDilations ? ctx.optInts('dilations') : undefined) ?? Array<number>(n).fill(1);
  const autoPad = ctx.string('auto_pad');
  const pads = ctx.optInts('pads') ?? Array<number>(2 * n).fill(0);
  if (strides.length !== n) ctx.fail(`strides [${strides.join(',')}] has ${strides.length} values for ${n} spatial axes`);
  if (dilations.length !== n) ctx.fail(`dilations [${dilations.join(',')}] has ${dilations.length} values for ${n} spatial axes`);
  if (pads.length !== 2 * n) ctx.fail(`pads [${pads.join(',')}] has ${pads.length} values; ${n} spatial axes need ${2 * n} (begins then ends)`);
  if (strides.some((s) => s < 1)) ctx.fail(`strides [${strides.join(',')}] must be positive`);
  if (!['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'].includes(autoPad)) {
    ctx.fail(`auto_pad '${autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
  }
  return { spatial: n, kernel, strides, dilations, pads, autoPad };
}

/** Output spatial dims of a forward window sweep (Conv and pooling). */
function sweep(ctx: OpContext, x: readonly Dim[], w: Window, ceil: boolean): Dim[] {
  const out: Dim[] = [];
  for (let k = 0; k < w.spatial; k++) {
    const input = x[2 + k];
    const kernel = w.kernel[k];
    const stride = w.strides[k] as number;
    const dilation = w.dilations[k] as number;
    if (!isNum(input) || kernel === null || kernel === undefined) {
      out.push(null);
      continue;
    }
    let size: number;
    if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') size = Math.ceil(input / stride);
    else if (w.autoPad === 'VALID') size = windowOutput(input, kernel, stride, dilation, 0, 0, ceil);
    else size = windowOutput(input, kernel, stride, dilation, w.pads[k] as number, w.pads[k + w.spatial] as number, ceil);
    if (size < 1) {
      ctx.fail(`spatial axis ${k}: input size ${input} is smaller than the ${kernel}-wide kernel (dilation ${dilation}, pads ${w.pads[k]}+${w.pads[k + w.spatial]}); the output would be empty`);
    }
    out.push(size);
  }
  return out;
}

function convKernel(ctx: OpContext, wShape: readonly Dim[]): (number | null)[] {
  const fromW = wShape.slice(2).map((d) => (isNum(d) ? d : null));
  const attr = ctx.optInts('kernel_shape');
  if (!attr) return fromW;
  if (attr.length !== fromW.length) ctx.fail(`kernel_shape [${attr.join(',')}] has ${attr.length} axes but W ${formatShape(wShape)} has ${fromW.length}`);
  attr.forEach((k, i) => {
    const d = fromW[i];
    if (d !== null && d !== undefined && d !== k) ctx.fail(`kernel_shape [${attr.join(',')}] does not match W ${formatShape(wShape)}`);
  });
  return attr;
}

function checkBias(ctx: OpContext, channels: Dim): void {
  if (!ctx.has(2)) return;
  const b = ctx.shape(2);
  if (!b) return;
  if (b.length !== 1) ctx.fail(`bias '${ctx.inputName(2)}' is ${formatShape(b)}; it must be 1-D with one value per output channel`);
  if (dimsConflict(b[0] as Dim, channels)) ctx.fail(`bias '${ctx.inputName(2)}' has ${b[0]} values but the layer has ${channels} output channels`);
}

function convShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'the output keeps its batch dim and spatial sizes');
  const wShape = ctx.requireShape(1, 'the weight gives the output channels and kernel');
  if (wShape.length < 3) ctx.fail(`weight '${ctx.inputName(1)}' is ${formatShape(wShape)}; it must be [M, C/group, k1, ...]`);
  if (x.length !== wShape.length) {
    ctx.fail(`input ${formatShape(x)} has rank ${x.length} but weight ${formatShape(wShape)} has rank ${wShape.length}; a ${wShape.length - 2}-D conv needs an [N, C, ${Array.from({ length: wShape.length - 2 }, (_, k) => `D${k + 1}`).join(', ')}] input`);
  }
  const group = ctx.int('group');
  if (group < 1) ctx.fail(`group ${group} must be at least 1`);
  const channels = x[1] as Dim;
  const wIn = wShape[1] as Dim;
  if (isNum(channels) && isNum(wIn) && channels !== wIn * group) {
    ctx.fail(`input has ${channels} channels but weight expects ${wIn * group} (W is ${formatShape(wShape)}${group > 1 ? `, group ${group}` : ''}); fix the weight or the layer feeding it`);
  }
  const m = wShape[0] as Dim;
  if (isNum(m) && m % group !== 0) ctx.fail(`${m} output channels cannot be split into ${group} groups`);
  checkBias(ctx, m);
  const w = windowParams(ctx, convKernel(ctx, wShape), true);
  return [{ elemType: ctx.elemType(0), shape: [x[0] as Dim, m, ...sweep(ctx, x, w, false)] }];
}

function convFlops(ctx: OpContext): number | undefined {
  const w = ctx.shape(1);
  const n = outputNumel(ctx);
  const perOutput = knownNumel(w?.slice(1)); // C/group * k1 * ... * kn multiply-adds per output element
  return n === undefined || perOutput === undefined ? undefined : 2 * n * perOutput;
}

function convTransposeShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'the output keeps its batch dim and grows its spatial sizes');
  const wShape = ctx.requireShape(1, 'the weight gives the output channels and kernel');
  if (wShape.length < 3) ctx.fail(`weight '${ctx.inputName(1)}' is ${formatShape(wShape)}; it must be [C, M/group, k1, ...]`);
  if (x.length !== wShape.length) ctx.fail(`input ${formatShape(x)} has rank ${x.length} but weight ${formatShape(wShape)} has rank ${wShape.length}`);
  const group = ctx.int('group');
  if (group < 1) ctx.fail(`group ${group} must be at least 1`);
  const channels = x[1] as Dim;
  if (dimsConflict(channels, wShape[0] as Dim)) {
    ctx.fail(`input has ${channels} channels but weight expects ${wShape[0]} (W is ${formatShape(wShape)}, laid out [C, M/group, k...]); fix the weight or the layer feeding it`);
  }
  const wOut = wShape[1] as Dim;
  const m: Dim = isNum(wOut) ? wOut * group : group === 1 ? wOut : null;
  checkBias(ctx, m);
  const w = windowParams(ctx, convKernel(ctx, wShape), true);
  const n = w.spatial;
  const outputPadding = ctx.optInts('output_padding') ?? Array<number>(n).fill(0);
  if (outputPadding.length !== n) ctx.fail(`output_padding [${outputPadding.join(',')}] has ${outputPadding.length} values for ${n} spatial axes`);
  const explicit = ctx.optInts('output_shape');
  let spatial: Dim[];
  if (explicit) {
    // The spec lists spatial sizes; some exporters wrote the full [N, C, ...] shape.
    if (explicit.length === n) spatial = explicit;
    else if (explicit.length === n + 2) spatial = explicit.slice(2);
    else ctx.fail(`output_shape [${explicit.join(',')}] has ${explicit.length} values for ${n} spatial axes`);
  } else {
    spatial = [];
    for (let k = 0; k < n; k++) {
      const input = x[2 + k];
      const kernel = w.kernel[k];
      const stride = w.strides[k] as number;
      if (!isNum(input) || kernel === null || kernel === undefined) {
        spatial.push(null);
        continue;
      }
      let size: number;
      // SAME: output = input * stride, as the spec says and ONNX Runtime computes.
      if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') size = input * stride;
      else {
        const [b, e] = w.autoPad === 'VALID' ? [0, 0] : [w.pads[k] as number, w.pads[k + n] as number];
        size = stride * (input - 1) + (outputPadding[k] as number) + (kernel - 1) * (w.dilations[k] as number) + 1 - b - e;
      }
      if (size < 1) ctx.fail(`spatial axis ${k}: pads ${w.pads[k]}+${w.pads[k + n]} leave no output for input size ${input}`);
      spatial.push(size);
    }
  }
  return [{ elemType: ctx.elemType(0), shape: [x[0] as Dim, m, ...spatial] }];
}

function convTransposeFlops(ctx: OpContext): number | undefined {
  // Every input element is multiplied into a (M/group x k1 x ... x kn) patch of the output.
  const n = knownNumel(ctx.shape(0));
  const perInput = knownNumel(ctx.shape(1)?.slice(1));
  return n === undefined || perInput === undefined ? undefined : 2 * n * perInput;
}

/** ceil_mode exists from opset 10 in MaxPool / AveragePool, from 18 in LpPool. */
function poolShape(ctx: OpContext, useDilations: boolean, ceilSince = 10): ValueType[] {
  const x = ctx.requireShape(0, 'the output keeps its batch and channel dims');
  const kernel = ctx.ints('kernel_shape');
  if (x.length !== kernel.length + 2) {
    ctx.fail(`input ${formatShape(x)} has rank ${x.length} but kernel_shape [${kernel.join(',')}] needs rank ${kernel.length + 2}`);
  }
  const w = windowParams(ctx, kernel, useDilations);
  const ceil = ctx.opset >= ceilSince && ctx.int('ceil_mode') === 1;
  const shape = [x[0] as Dim, x[1] as Dim, ...sweep(ctx, x, w, ceil)];
  return [{ elemType: ctx.elemType(0), shape }, { elemType: DataType.INT64, shape: [...shape] }];
}

function kernelSize(ctx: OpContext): number {
  return ctx.ints('kernel_shape').reduce((a, b) => a * b, 1);
}

function globalPoolShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'the output keeps its batch and channel dims');
  if (x.length < 2) ctx.fail(`input ${formatShape(x)} must have at least 2 dims [N, C, ...]`);
  return [{ elemType: ctx.elemType(0), shape: [x[0] as Dim, x[1] as Dim, ...x.slice(2).map(() => 1)] }];
}

// ---- Gemm and MatMul --------------------------------------------------------------------------

function gemmShape(ctx: OpContext): ValueType[] {
  const a = ctx.requireShape(0, 'A gives the output rows');
  const b = ctx.requireShape(1, 'B gives the output columns');
  if (a.length !== 2) ctx.fail(`A '${ctx.inputName(0)}' is ${formatShape(a)}; Gemm needs a 2-D A (insert a Flatten before it)`);
  if (b.length !== 2) ctx.fail(`B '${ctx.inputName(1)}' is ${formatShape(b)}; Gemm needs a 2-D B`);
  const transA = ctx.int('transA') !== 0;
  const transB = ctx.int('transB') !== 0;
  const [m, ka] = (transA ? [a[1], a[0]] : [a[0], a[1]]) as [Dim, Dim];
  const [kb, n] = (transB ? [b[1], b[0]] : [b[0], b[1]]) as [Dim, Dim];
  if (dimsConflict(ka, kb)) {
    ctx.fail(`A ${formatShape(a)}${transA ? ' (transposed)' : ''} has ${ka} columns but B ${formatShape(b)}${transB ? ' (transposed)' : ''} has ${kb} rows`);
  }
  const out: Dim[] = [m, n];
  const c = ctx.has(2) ? ctx.shape(2) : undefined;
  if (c) {
    const merged = broadcastShapes([out, c]);
    if (typeof merged === 'string' || merged.length !== 2 || merged.some((d, k) => dimsConflict(d, out[k] as Dim))) {
      ctx.fail(`C '${ctx.inputName(2)}' ${formatShape(c)} does not broadcast to the [M, N] = ${formatShape(out)} output`);
    }
  }
  return [{ elemType: ctx.elemType(0), shape: out }];
}

function gemmFlops(ctx: OpContext): number | undefined {
  const out = outputNumel(ctx);
  const a = ctx.shape(0);
  const k = a && (ctx.int('transA') !== 0 ? a[0] : a[1]);
  if (out === undefined || !isNum(k)) return undefined;
  let flops = 2 * out * k;
  if (ctx.float('alpha') !== 1) flops += out;
  if (ctx.has(2) && ctx.float('beta') !== 1) flops += out;
  return flops;
}

function matmulShape(ctx: OpContext): ValueType[] {
  const a = ctx.requireShape(0, 'MatMul broadcasts the batch dims of both operands');
  const b = ctx.requireShape(1, 'MatMul broadcasts the batch dims of both operands');
  if (a.length === 0 || b.length === 0) ctx.fail('MatMul operands must have rank >= 1 (scalars are not allowed)');
  const aa = a.length === 1 ? [1, a[0] as Dim] : a;
  const bb = b.length === 1 ? [b[0] as Dim, 1] : b;
  const ka = aa[aa.length - 1] as Dim;
  const kb = bb[bb.length - 2] as Dim;
  if (dimsConflict(ka, kb)) ctx.fail(`'${ctx.inputName(0)}' ${formatShape(a)} has ${ka} columns but '${ctx.inputName(1)}' ${formatShape(b)} has ${kb} rows`);
  const batch = broadcastShapes([aa.slice(0, -2), bb.slice(0, -2)]);
  if (typeof batch === 'string') ctx.fail(`batch dims of ${formatShape(a)} and ${formatShape(b)} do not broadcast (${batch})`);
  const out: Dim[] = [...batch];
  if (a.length > 1) out.push(aa[aa.length - 2] as Dim);
  if (b.length > 1) out.push(bb[bb.length - 1] as Dim);
  return [{ elemType: ctx.elemType(0), shape: out }];
}

function matmulFlops(ctx: OpContext): number | undefined {
  const out = outputNumel(ctx);
  const a = ctx.shape(0);
  const k = a?.[a.length - 1];
  return out === undefined || !isNum(k) ? undefined : 2 * out * k;
}

// ---- normalisation ----------------------------------------------------------------------------

function batchNormShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'the output has the shape of the input');
  if (x.length < 2) ctx.fail(`input ${formatShape(x)} must have at least 2 dims [N, C, ...]`);
  const c = x[1] as Dim;
  // Before opset 9 `spatial=0` gave per-element statistics of shape [C, D1, ...]; only check the usual form.
  const perChannel = ctx.opset >= 9 || ctx.int('spatial') === 1;
  if (perChannel) {
    for (let i = 1; i <= 4; i++) {
      const s = ctx.shape(i);
      if (s && s.length === 1 && dimsConflict(s[0] as Dim, c)) {
        ctx.fail(`'${ctx.inputName(i)}' (${ctx.info.inputs[i]?.name}) has ${s[0]} values but the input has ${c} channels`);
      }
    }
  }
  const statType = ctx.elemType(3) ?? ctx.elemType(0);
  const stat: ValueType = { elemType: statType, shape: [c] };
  return [{ elemType: ctx.elemType(0), shape: [...x] }, stat, { ...stat }, { ...stat }, { ...stat }];
}

function channelShape(ctx: OpContext): ValueType[] {
  const out = sameAsInput(ctx);
  const x = out[0]?.shape ?? [];
  if (x.length < 2) ctx.fail(`input ${formatShape(x)} must have at least 2 dims [N, C, ...]`);
  return out;
}

// ---- reductions -------------------------------------------------------------------------------

/** ReduceSum moved axes to an input in opset 13, the other reductions in opset 18. */
function reduceShape(ctx: OpContext, axesInputSince: number): ValueType[] {
  const x = ctx.requireShape(0, 'a reduction removes or keeps axes of its input');
  const keep = ctx.int('keepdims') !== 0;
  let axes: number[] | undefined;
  if (ctx.opset < axesInputSince) axes = ctx.optInts('axes');
  else if (ctx.has(1)) {
    axes = ctx.intValues(1);
    if (!axes) {
      // Axes computed at run time: the rank is known only when dims are kept.
      return [{ elemType: ctx.elemType(0), ...(keep ? { shape: x.map(() => null) } : {}) }];
    }
  }
  if (axes === undefined || axes.length === 0) {
    const noop = ctx.opset >= axesInputSince && ctx.int('noop_with_empty_axes') !== 0;
    if (noop) return [{ elemType: ctx.elemType(0), shape: [...x] }];
    axes = x.map((_, k) => k);
  }
  const reduced = new Set(axesIn(ctx, axes, x.length));
  const shape: Dim[] = [];
  x.forEach((d, k) => {
    if (!reduced.has(k)) shape.push(d);
    else if (keep) shape.push(1);
  });
  return [{ elemType: ctx.elemType(0), shape }];
}


function reduction(opType: string, what: string, axesInputSince: number, perInput: number, perOutput: number): OpInfo {
  return {
    opType, category: 'non-tensor',
    summary: `${what} over axes (all axes when none are given)`,
    inputs: [{ name: 'data' }, { name: 'axes', optional: true, since: axesInputSince, note: `an attribute before opset ${axesInputSince}` }],
    outputs: ['reduced'],
    attributes: {
      axes: { type: 'ints', whenAbsent: 'reduce over all axes', until: axesInputSince, note: `an input from opset ${axesInputSince}` },
      keepdims: { type: 'int', default: 1 },
      noop_with_empty_axes: { type: 'int', default: 0, since: axesInputSince },
    },
    inferShape: (ctx) => reduceShape(ctx, axesInputSince),
    flops: (ctx) => {
      const n = knownNumel(ctx.shape(0));
      const out = outputNumel(ctx);
      return n === undefined || out === undefined ? undefined : perInput * n + perOutput * out;
    },
    params: weightParams,
  };
}

function argReduction(opType: string, summary: string): OpInfo {
  return {
    opType, category: 'non-tensor', summary,
    inputs: [{ name: 'data' }], outputs: ['reduced'],
    attributes: {
      axis: { type: 'int', default: 0 },
      keepdims: { type: 'int', default: 1 },
      select_last_index: { type: 'int', default: 0, since: 12 },
    },
    inferShape: (ctx) => {
      const x = ctx.requireShape(0, 'the output drops or keeps the reduced axis');
      const axis = axisIn(ctx, ctx.int('axis'), x.length);
      const keep = ctx.int('keepdims') !== 0;
      const shape = keep ? x.map((d, k) => (k === axis ? 1 : d)) : x.filter((_, k) => k !== axis);
      return [{ elemType: DataType.INT64, shape }];
    },
    flops: (ctx) => {
      const n = knownNumel(ctx.shape(0));
      const out = outputNumel(ctx);
      return n === undefined || out === undefined ? undefined : n - out;
    },
    params: weightParams,
  };
}

// ---- softmax ----------------------------------------------------------------------------------

function softmaxShape(ctx: OpContext): ValueType[] {
  const out = sameAsInput(ctx);
  const rank = out[0]?.shape?.length ?? 0;
  axisIn(ctx, ctx.int('axis'), Math.max(rank, 1));
  return out;
}

const SOFTMAX_AXIS: AttrSpec = {
  type: 'int', default: -1, olderDefault: { until: 13, value: 1 },
  note: 'before opset 13 the input was coerced to 2-D at axis (default 1); from 13 the op runs along axis (default -1)',
};

// ---- the rows ---------------------------------------------------------------------------------

export const NN_OPS: readonly OpInfo[] = [
  {
    opType: 'Conv', category: 'tensor',
    summary: 'N-D convolution of X [N, C, D...] with W [M, C/group, k...] plus optional bias B [M]',
    inputs: [{ name: 'X' }, { name: 'W', weight: true }, { name: 'B', optional: true, weight: true }],
    outputs: ['Y'],
    attributes: { auto_pad: AUTO_PAD, dilations: DILATIONS, group: { type: 'int', default: 1 }, kernel_shape: KERNEL_FROM_W, pads: PADS, strides: STRIDES },
    inferShape: convShape, flops: convFlops, params: weightParams,
  },
  {
    opType: 'ConvTranspose', category: 'tensor',
    summary: 'transposed (fractionally strided) convolution; W is [C, M/group, k...]',
    inputs: [{ name: 'X' }, { name: 'W', weight: true }, { name: 'B', optional: true, weight: true }],
    outputs: ['Y'],
    attributes: {
      auto_pad: { ...AUTO_PAD, note: 'SAME_UPPER / SAME_LOWER: output = input * stride' },
      dilations: DILATIONS, group: { type: 'int', default: 1 }, kernel_shape: KERNEL_FROM_W,
      output_padding: { type: 'ints', whenAbsent: '0 along every spatial axis', note: 'extra size at the end of each axis' },
      output_shape: { type: 'ints', whenAbsent: 'computed from strides, pads, output_padding', note: 'when given, pads are derived from it' },
      pads: PADS, strides: STRIDES,
    },
    inferShape: convTransposeShape, flops: convTransposeFlops, params: weightParams,
  },
  {
    opType: 'Gemm', category: 'tensor',
    summary: 'Y = alpha * op(A) * op(B) + beta * C with op = optional transpose; A and B 2-D',
    inputs: [{ name: 'A', weight: true }, { name: 'B', weight: true }, { name: 'C', optional: true, weight: true, note: 'required before opset 11' }],
    outputs: ['Y'],
    attributes: {
      alpha: { type: 'float', default: 1.0 },
      beta: { type: 'float', default: 1.0 },
      broadcast: { type: 'int', default: 0, until: 7, note: 'opset 7 made C unidirectionally broadcastable always' },
      transA: { type: 'int', default: 0 },
      transB: { type: 'int', default: 0 },
    },
    inferShape: gemmShape, flops: gemmFlops, params: weightParams,
  },
  {
    opType: 'MatMul', category: 'tensor',
    summary: 'numpy matmul: batched matrix product with broadcasting and 1-D promotion',
    inputs: [{ name: 'A', weight: true }, { name: 'B', weight: true }],
    outputs: ['Y'],
    attributes: {},
    inferShape: matmulShape, flops: matmulFlops, params: weightParams,
  },
  {
    opType: 'BatchNormalization', category: 'non-tensor',
    summary: 'per-channel (x - mean) / sqrt(var + epsilon) * scale + B',
    inputs: [
      { name: 'X' }, { name: 'scale', weight: true }, { name: 'B', weight: true },
      { name: 'input_mean', weight: true }, { name: 'input_var', weight: true },
    ],
    outputs: ['Y', 'running_mean?', 'running_var?', 'saved_mean?', 'saved_var?'],
    attributes: {
      consumed_inputs: { type: 'ints', required: true, until: 6, note: 'legacy in-place hint of opset 1; ignored' },
      epsilon: { type: 'float', default: 1e-5 },
      is_test: { type: 'int', default: 0, until: 7 },
      momentum: { type: 'float', default: 0.9 },
      spatial: { type: 'int', default: 1, until: 9, note: '0 = statistics per element of [C, D1, ...]' },
      training_mode: { type: 'int', default: 0, since: 14, note: 'opset 14 replaced is_test-style outputs with running_mean/var' },
    },
    inferShape: batchNormShape, flops: perOutputElement(2), params: weightParams,
  },
  {
    opType: 'InstanceNormalization', category: 'non-tensor',
    summary: 'per-sample, per-channel normalisation over the spatial dims, then scale and B',
    inputs: [{ name: 'input' }, { name: 'scale', weight: true }, { name: 'B', weight: true }],
    outputs: ['output'],
    attributes: { consumed_inputs: CONSUMED_INPUTS, epsilon: { type: 'float', default: 1e-5 } },
    inferShape: channelShape,
    // mean (1 add/element), variance (sub, square, add), normalise (sub, mul) and affine (mul, add).
    flops: perOutputElement(8), params: weightParams,
  },
  {
    opType: 'LRN', category: 'non-tensor',
    summary: 'local response normalisation across channels: x / (bias + alpha/size * sum(x^2))^beta',
    inputs: [{ name: 'X' }],
    outputs: ['Y'],
    attributes: {
      alpha: { type: 'float', default: 0.0001 },
      beta: { type: 'float', default: 0.75 },
      bias: { type: 'float', default: 1.0 },
      size: { type: 'int', required: true, note: 'number of channels summed over' },
    },
    inferShape: channelShape,
    flops: (ctx) => {
      const n = outputNumel(ctx);
      return n === undefined ? undefined : n * (2 * ctx.int('size') + 4);
    },
    params: weightParams,
  },
  {
    opType: 'MaxPool', category: 'non-tensor',
    summary: 'max over sliding windows; optional second output of flat argmax indices',
    inputs: [{ name: 'X' }],
    outputs: ['Y', 'Indices?'],
    attributes: {
      auto_pad: AUTO_PAD,
      ceil_mode: { type: 'int', default: 0, since: 10, note: 'ceil: a last window starting inside the end padding is dropped' },
      dilations: { ...DILATIONS, since: 10 },
      kernel_shape: { type: 'ints', required: true },
      pads: PADS,
      storage_order: { type: 'int', default: 0, since: 8, note: 'row (0) or column (1) major Indices' },
      strides: STRIDES,
    },
    inferShape: (ctx) => poolShape(ctx, ctx.opset >= 10),
    flops: (ctx) => {
      const n = outputNumel(ctx);
      return n === undefined ? undefined : n * (kernelSize(ctx) - 1);
    },
    params: weightParams,
  },
  {
    opType: 'AveragePool', category: 'non-tensor',
    summary: 'mean over sliding windows',
    inputs: [{ name: 'X' }],
    outputs: ['Y'],
    attributes: {
      auto_pad: AUTO_PAD,
      ceil_mode: { type: 'int', default: 0, since: 10 },
      count_include_pad: { type: 'int', default: 0, since: 7, note: 'divide by the full window (1) or by the unpadded part (0)' },
      dilations: { ...DILATIONS, since: 19 },
      kernel_shape: { type: 'ints', required: true },
      pads: PADS,
      strides: STRIDES,
    },
    inferShape: (ctx) => poolShape(ctx, ctx.opset >= 19),
    flops: (ctx) => {
      const n = outputNumel(ctx);
      return n === undefined ? undefined : n * kernelSize(ctx);
    },
    params: weightParams,
  },
  {
    opType: 'LpPool', category: 'non-tensor',
    summary: 'Lp norm over sliding windows',
    inputs: [{ name: 'X' }],
    outputs: ['Y'],
    attributes: {
      auto_pad: AUTO_PAD,
      ceil_mode: { type: 'int', default: 0, since: 18 },
      dilations: { ...DILATIONS, since: 18 },
      kernel_shape: { type: 'ints', required: true },
      p: { type: 'int', default: 2, note: 'a float attribute in opset 1' },
      pads: PADS,
      strides: STRIDES,
    },
    inferShape: (ctx) => poolShape(ctx, ctx.opset >= 18, 18).slice(0, 1),
    // |x|^p per element of the window, kernel-1 adds, one root.
    flops: (ctx) => {
      const n = outputNumel(ctx);
      return n === undefined ? undefined : n * (2 * kernelSize(ctx) + 1);
    },
    params: weightParams,
  },
  {
    opType: 'GlobalLpPool', category: 'non-tensor',
    summary: 'Lp norm over all spatial positions: [N, C, D...] -> [N, C, 1...]',
    inputs: [{ name: 'X' }], outputs: ['Y'],
    attributes: { p: { type: 'int', default: 2, note: 'a float attribute in opset 1' } },
    inferShape: globalPoolShape,
    flops: (ctx) => {
      const n = knownNumel(ctx.shape(0));
      return n === undefined ? undefined : 2 * n;
    },
    params: weightParams,
  },
  {
    opType: 'LpNormalization', category: 'non-tensor',
    summary: 'x / ||x||_p along axis',
    inputs: [{ name: 'input' }], outputs: ['output'],
    attributes: { axis: { type: 'int', default: -1 }, p: { type: 'int', default: 2, note: '1 or 2' } },
    inferShape: softmaxShape,
    // |x|^p, sum, root, divide.
    flops: perOutputElement(4), params: weightParams,
  },
  {
    opType: 'GlobalAveragePool', category: 'non-tensor',
    summary: 'mean over all spatial positions: [N, C, D...] -> [N, C, 1...]',
    inputs: [{ name: 'X' }], outputs: ['Y'], attributes: {},
    inferShape: globalPoolShape,
    flops: (ctx) => knownNumel(ctx.shape(0)),
    params: weightParams,
  },
  {
    opType: 'GlobalMaxPool', category: 'non-tensor',
    summary: 'max over all spatial positions: [N, C, D...] -> [N, C, 1...]',
    inputs: [{ name: 'X' }], outputs: ['Y'], attributes: {},
    inferShape: globalPoolShape,
    flops: (ctx) => {
      const n = knownNumel(ctx.shape(0));
      const out = outputNumel(ctx);
      return n === undefined || out === undefined ? undefined : n - out;
    },
    params: weightParams,
  },
  {
    opType: 'Dropout', category: 'non-tensor',
    summary: 'identity at inference; random zeroing with 1/(1-ratio) scaling when training',
    inputs: [
      { name: 'data' },
      { name: 'ratio', optional: true, since: 12, note: 'was an attribute before opset 12' },
      { name: 'training_mode', optional: true, since: 12 },
    ],
    outputs: ['output', 'mask?'],
    attributes: {
      consumed_inputs: CONSUMED_INPUTS,
      is_test: { type: 'int', default: 0, until: 7 },
      ratio: { type: 'float', default: 0.5, until: 12, note: 'an input from opset 12' },
      seed: { type: 'int', whenAbsent: 'seeded by the runtime', since: 12 },
    },
    inferShape: (ctx) => {
      const [y] = sameAsInput(ctx);
      // The mask is bool from opset 10; before, it had the data's type.
      return [y as ValueType, { elemType: ctx.opset >= 10 ? DataType.BOOL : ctx.elemType(0), shape: [...(y?.shape ?? [])] }];
    },
    flops: free, params: weightParams,
  },
  {
    opType: 'Softmax', category: 'non-tensor',
    summary: 'exp(x) / sum(exp(x)) along axis',
    inputs: [{ name: 'input' }], outputs: ['output'],
    attributes: { axis: SOFTMAX_AXIS },
    inferShape: softmaxShape, flops: perOutputElement(5), params: weightParams,
  },
  {
    opType: 'LogSoftmax', category: 'non-tensor',
    summary: 'log of softmax along axis',
    inputs: [{ name: 'input' }], outputs: ['output'],
    attributes: { axis: SOFTMAX_AXIS },
    inferShape: softmaxShape, flops: perOutputElement(5), params: weightParams,
  },
  reduction('ReduceMean', 'mean', 18, 1, 0), // (n - 1) adds and a divide per output element
  reduction('ReduceSum', 'sum', 13, 1, -1),
  reduction('ReduceMax', 'max', 18, 1, -1),
  reduction('ReduceMin', 'min', 18, 1, -1),
  reduction('ReduceProd', 'product', 18, 1, -1),
  reduction('ReduceL1', 'sum of |x|', 18, 2, -1),
  reduction('ReduceL2', 'sqrt of the sum of squares', 18, 2, 0),
  reduction('ReduceSumSquare', 'sum of squares', 18, 2, -1),
  reduction('ReduceLogSum', 'log of the sum', 18, 1, 0),
  reduction('ReduceLogSumExp', 'log of the sum of exp (max-shifted)', 18, 4, 0),
  argReduction('ArgMax', 'index of the largest element along axis'),
  argReduction('ArgMin', 'index of the smallest element along axis'),
  {
    opType: 'Hardmax', category: 'non-tensor',
    summary: '1 at the first maximum along axis, 0 elsewhere',
    inputs: [{ name: 'input' }], outputs: ['output'],
    attributes: { axis: SOFTMAX_AXIS },
    inferShape: softmaxShape, flops: perOutputElement(1), params: weightParams,
  },
  {
    opType: 'LayerNormalization', category: 'non-tensor',
    summary: 'normalise over the dims from axis on, then Scale and B (opset 17)',
    inputs: [{ name: 'X' }, { name: 'Scale', weight: true }, { name: 'B', optional: true, weight: true }],
    outputs: ['Y', 'Mean?', 'InvStdDev?'],
    attributes: {
      axis: { type: 'int', default: -1 },
      epsilon: { type: 'float', default: 1e-5 },
      stash_type: { type: 'int', default: 1, note: 'element type of Mean and InvStdDev' },
    },
    inferShape: (ctx) => {
      const x = ctx.requireShape(0, 'the output has the shape of the input');
      const axis = axisIn(ctx, ctx.int('axis'), x.length);
      const stat: ValueType = { elemType: ctx.int('stash_type'), shape: x.map((d, k) => (k < axis ? d : 1)) };
      return [{ elemType: ctx.elemType(0), shape: [...x] }, stat, { ...stat, shape: [...(stat.shape ?? [])] }];
    },
    flops: perOutputElement(8), params: weightParams,
  },
  {
    opType: 'MeanVarianceNormalization', category: 'non-tensor',
    summary: '(x - mean) / sqrt(variance) over axes',
    inputs: [{ name: 'X' }], outputs: ['Y'],
    attributes: { axes: { type: 'ints', default: [0, 2, 3] } },
    inferShape: sameAsInput, flops: perOutputElement(7), params: weightParams,
  },
  {
    opType: 'TopK', category: 'non-tensor',
    summary: 'the k largest (or smallest) elements along axis and their indices',
    inputs: [{ name: 'X' }, { name: 'K', since: 10, note: 'the k attribute before opset 10' }],
    outputs: ['Values', 'Indices'],
    attributes: {
      axis: { type: 'int', default: -1 },
      k: { type: 'int', required: true, until: 10 },
      largest: { type: 'int', default: 1, since: 11 },
      sorted: { type: 'int', default: 1, since: 11 },
    },
    inferShape: (ctx) => {
      const x = ctx.requireShape(0, 'TopK keeps the other dims of its input');
      const axis = axisIn(ctx, ctx.int('axis'), x.length);
      const k = ctx.opset < 10 ? ctx.int('k') : ctx.intValues(1)?.[0];
      const shape = [...x];
      shape[axis] = k ?? null;
      return [{ elemType: ctx.elemType(0), shape }, { elemType: DataType.INT64, shape: [...shape] }];
    },
    // A partial sort: about log2(k) comparisons per input element.
    flops: (ctx) => {
      const n = knownNumel(ctx.shape(0));
      const k = ctx.output(0)?.shape?.[axisIn(ctx, ctx.int('axis'), ctx.shape(0)?.length ?? 1)];
      return n === undefined || !isNum(k) ? undefined : n * Math.max(1, Math.ceil(Math.log2(k + 1)));
    },
    params: weightParams,
  },
];


// Window geometry shared by Conv, ConvTranspose and the pools: explicit pads from auto_pad, output sizes
// (with ONNX Runtime's ceil_mode rule), the ConvTranspose settings that make it the exact adjoint of a
// strided window op, and AveragePool divisors. Pure functions over static sizes, so they can be tested
// against ONNX Runtime directly (test/autodiff/geometry.test.ts). The per-axis output size and SAME pads
// are the shape engine's (src/ops/dims.ts), so gradients and shape inference cannot disagree on them.
import type { Node } from '../ir/graph.js';
import { getInt, getInts, getString } from '../ir/attributes.js';
import { RebirthError } from '../errors.js';
import { samePads, windowOutput } from '../ops/dims.js';

/** Per spatial axis: kernel extent, stride, dilation and explicit pads. */
export interface WindowGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  padsEnd: number[];
}

function nodeLabel(node: Node): string {
  return `node '${node.name || node.opType}' (${node.opType})`;
}

/**
 * Explicit pads for Conv / MaxPool / AveragePool. SAME_UPPER puts the odd pad at the end, SAME_LOWER at
 * the beginning (ONNX spec; ORT agrees, checked in the geometry test).
 */
export function windowGeometry(node: Node, inSpatial: readonly number[], kernel: readonly number[]): WindowGeometry {
  const r = kernel.length;
  const strides = getInts(node, 'strides', new Array<number>(r).fill(1));
  const dilations = getInts(node, 'dilations', new Array<number>(r).fill(1));
  const autoPad = getString(node, 'auto_pad', 'NOTSET');
  const pads = getInts(node, 'pads', new Array<number>(2 * r).fill(0));
  if (strides.length !== r || dilations.length !== r || pads.length !== 2 * r || inSpatial.length !== r) {
    throw new RebirthError(`${nodeLabel(node)}: strides/dilations/pads do not match the ${r} spatial axes of its input; fix the node's attributes`);
  }
  const padsBegin = pads.slice(0, r);
  const padsEnd = pads.slice(r);
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    for (let i = 0; i < r; i++) {
      [padsBegin[i], padsEnd[i]] = samePads(inSpatial[i] as number, kernel[i] as number, strides[i] as number, dilations[i] as number, autoPad === 'SAME_UPPER');
    }
  } else if (autoPad === 'VALID') {
    padsBegin.fill(0);
    padsEnd.fill(0);
  } else if (autoPad !== 'NOTSET') {
    throw new RebirthError(`${nodeLabel(node)}: unknown auto_pad '${autoPad}'; use NOTSET, SAME_UPPER, SAME_LOWER or VALID`);
  }
  return { kernel: [...kernel], strides, dilations, padsBegin, padsEnd };
}

/**
 * Whether ONNX shape inference (ceil alone, as embedded in ORT 1.30) and ORT's kernel (which drops a window
 * starting past the input and its begin pad) disagree on a ceil_mode output size. When they do, any
 * static-shaped value computed from the kernel's size fails ORT's model check.
 */
export function ceilModeDisagrees(g: WindowGeometry, inSpatial: readonly number[]): boolean {
  return inSpatial.some((n, i) => {
    const span = n + (g.padsBegin[i] as number) + (g.padsEnd[i] as number) - (((g.kernel[i] as number) - 1) * (g.dilations[i] as number) + 1);
    return Math.ceil(span / (g.strides[i] as number)) + 1 !== windowOutput(n, g.kernel[i] as number, g.strides[i] as number, g.dilations[i] as number, g.padsBegin[i] as number, g.padsEnd[i] as number, true);
  });
}

export function outputSpatial(g: WindowGeometry, inSpatial: readonly number[], ceilMode: boolean): number[] {
  return inSpatial.map((n, i) => windowOutput(n, g.kernel[i] as number, g.strides[i] as number, g.dilations[i] as number, g.padsBegin[i] as number, g.padsEnd[i] as number, ceilMode));
}

/**
 * Settings that make ConvTranspose(dY) the exact adjoint of a window op mapping an input of size `inSize`
 * to `outSize` windows: ConvTranspose writes window o at full position o*s + k*d, and full position p maps to
 * input position p - padBegin. Its full extent is T = s*(out-1) + d*(k-1) + 1; we keep pads_begin and choose
 * the end so the result has exactly `inSize` elements: pads_end = T - padBegin - inSize when that is >= 0
 * (positions past the input are cropped), otherwise output_padding = -(that) (trailing input positions no
 * window reaches, which get gradient 0). For Conv, -(that) = r - padEnd with r = (in + pads - extent) % s < s,
 * so output_padding stays below the stride as ONNX requires.
 */
export function adjointTransposeSettings(inSize: number, outSize: number, kernel: number, stride: number, dilation: number, padBegin: number): { padBegin: number; padEnd: number; outputPadding: number } {
  const full = stride * (outSize - 1) + dilation * (kernel - 1) + 1;
  const end = full - padBegin - inSize;
  return end >= 0 ? { padBegin, padEnd: end, outputPadding: 0 } : { padBegin, padEnd: 0, outputPadding: -end };
}

/**
 * AveragePool divisor of each output position along one axis, as ONNX Runtime computes it:
 * count_include_pad=1 counts the window clipped to the padded input [−padBegin, in + padEnd) (so a ceil_mode
 * window hanging past the end pad counts fewer), count_include_pad=0 counts only real input positions.
 * The divisor of an N-d window is the product over axes.
 */
export function avgPoolAxisCounts(inSize: number, outSize: number, kernel: number, stride: number, padBegin: number, padEnd: number, countIncludePad: boolean): number[] {
  const counts: number[] = [];
  for (let o = 0; o < outSize; o++) {
    const start = o * stride - padBegin;
    const end = start + kernel;
    counts.push(countIncludePad
      ? Math.min(end, inSize + padEnd) - start
      : Math.min(end, inSize) - Math.max(start, 0));
  }
  return counts;
}

/** Divisors over all spatial axes (row-major), from per-axis counts. */
export function outerProduct(axes: readonly (readonly number[])[]): number[] {
  let out = [1];
  for (const axis of axes) {
    const next: number[] = [];
    for (const v of out) for (const c of axis) next.push(v * c);
    out = next;
  }
  return out;
}

/**
 * Explicit pads of a ConvTranspose: from `pads`, or from output_shape / auto_pad (spec and ORT agree:
 * SAME_UPPER puts floor(total/2) at the beginning, everything else puts the larger half there).
 */
export function convTransposeGeometry(node: Node, inSpatial: readonly number[], kernel: readonly number[]): WindowGeometry & { outputPadding: number[]; outSpatial: number[] } {
  const r = kernel.length;
  const strides = getInts(node, 'strides', new Array<number>(r).fill(1));
  const dilations = getInts(node, 'dilations', new Array<number>(r).fill(1));
  const outputPadding = getInts(node, 'output_padding', new Array<number>(r).fill(0));
  const outputShape = getInts(node, 'output_shape');
  const autoPad = getString(node, 'auto_pad', 'NOTSET');
  const pads = getInts(node, 'pads', new Array<number>(2 * r).fill(0));
  const padsBegin = pads.slice(0, r);
  const padsEnd = pads.slice(r);
  const full = inSpatial.map((n, i) => (strides[i] as number) * (n - 1) + (outputPadding[i] as number) + ((kernel[i] as number) - 1) * (dilations[i] as number) + 1);
  const target = outputShape
    ? outputShape.slice(outputShape.length - r)
    : autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER' ? inSpatial.map((n, i) => n * (strides[i] as number)) : undefined;
  if (target) {
    for (let i = 0; i < r; i++) {
      const total = Math.max(0, (full[i] as number) - (target[i] as number));
      const half = Math.floor(total / 2);
      padsBegin[i] = autoPad === 'SAME_UPPER' ? half : total - half;
      padsEnd[i] = total - (padsBegin[i] as number);
    }
  } else if (autoPad === 'VALID') {
    padsBegin.fill(0);
    padsEnd.fill(0);
  }
  const outSpatial = full.map((t, i) => t - (padsBegin[i] as number) - (padsEnd[i] as number));
  return { kernel: [...kernel], strides, dilations, padsBegin, padsEnd, outputPadding, outSpatial };
}

/** group attribute with its default. */
export function groupOf(node: Node): number {
  return getInt(node, 'group', 1);
}

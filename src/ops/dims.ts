/**
 * Arithmetic on dimensions that may be numbers, symbolic names (ONNX dim_param, e.g. a batch 'N') or
 * unknown (null). Symbols pass through unchanged where the spec keeps a dimension; any arithmetic that
 * involves a symbol or an unknown yields null, except where a symbol provably cancels (Reshape's -1).
 */
import type { Dim } from '../ir/graph.js';

export function isNum(d: Dim | undefined): d is number {
  return typeof d === 'number';
}

export function allNums(dims: readonly Dim[] | undefined): dims is number[] {
  return dims !== undefined && dims.every(isNum);
}

/** Product of the dims when all are numbers; a lone symbol times 1s stays that symbol. */
export function dimProduct(dims: readonly Dim[]): Dim {
  let n = 1;
  let symbol: string | undefined;
  for (const d of dims) {
    if (d === null) return null;
    if (typeof d === 'string') {
      if (symbol !== undefined) return null;
      symbol = d;
    } else n *= d;
  }
  if (symbol === undefined) return n;
  return n === 1 ? symbol : null;
}

/** Number of elements when every dim is known. */
export function knownNumel(shape: readonly Dim[] | undefined): number | undefined {
  if (!allNums(shape)) return undefined;
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Two dims that must be equal: the better known one, or undefined when they contradict. */
export function unifyDims(a: Dim, b: Dim): Dim | undefined {
  if (a === null) return b;
  if (b === null) return a;
  if (isNum(a) && isNum(b)) return a === b ? a : undefined;
  if (isNum(a)) return a;
  if (isNum(b)) return b;
  // Two symbols: different names may still be equal at run time, so keep the first.
  return a;
}

/** Two dims known to differ (both numbers and unequal). */
export function dimsConflict(a: Dim, b: Dim): boolean {
  return isNum(a) && isNum(b) && a !== b;
}

/**
 * Multidirectional (numpy) broadcasting of any number of shapes. Returns the shape, or a message naming
 * the first conflicting axis (counted from the left of the result).
 */
export function broadcastShapes(shapes: readonly (readonly Dim[])[]): Dim[] | string {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let k = 0; k < rank; k++) {
    let acc: Dim = 1;
    let sawUnknown = false;
    for (const s of shapes) {
      const d = s[k - (rank - s.length)];
      if (d === undefined || d === 1) continue;
      if (d === null) {
        sawUnknown = true;
        continue;
      }
      if (acc === 1) acc = d;
      else if (isNum(acc) && isNum(d)) {
        if (acc !== d) return `axis ${k}: ${acc} vs ${d}`;
      } else if (isNum(d)) acc = d;
      else if (!isNum(acc) && acc !== d) acc = null; // two different symbols: one of them must be 1 or both equal
    }
    // An unknown dim broadcast against 1s (or nothing) could be anything; against a number n != 1 it must be n.
    if (sawUnknown && (acc === 1 || typeof acc === 'string')) acc = null;
    out.push(acc);
  }
  return out;
}

/** An axis in [-rank, rank) normalised to [0, rank); undefined when out of range. */
export function normalizeAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}

export function formatShape(shape: readonly Dim[] | undefined): string {
  if (shape === undefined) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

/**
 * Output length of a sliding window along one axis (Conv, pooling): explicit pads, dilation and the
 * ceil_mode rule of ONNX Runtime / PyTorch (onnx/onnx#5741): in ceil mode a last window that would start
 * inside the end padding is dropped.
 */
export function windowOutput(input: number, kernel: number, stride: number, dilation: number, padBegin: number, padEnd: number, ceil: boolean): number {
  const effectiveKernel = (kernel - 1) * dilation + 1;
  const span = input + padBegin + padEnd - effectiveKernel;
  let out = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  if (ceil && (out - 1) * stride >= input + padBegin) out -= 1;
  return out;
}

/**
 * Padding that auto_pad SAME_UPPER / SAME_LOWER implies for an input length (the extra pixel of an odd
 * total goes to the end for SAME_UPPER, to the beginning for SAME_LOWER).
 */
export function samePads(input: number, kernel: number, stride: number, dilation: number, upper: boolean): [number, number] {
  const out = Math.ceil(input / stride);
  const total = Math.max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - input);
  const small = Math.floor(total / 2);
  return upper ? [small, total - small] : [total - small, small];
}

/** Rules shared by many rows of the op table. */
import type { Dim } from '../ir/graph.js';
import { DataType } from '../ir/tensor.js';
import { isFloatType, type OpContext } from './context.js';
import { allNums, broadcastShapes, formatShape, knownNumel, normalizeAxis } from './dims.js';
import { MAX_FOLDED_ELEMENTS, type ValueType } from './types.js';

/** Output 0 has input 0's element type and shape. */
export function sameAsInput(ctx: OpContext): ValueType[] {
  const shape = ctx.requireShape(0, 'its output has the shape of its input');
  return [{ elemType: ctx.elemType(0), shape: [...shape] }];
}

/** Output 0 is a copy of input 0, contents included (Identity). */
export function copyOfInput(ctx: OpContext): ValueType[] {
  const [out] = sameAsInput(ctx);
  const value = ctx.input(0)?.value;
  return [{ ...out, ...(value ? { value } : {}) }];
}

/** Elements of output i when every dim is a number. */
export function outputNumel(ctx: OpContext, i = 0): number | undefined {
  return knownNumel(ctx.output(i)?.shape);
}

export function inputNumel(ctx: OpContext, i = 0): number | undefined {
  return knownNumel(ctx.shape(i));
}

/** FLOPs rule: `cost` operations per output element. */
export function perOutputElement(cost: number): (ctx: OpContext) => number | undefined {
  return (ctx) => {
    const n = outputNumel(ctx);
    return n === undefined ? undefined : cost * n;
  };
}

/** FLOPs rule for data movement. */
export function free(): number {
  return 0;
}

/** Params rule: floating-point constants in weight slots. */
export function weightParams(ctx: OpContext): number {
  return ctx.weightElements();
}

/** Broadcast the shapes of the given inputs, failing with both shapes named on a conflict. */
export function broadcastInputs(ctx: OpContext, indices: readonly number[]): Dim[] {
  const shapes = indices.map((i) => ctx.requireShape(i, 'broadcasting needs every operand\'s rank'));
  const out = broadcastShapes(shapes);
  if (typeof out === 'string') {
    const list = indices.map((i, k) => `'${ctx.inputName(i)}' ${formatShape(shapes[k])}`).join(' and ');
    ctx.fail(`cannot broadcast ${list} (${out}); the operands need equal dims or 1s`);
  }
  return out;
}

/** Axis attribute/input value checked against a rank. */
export function axisIn(ctx: OpContext, axis: number, rank: number, what = 'axis'): number {
  const a = normalizeAxis(axis, rank);
  if (a === undefined) ctx.fail(`${what} ${axis} is out of range for an input of rank ${rank}; use a value in [${-rank}, ${rank - 1}]`);
  return a;
}

/** Axes checked against a rank, normalised, and free of duplicates. */
export function axesIn(ctx: OpContext, axes: readonly number[], rank: number, what = 'axes'): number[] {
  const out = axes.map((a) => axisIn(ctx, a, rank, what));
  if (new Set(out).size !== out.length) ctx.fail(`${what} [${axes.join(',')}] name the same axis twice`);
  return out;
}

export function isIntegerType(elemType: number | undefined): boolean {
  return elemType === DataType.INT64 || elemType === DataType.INT32 || elemType === DataType.INT16 || elemType === DataType.INT8
    || elemType === DataType.UINT64 || elemType === DataType.UINT32 || elemType === DataType.UINT16 || elemType === DataType.UINT8;
}

/** Integer and floating-point types (not bool, string or complex). */
export function isNumericType(elemType: number | undefined): boolean {
  return isIntegerType(elemType) || isFloatType(elemType);
}

/** Row-major strides of a numeric shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let k = shape.length - 2; k >= 0; k--) strides[k] = (strides[k + 1] as number) * (shape[k + 1] as number);
  return strides;
}

/** Known contents whose length matches a numeric shape (so flat indices can be computed), else undefined. */
export function valueOfShape(value: readonly Dim[] | undefined, shape: readonly Dim[] | undefined): Dim[] | undefined {
  const n = knownNumel(shape);
  return value && n !== undefined && value.length === n ? [...value] : undefined;
}

/** Rounds a folded result to the precision the element type holds, so folded constants equal what the runtime computes. */
export function roundTo(elemType: number | undefined, x: number): number {
  if (elemType === DataType.FLOAT) return Math.fround(x);
  if (isIntegerType(elemType)) return Math.trunc(x);
  return x;
}

/**
 * Elementwise fold with numpy broadcasting at any rank: the contents of the output of shape `out` when
 * every operand's shape is numeric and its contents are known, and the output has at most
 * MAX_FOLDED_ELEMENTS elements. Elements whose operands are not all numbers (symbolic dims) are null;
 * so are non-finite results (integer division by zero).
 */
export function foldBroadcast(
  shapes: readonly (readonly Dim[] | undefined)[], values: readonly (readonly Dim[] | undefined)[], out: readonly Dim[],
  op: (args: number[]) => number,
): Dim[] | undefined {
  if (!allNums(out)) return undefined;
  const n = knownNumel(out) as number;
  if (n > MAX_FOLDED_ELEMENTS) return undefined;
  const operands: { value: Dim[]; strides: number[] }[] = [];
  for (let i = 0; i < shapes.length; i++) {
    const s = shapes[i];
    const v = valueOfShape(values[i], s);
    if (!s || !allNums(s) || !v || s.length > out.length) return undefined;
    const own = stridesOf(s);
    // Aligned to the right; a broadcast (size-1 or missing) axis reads the same element all along.
    const strides = out.map((_, k) => {
      const j = k - (out.length - s.length);
      return j < 0 || s[j] === 1 ? 0 : (own[j] as number);
    });
    operands.push({ value: v, strides });
  }
  const outStrides = stridesOf(out);
  const result: Dim[] = [];
  for (let flat = 0; flat < n; flat++) {
    const args: number[] = [];
    for (const o of operands) {
      let at = 0;
      let rest = flat;
      for (let k = 0; k < out.length; k++) {
        const idx = Math.floor(rest / (outStrides[k] as number));
        rest -= idx * (outStrides[k] as number);
        at += idx * (o.strides[k] as number);
      }
      const x = o.value[at];
      if (typeof x === 'number') args.push(x);
    }
    if (args.length !== operands.length) {
      result.push(null);
      continue;
    }
    const r = op(args);
    result.push(Number.isFinite(r) ? r : null);
  }
  return result;
}

/** For each output element of a gather-like op, the flat input index it reads (row-major index maps per axis). */
export function gatherIndices(shape: readonly number[], picks: readonly (readonly number[])[]): number[] {
  const strides = stridesOf(shape);
  let flat: number[] = [0];
  picks.forEach((list, k) => {
    const next: number[] = [];
    for (const base of flat) for (const i of list) next.push(base + i * (strides[k] as number));
    flat = next;
  });
  return flat;
}

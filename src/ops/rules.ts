/** Rules shared by many rows of the op table. */
import type { Dim } from '../ir/graph.js';
import { DataType } from '../ir/tensor.js';
import { isFloatType, type OpContext } from './context.js';
import { broadcastShapes, formatShape, knownNumel, normalizeAxis } from './dims.js';
import type { ValueType } from './types.js';

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

/**
 * Elementwise arithmetic on known integer contents (shape arithmetic such as batch*channels), for
 * scalars and 1-D values; symbols and unknowns make the element unknown.
 */
export function foldBinary(a: readonly Dim[] | undefined, b: readonly Dim[] | undefined, op: (x: number, y: number) => number): Dim[] | undefined {
  if (!a || !b) return undefined;
  if (a.length !== b.length && a.length !== 1 && b.length !== 1) return undefined;
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let k = 0; k < n; k++) {
    const x = a.length === 1 ? a[0] : a[k];
    const y = b.length === 1 ? b[0] : b[k];
    if (typeof x !== 'number' || typeof y !== 'number') {
      out.push(null);
      continue;
    }
    const r = op(x, y);
    out.push(Number.isFinite(r) ? r : null);
  }
  return out;
}

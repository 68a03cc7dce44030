/**
 * Rows for shape and constant plumbing (category 'other'): Constant, Shape, Size, Gather, Cast,
 * ConstantOfShape. Their integer results are folded into ValueType.value so that exported
 * Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains give exact shapes.
 */
import type { Dim, Node } from '../ir/graph.js';
import { findAttr } from '../ir/attributes.js';
import { DataType, floatTensor, int64Tensor, numel, tensorToNumbers, type Tensor } from '../ir/tensor.js';
import type { OpContext, OpInfo } from './context.js';
import { dimProduct, formatShape, isNum } from './dims.js';
import { axisIn, free, gatherIndices, isIntegerType, roundTo, valueOfShape, weightParams } from './rules.js';
import { MAX_FOLDED_ELEMENTS, type ValueType } from './types.js';

/** The tensor a Constant node produces, when its attribute holds one rebirth can read. */
export function constantTensorOf(node: Node): Tensor | undefined {
  const name = node.outputs[0] ?? '';
  for (const a of node.attributes) {
    switch (a.name) {
      case 'value':
        if (a.kind === 'tensor') return { ...a.value, name };
        break;
      case 'value_float':
        if (a.kind === 'float') return floatTensor(name, [], [a.value]);
        break;
      case 'value_floats':
        if (a.kind === 'floats') return floatTensor(name, [a.value.length], a.value);
        break;
      case 'value_int':
        if (a.kind === 'int') return int64Tensor(name, [], [a.value]);
        break;
      case 'value_ints':
        if (a.kind === 'ints') return int64Tensor(name, [a.value.length], a.value);
        break;
      case 'value_string':
        if (a.kind === 'string') return { name, dataType: DataType.STRING, dims: [], strings: [a.value], storage: 'typed', docString: '' };
        break;
      case 'value_strings':
        if (a.kind === 'strings') return { name, dataType: DataType.STRING, dims: [a.value.length], strings: a.value, storage: 'typed', docString: '' };
        break;
      default:
        break;
    }
  }
  return undefined;
}

/** The one element of a numeric or bool tensor (ConstantOfShape's fill), when rebirth can read it exactly. */
function scalarOf(t: Tensor): number | undefined {
  if (!t.data || numel(t.dims) !== 1) return undefined;
  if (t.dataType === DataType.BOOL || t.dataType === DataType.UINT8) return t.data[0];
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (t.dataType === DataType.FLOAT) return view.getFloat32(0, true);
  if (t.dataType === DataType.DOUBLE) return view.getFloat64(0, true);
  const v = foldedValue(t)?.[0];
  return typeof v === 'number' ? v : undefined;
}

/** Contents of a small integer tensor as dims, for folding. */
export function foldedValue(t: Tensor): Dim[] | undefined {
  if (!t.data || numel(t.dims) > MAX_FOLDED_ELEMENTS) return undefined;
  // Bool contents are 0 / 1 (an If condition, a mask in shape arithmetic).
  if (t.dataType === DataType.BOOL) return Array.from(t.data, (b) => (b ? 1 : 0));
  if (t.dataType !== DataType.INT64 && t.dataType !== DataType.INT32) return undefined;
  return tensorToNumbers(t);
}

function constantShape(ctx: OpContext): ValueType[] {
  const t = constantTensorOf(ctx.node);
  if (t) {
    const value = foldedValue(t);
    return [{ elemType: t.dataType, shape: [...t.dims], ...(value ? { value } : {}) }];
  }
  const sparse = findAttr(ctx.node, 'sparse_value');
  if (sparse?.kind === 'opaque' && sparse.value.sparseTensor) {
    const st = sparse.value.sparseTensor;
    return [{ elemType: st.values?.dataType, shape: st.dims.map((d) => Number(d)) }];
  }
  ctx.fail('has no value attribute (value, value_float(s), value_int(s), value_string(s) or sparse_value)');
}

function shapeShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'Shape returns the input\'s dims');
  const rank = x.length;
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const start = ctx.opset >= 15 ? clamp(ctx.int('start')) : 0;
  const end = ctx.opset >= 15 ? clamp(ctx.optInt('end') ?? rank) : rank;
  const dims = x.slice(start, Math.max(start, end));
  return [{ elemType: DataType.INT64, shape: [dims.length], value: dims }];
}

function sizeShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'Size counts the input\'s elements');
  const n = dimProduct(x);
  return [{ elemType: DataType.INT64, shape: [], value: [n] }];
}

function gatherShape(ctx: OpContext): ValueType[] {
  const data = ctx.requireShape(0, 'Gather keeps the data dims around axis');
  const indices = ctx.requireShape(1, 'the indices\' dims replace the gathered axis');
  if (data.length === 0) ctx.fail('data must have rank >= 1');
  const axis = axisIn(ctx, ctx.int('axis'), data.length);
  const shape = [...data.slice(0, axis), ...indices, ...data.slice(axis + 1)];
  const result: ValueType = { elemType: ctx.elemType(0), shape };
  const value = valueOfShape(ctx.input(0)?.value, data);
  const idx = ctx.intValues(1);
  if (value && idx && data.every(isNum) && indices.every(isNum)) {
    const n = data[axis] as number;
    if (!idx.every((i) => i >= -n && i < n)) ctx.fail(`indices [${idx.join(',')}] are out of range for axis ${axis} of data ${formatShape(data)}`);
    const all = (d: number): number[] => Array.from({ length: d }, (_, i) => i);
    const picks = data.map((d, k) => (k === axis ? idx.map((i) => (i < 0 ? i + n : i)) : all(d)));
    const flat = gatherIndices(data, picks);
    if (flat.length <= MAX_FOLDED_ELEMENTS) result.value = flat.map((i) => value[i] as Dim);
  }
  return [result];
}

/** Cast-1 named the target type with a string ("FLOAT"); later opsets use the DataType code. */
function castTarget(ctx: OpContext): number {
  const a = findAttr(ctx.node, 'to');
  if (a?.kind === 'string') {
    const name = new TextDecoder().decode(a.value).toUpperCase();
    const code = (DataType as Record<string, number>)[name];
    if (code === undefined) ctx.fail(`attribute 'to' names an unknown type '${name}'`);
    return code;
  }
  return ctx.int('to');
}

function castShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'Cast keeps the input\'s shape');
  const to = castTarget(ctx);
  const value = ctx.input(0)?.value;
  // Known contents survive casts between numeric types (they are integers, exact in float too).
  const out: ValueType = { elemType: to, shape: [...x] };
  if (value && (isIntegerType(to) || to === DataType.FLOAT || to === DataType.DOUBLE || to === DataType.BOOL)) {
    // Integer targets truncate (the C cast ONNX specifies); FLOAT rounds to single precision; BOOL is x != 0.
    if (to === DataType.BOOL) out.value = value.map((d) => (typeof d === 'number' ? (d !== 0 ? 1 : 0) : null));
    else out.value = value.map((d) => (typeof d === 'number' ? (Number.isFinite(d) ? roundTo(to, d) : null) : d));
  }
  return [out];
}

function constantOfShapeShape(ctx: OpContext): ValueType[] {
  const fill = findAttr(ctx.node, 'value');
  const elemType = fill?.kind === 'tensor' ? fill.value.dataType : DataType.FLOAT;
  const dims = ctx.value(0);
  if (dims) {
    if (dims.some((d) => isNum(d) && d < 0)) ctx.fail(`shape [${dims.join(',')}] has a negative size`);
    const out: ValueType = { elemType, shape: dims };
    // Integer fills of small shapes are shape arithmetic (e.g. a run of 1s appended to a shape).
    const n = dims.every(isNum) ? dims.reduce((a, b) => a * b, 1) : undefined;
    const fillValue = fill?.kind === 'tensor' ? scalarOf(fill.value) : 0;
    if (n !== undefined && n <= MAX_FOLDED_ELEMENTS && fillValue !== undefined) out.value = Array<Dim>(n).fill(fillValue);
    return [out];
  }
  const s = ctx.shape(0);
  const len = s?.length === 1 ? s[0] : undefined;
  return [{ elemType, ...(isNum(len) ? { shape: Array<Dim>(len).fill(null) } : {}) }];
}

function rangeShape(ctx: OpContext): ValueType[] {
  const elemType = ctx.elemType(0);
  const [start, limit, delta] = [ctx.numbers(0)?.[0], ctx.numbers(1)?.[0], ctx.numbers(2)?.[0]];
  if (start === undefined || limit === undefined || delta === undefined) return [{ elemType, shape: [null] }];
  if (delta === 0) ctx.fail('delta must not be 0');
  const n = Math.max(0, Math.ceil((limit - start) / delta));
  const out: ValueType = { elemType, shape: [n] };
  if ((elemType === DataType.INT64 || elemType === DataType.INT32) && n <= MAX_FOLDED_ELEMENTS) {
    out.value = Array.from({ length: n }, (_, k) => start + k * delta);
  }
  return [out];
}

export const PLUMBING_OPS: readonly OpInfo[] = [
  {
    opType: 'Constant', category: 'other',
    summary: 'a constant tensor held in an attribute',
    inputs: [], outputs: ['output'],
    attributes: {
      sparse_value: { type: 'tensor', whenAbsent: 'exactly one value* attribute must be given', since: 11 },
      value: { type: 'tensor', whenAbsent: 'exactly one value* attribute must be given' },
      value_float: { type: 'float', whenAbsent: 'exactly one value* attribute must be given', since: 12 },
      value_floats: { type: 'floats', whenAbsent: 'exactly one value* attribute must be given', since: 12 },
      value_int: { type: 'int', whenAbsent: 'exactly one value* attribute must be given', since: 12 },
      value_ints: { type: 'ints', whenAbsent: 'exactly one value* attribute must be given', since: 12 },
      value_string: { type: 'string', whenAbsent: 'exactly one value* attribute must be given', since: 12 },
      value_strings: { type: 'strings', whenAbsent: 'exactly one value* attribute must be given', since: 12 },
    },
    inferShape: constantShape, flops: free,
    // The consumer counts a Constant's tensor when it sits in one of its weight slots.
    params: () => 0,
  },
  {
    opType: 'Shape', category: 'other',
    summary: 'the input\'s dims (optionally a [start, end) slice of them) as a 1-D int64 tensor',
    inputs: [{ name: 'data' }], outputs: ['shape'],
    attributes: {
      end: { type: 'int', whenAbsent: 'the rank (to the last dim)', since: 15 },
      start: { type: 'int', default: 0, since: 15 },
    },
    inferShape: shapeShape, flops: free, params: () => 0,
  },
  {
    opType: 'Size', category: 'other',
    summary: 'the input\'s element count as an int64 scalar',
    inputs: [{ name: 'data' }], outputs: ['size'], attributes: {},
    inferShape: sizeShape, flops: free, params: () => 0,
  },
  {
    opType: 'Gather', category: 'other',
    summary: 'take entries of data along axis at the given indices',
    inputs: [{ name: 'data', weight: true, note: 'a constant table here is an embedding: its elements are parameters' }, { name: 'indices' }],
    outputs: ['output'],
    attributes: { axis: { type: 'int', default: 0 } },
    inferShape: gatherShape, flops: free, params: weightParams,
  },
  {
    opType: 'Cast', category: 'other',
    summary: 'convert elements to another type',
    inputs: [{ name: 'input' }], outputs: ['output'],
    attributes: {
      round_mode: { type: 'string', default: 'up', since: 25, note: 'float8e8m0 targets only' },
      saturate: { type: 'int', default: 1, since: 19, note: 'float8 targets only' },
      to: { type: 'int', required: true, note: 'a TensorProto.DataType code; a type name string in opset 1' },
    },
    inferShape: castShape, flops: free, params: () => 0,
  },
  {
    opType: 'ConstantOfShape', category: 'other',
    summary: 'a tensor of the given shape filled with one value (opset 9)',
    inputs: [{ name: 'input' }], outputs: ['output'],
    attributes: { value: { type: 'tensor', whenAbsent: 'float32 zero' } },
    inferShape: constantOfShapeShape, flops: free, params: () => 0,
  },
  {
    opType: 'CastLike', category: 'other',
    summary: 'convert elements to the type of the second input (opset 15)',
    inputs: [{ name: 'input' }, { name: 'target_type' }], outputs: ['output'],
    attributes: {
      round_mode: { type: 'string', default: 'up', since: 25, note: 'float8e8m0 targets only' },
      saturate: { type: 'int', default: 1, since: 19, note: 'float8 targets only' },
    },
    inferShape: (ctx) => [{ elemType: ctx.elemType(1), shape: [...ctx.requireShape(0, 'CastLike keeps the input\'s shape')] }],
    flops: free, params: () => 0,
  },
  {
    opType: 'Range', category: 'other',
    summary: 'start, start + delta, ... up to (excluding) limit (opset 11)',
    inputs: [{ name: 'start' }, { name: 'limit' }, { name: 'delta' }], outputs: ['output'], attributes: {},
    inferShape: rangeShape, flops: free, params: () => 0,
  },
  {
    opType: 'EyeLike', category: 'other',
    summary: 'a 2-D tensor of the input\'s shape with ones on diagonal k (opset 9)',
    inputs: [{ name: 'input' }], outputs: ['output'],
    attributes: { dtype: { type: 'int', whenAbsent: 'the input\'s element type' }, k: { type: 'int', default: 0 } },
    inferShape: (ctx) => {
      const x = ctx.requireShape(0, 'the output has the input\'s shape');
      if (x.length !== 2) ctx.fail(`input ${formatShape(x)} must be 2-D`);
      return [{ elemType: ctx.optInt('dtype') ?? ctx.elemType(0), shape: [...x] }];
    },
    flops: free, params: () => 0,
  },
  {
    opType: 'OneHot', category: 'other',
    summary: 'one-hot encoding: a depth-sized axis inserted at axis, values [off, on] (opset 9)',
    inputs: [{ name: 'indices' }, { name: 'depth' }, { name: 'values' }], outputs: ['output'],
    attributes: { axis: { type: 'int', default: -1, note: 'in [-r-1, r] for indices of rank r' } },
    inferShape: (ctx) => {
      const indices = ctx.requireShape(0, 'the output inserts one axis into the indices\' shape');
      const axis = axisIn(ctx, ctx.int('axis'), indices.length + 1);
      // A non-integer depth is cast to int64 (truncated) by the spec.
      const depth = ctx.numbers(1)?.[0];
      const shape = [...indices];
      shape.splice(axis, 0, depth === undefined ? null : Math.trunc(depth));
      return [{ elemType: ctx.elemType(2), shape }];
    },
    flops: free, params: () => 0,
  },
  {
    opType: 'RandomUniformLike', category: 'other',
    summary: 'uniform random numbers in [low, high) shaped like the input',
    inputs: [{ name: 'input' }], outputs: ['output'],
    attributes: {
      dtype: { type: 'int', whenAbsent: 'the input\'s element type' },
      high: { type: 'float', default: 1.0 },
      low: { type: 'float', default: 0.0 },
      seed: { type: 'float', whenAbsent: 'seeded by the runtime' },
    },
    inferShape: (ctx) => [{ elemType: ctx.optInt('dtype') ?? ctx.elemType(0), shape: [...ctx.requireShape(0, 'the output has the input\'s shape')] }],
    flops: free, params: () => 0,
  },
  {
    opType: 'RandomNormalLike', category: 'other',
    summary: 'normal random numbers (mean, scale) shaped like the input',
    inputs: [{ name: 'input' }], outputs: ['output'],
    attributes: {
      dtype: { type: 'int', whenAbsent: 'the input\'s element type' },
      mean: { type: 'float', default: 0.0 },
      scale: { type: 'float', default: 1.0 },
      seed: { type: 'float', whenAbsent: 'seeded by the runtime' },
    },
    inferShape: (ctx) => [{ elemType: ctx.optInt('dtype') ?? ctx.elemType(0), shape: [...ctx.requireShape(0, 'the output has the input\'s shape')] }],
    flops: free, params: () => 0,
  },
  {
    opType: 'NonZero', category: 'other',
    summary: 'indices of the non-zero elements, [rank, count] (opset 9)',
    inputs: [{ name: 'X' }], outputs: ['Y'], attributes: {},
    inferShape: (ctx) => [{ elemType: DataType.INT64, shape: [ctx.requireShape(0, 'the output has one row per input dim').length, null] }],
    flops: free, params: () => 0,
  },
];

// Static shape and element-type inference for the forward graph the gradient rules read. Symbolic dims
// (dim_param, typically the batch) are carried through; a dim that cannot be known is null and a value
// whose rank cannot be known has no shape. Rules that need a static size (a Conv's spatial extent for its
// output_padding, an AveragePool's divisors) ask for it and fail with a message naming the node.
import type { Dim, Graph, Node } from '../ir/graph.js';
import { DataType, tensorToNumbers, type Tensor } from '../ir/tensor.js';
import { getInt, getInts, getTensor } from '../ir/attributes.js';
import { convTransposeGeometry, outputSpatial, windowGeometry } from './geometry.js';

export interface ValueType {
  elemType?: number;
  shape?: Dim[];
}

/** What is known about each value: type, shape, and the numbers held by small integer constants. */
export class ShapeInfo {
  readonly types = new Map<string, ValueType>();
  /** Values of integer constants (initializers and Constant nodes): shapes, axes, pads, splits. */
  readonly consts = new Map<string, number[]>();

  shape(name: string): Dim[] | undefined {
    return this.types.get(name)?.shape;
  }

  elemType(name: string): number | undefined {
    return this.types.get(name)?.elemType;
  }

  set(name: string, t: ValueType): void {
    if (!name) return;
    const prev = this.types.get(name);
    this.types.set(name, { elemType: t.elemType ?? prev?.elemType, shape: t.shape ?? prev?.shape });
  }
}

const SAME_SHAPE = new Set([
  'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Clip', 'HardSwish', 'HardSigmoid', 'Elu', 'Selu', 'Softplus', 'Softsign',
  'Identity', 'Softmax', 'LogSoftmax', 'Hardmax', 'LRN', 'Neg', 'Exp', 'Log', 'Sqrt', 'Abs', 'Reciprocal', 'Erf',
  'Floor', 'Ceil', 'Round', 'Sign', 'Sin', 'Cos', 'Dropout', 'InstanceNormalization', 'LpNormalization',
  'RandomUniformLike', 'RandomNormalLike', 'PRelu', 'Mish', 'Gelu', 'CumSum', 'Not',
]);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sum', 'Max', 'Min', 'Mean', 'Mod', 'Where', 'And', 'Or', 'Xor',
  'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'BitShift']);
const BOOL_OUT = new Set(['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Xor', 'Not', 'IsNaN', 'IsInf']);

/** Broadcast two dims (numpy rules); unknown when it cannot be decided statically. */
function broadcastDim(a: Dim, b: Dim): Dim {
  if (a === b) return a;
  if (a === 1) return b;
  if (b === 1) return a;
  if (typeof a === 'number' && a !== 1 && typeof b !== 'number') return a;
  if (typeof b === 'number' && b !== 1 && typeof a !== 'number') return b;
  return null;
}

export function broadcastShapes(shapes: readonly (Dim[] | undefined)[]): Dim[] | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const rank = Math.max(...shapes.map((s) => (s as Dim[]).length));
  const out: Dim[] = new Array<Dim>(rank).fill(1);
  for (const s of shapes as Dim[][]) {
    const off = rank - s.length;
    s.forEach((d, i) => { out[off + i] = broadcastDim(out[off + i] as Dim, d); });
  }
  return out;
}

/** Product of dims: a number when all are numbers, the symbol when it is the only non-unit factor, else null. */
export function productDim(dims: readonly Dim[]): Dim {
  let n = 1;
  const symbols: Dim[] = [];
  for (const d of dims) {
    if (typeof d === 'number') n *= d;
    else symbols.push(d);
  }
  if (symbols.length === 0) return n;
  if (symbols.length === 1 && n === 1 && typeof symbols[0] === 'string') return symbols[0];
  return null;
}

export function allNumeric(dims: readonly Dim[] | undefined): dims is number[] {
  return dims !== undefined && dims.every((d) => typeof d === 'number');
}

const normAxis = (a: number, rank: number): number => (a < 0 ? a + rank : a);

function tensorConst(t: Tensor): number[] | undefined {
  if (t.dataType !== DataType.INT64 && t.dataType !== DataType.INT32) return undefined;
  if (t.dims.reduce((a, b) => a * b, 1) > 64) return undefined;
  return tensorToNumbers(t);
}

/**
 * Infer types and shapes of every value of `graph`, starting from its inputs, initializers and any
 * value_info it declares (used where inference cannot tell).
 */
export function inferShapes(graph: Graph): ShapeInfo {
  const info = new ShapeInfo();
  for (const v of graph.inputs) info.set(v.name, { elemType: v.elemType, shape: v.shape });
  for (const [name, t] of graph.initializers) {
    info.set(name, { elemType: t.dataType, shape: [...t.dims] });
    const c = tensorConst(t);
    if (c) info.consts.set(name, c);
  }
  const declared = new Map<string, { elemType?: number; shape?: Dim[] }>();
  for (const v of [...graph.valueInfo, ...graph.outputs]) declared.set(v.name, v);
  for (const node of graph.nodes) {
    inferNode(node, info);
    for (const o of node.outputs) {
      const d = declared.get(o);
      if (o && d) info.set(o, { elemType: d.elemType, shape: d.shape });
    }
  }
  return info;
}

/** Shape rules for one node; outputs it cannot tell are left unknown. Exposed for hooks that add nodes. */
export function inferNode(node: Node, info: ShapeInfo): void {
  const ins = node.inputs.map((i) => (i ? info.types.get(i) : undefined));
  const x = ins[0];
  const xs = x?.shape;
  const et = x?.elemType;
  const out = (k: number, t: ValueType): void => {
    const name = node.outputs[k];
    if (name) info.set(name, t);
  };
  const constOf = (k: number): number[] | undefined => {
    const n = node.inputs[k];
    return n ? info.consts.get(n) : undefined;
  };
  const op = node.opType;
  if (SAME_SHAPE.has(op)) {
    out(0, { elemType: BOOL_OUT.has(op) ? DataType.BOOL : et, shape: xs });
    if (op === 'Dropout') out(1, { elemType: DataType.BOOL, shape: xs });
    return;
  }
  if (BROADCAST.has(op)) {
    const shapes = ins.map((t) => t?.shape);
    const elem = BOOL_OUT.has(op) ? DataType.BOOL : op === 'Where' ? ins[1]?.elemType : et;
    out(0, { elemType: elem, shape: broadcastShapes(shapes) });
    return;
  }
  switch (op) {
    case 'Constant': {
      const t = getTensor(node, 'value');
      if (t) {
        out(0, { elemType: t.dataType, shape: [...t.dims] });
        const c = tensorConst(t);
        if (c && node.outputs[0]) info.consts.set(node.outputs[0], c);
      } else {
        const ints = getInts(node, 'value_ints');
        const i = getInt(node, 'value_int');
        if (ints && node.outputs[0]) {
          out(0, { elemType: DataType.INT64, shape: [ints.length] });
          info.consts.set(node.outputs[0], ints);
        } else if (i !== undefined && node.outputs[0]) {
          out(0, { elemType: DataType.INT64, shape: [] });
          info.consts.set(node.outputs[0], [i]);
        }
      }
      return;
    }
    case 'Cast':
      out(0, { elemType: getInt(node, 'to'), shape: xs });
      return;
    case 'Shape': {
      if (!xs) { out(0, { elemType: DataType.INT64 }); return; }
      const start = normAxis(getInt(node, 'start', 0), xs.length);
      const endAttr = getInt(node, 'end');
      const end = endAttr === undefined ? xs.length : normAxis(endAttr, xs.length);
      const dims = xs.slice(Math.max(0, start), Math.min(xs.length, end));
      out(0, { elemType: DataType.INT64, shape: [dims.length] });
      if (allNumeric(dims) && node.outputs[0]) info.consts.set(node.outputs[0], dims);
      return;
    }
    case 'Size':
      out(0, { elemType: DataType.INT64, shape: [] });
      return;
    case 'Conv': {
      const ws = ins[1]?.shape;
      if (!xs || !ws) { out(0, { elemType: et }); return; }
      const spatial = xs.slice(2);
      const kernel = getInts(node, 'kernel_shape') ?? ws.slice(2);
      let outSp: Dim[] = spatial.map(() => null);
      if (allNumeric(spatial) && allNumeric(kernel)) outSp = outputSpatial(windowGeometry(node, spatial, kernel), spatial, false);
      out(0, { elemType: et, shape: [xs[0] ?? null, ws[0] ?? null, ...outSp] });
      return;
    }
    case 'ConvTranspose': {
      const ws = ins[1]?.shape;
      if (!xs || !ws) { out(0, { elemType: et }); return; }
      const spatial = xs.slice(2);
      const kernel = getInts(node, 'kernel_shape') ?? ws.slice(2);
      const group = getInt(node, 'group', 1);
      const ch = typeof ws[1] === 'number' ? ws[1] * group : null;
      let outSp: Dim[] = spatial.map(() => null);
      if (allNumeric(spatial) && allNumeric(kernel)) outSp = convTransposeGeometry(node, spatial, kernel).outSpatial;
      out(0, { elemType: et, shape: [xs[0] ?? null, ch, ...outSp] });
      return;
    }
    case 'MaxPool':
    case 'AveragePool':
    case 'LpPool': {
      if (!xs) { out(0, { elemType: et }); return; }
      const spatial = xs.slice(2);
      const kernel = getInts(node, 'kernel_shape', []);
      let outSp: Dim[] = spatial.map(() => null);
      if (allNumeric(spatial)) outSp = outputSpatial(windowGeometry(node, spatial, kernel), spatial, getInt(node, 'ceil_mode', 0) === 1);
      const shape = [xs[0] ?? null, xs[1] ?? null, ...outSp];
      out(0, { elemType: et, shape });
      out(1, { elemType: DataType.INT64, shape });
      return;
    }
    case 'GlobalAveragePool':
    case 'GlobalMaxPool':
    case 'GlobalLpPool':
      out(0, { elemType: et, shape: xs ? [xs[0] ?? null, xs[1] ?? null, ...xs.slice(2).map(() => 1)] : undefined });
      return;
    case 'BatchNormalization':
      out(0, { elemType: et, shape: xs });
      for (let k = 1; k < node.outputs.length; k++) out(k, { elemType: et, shape: xs ? [xs[1] ?? null] : undefined });
      return;
    case 'Gemm': {
      const as = xs;
      const bs = ins[1]?.shape;
      const m = as ? (getInt(node, 'transA', 0) ? as[1] : as[0]) : null;
      const n = bs ? (getInt(node, 'transB', 0) ? bs[0] : bs[1]) : null;
      out(0, { elemType: et, shape: [m ?? null, n ?? null] });
      return;
    }
    case 'MatMul': {
      const as = xs;
      const bs = ins[1]?.shape;
      if (!as || !bs) { out(0, { elemType: et }); return; }
      const a2 = as.length === 1 ? [1, as[0] ?? null] : as;
      const b2 = bs.length === 1 ? [bs[0] ?? null, 1] : bs;
      const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)]) ?? [];
      const shape: Dim[] = [...batch];
      if (as.length > 1) shape.push(a2[a2.length - 2] ?? null);
      if (bs.length > 1) shape.push(b2[b2.length - 1] ?? null);
      out(0, { elemType: et, shape });
      return;
    }
    case 'Concat': {
      const shapes = ins.map((t) => t?.shape);
      if (shapes.some((s) => !s)) { out(0, { elemType: et }); return; }
      const first = shapes[0] as Dim[];
      const axis = normAxis(getInt(node, 'axis', 0), first.length);
      const shape = [...first];
      shape[axis] = productSum(shapes.map((s) => (s as Dim[])[axis] ?? null));
      out(0, { elemType: et, shape });
      return;
    }
    case 'Split': {
      if (!xs) { node.outputs.forEach((_, k) => out(k, { elemType: et })); return; }
      const axis = normAxis(getInt(node, 'axis', 0), xs.length);
      const split = constOf(1) ?? getInts(node, 'split');
      const total = xs[axis];
      const n = node.outputs.length;
      node.outputs.forEach((_, k) => {
        let size: Dim = null;
        if (split) size = split[k] ?? null;
        else if (typeof total === 'number') {
          const chunk = Math.ceil(total / n);
          size = k < n - 1 ? chunk : total - chunk * (n - 1);
        }
        const shape = [...xs];
        shape[axis] = size;
        out(k, { elemType: et, shape });
      });
      return;
    }
    case 'Flatten': {
      if (!xs) { out(0, { elemType: et }); return; }
      const axis = normAxis(getInt(node, 'axis', 1), xs.length);
      out(0, { elemType: et, shape: [productDim(xs.slice(0, axis)), productDim(xs.slice(axis))] });
      return;
    }
    case 'Reshape': {
      const target = constOf(1);
      out(0, { elemType: et, shape: target ? reshapeDims(xs, target, getInt(node, 'allowzero', 0) === 1) : undefined });
      return;
    }
    case 'Transpose': {
      if (!xs) { out(0, { elemType: et }); return; }
      const perm = getInts(node, 'perm') ?? xs.map((_, i) => xs.length - 1 - i);
      out(0, { elemType: et, shape: perm.map((p) => xs[p] ?? null) });
      return;
    }
    case 'Squeeze': {
      if (!xs) { out(0, { elemType: et }); return; }
      const axes = (constOf(1) ?? getInts(node, 'axes'))?.map((a) => normAxis(a, xs.length));
      out(0, { elemType: et, shape: axes ? xs.filter((_, i) => !axes.includes(i)) : allNumeric(xs) ? xs.filter((d) => d !== 1) : undefined });
      return;
    }
    case 'Unsqueeze': {
      const axes = constOf(1) ?? getInts(node, 'axes');
      if (!xs || !axes) { out(0, { elemType: et }); return; }
      const rank = xs.length + axes.length;
      const norm = axes.map((a) => normAxis(a, rank));
      const shape: Dim[] = [];
      let j = 0;
      for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : (xs[j++] ?? null));
      out(0, { elemType: et, shape });
      return;
    }
    case 'ReduceSum': case 'ReduceMean': case 'ReduceMax': case 'ReduceMin': case 'ReduceProd':
    case 'ReduceL1': case 'ReduceL2': case 'ReduceLogSum': case 'ReduceLogSumExp': case 'ReduceSumSquare': {
      if (!xs) { out(0, { elemType: et }); return; }
      const axesIn = node.inputs[1] ? constOf(1) : getInts(node, 'axes');
      if (node.inputs[1] && !axesIn) { out(0, { elemType: et }); return; }
      const keep = getInt(node, 'keepdims', 1) === 1;
      const noop = getInt(node, 'noop_with_empty_axes', 0) === 1;
      if ((!axesIn || axesIn.length === 0) && noop) { out(0, { elemType: et, shape: xs }); return; }
      const axes = axesIn && axesIn.length ? axesIn.map((a) => normAxis(a, xs.length)) : xs.map((_, i) => i);
      const shape = keep ? xs.map((d, i) => (axes.includes(i) ? 1 : d)) : xs.filter((_, i) => !axes.includes(i));
      out(0, { elemType: et, shape });
      return;
    }
    case 'ArgMax': case 'ArgMin': {
      if (!xs) { out(0, { elemType: DataType.INT64 }); return; }
      const axis = normAxis(getInt(node, 'axis', 0), xs.length);
      const keep = getInt(node, 'keepdims', 1) === 1;
      out(0, { elemType: DataType.INT64, shape: keep ? xs.map((d, i) => (i === axis ? 1 : d)) : xs.filter((_, i) => i !== axis) });
      return;
    }
    case 'Gather': {
      const is = ins[1]?.shape;
      if (!xs || !is) { out(0, { elemType: et }); return; }
      const axis = normAxis(getInt(node, 'axis', 0), xs.length);
      out(0, { elemType: et, shape: [...xs.slice(0, axis), ...is, ...xs.slice(axis + 1)] });
      return;
    }
    case 'Pad': {
      const pads = constOf(1);
      if (!xs || !pads || node.inputs[3]) { out(0, { elemType: et }); return; }
      const r = xs.length;
      out(0, { elemType: et, shape: xs.map((d, i) => (typeof d === 'number' ? d + (pads[i] ?? 0) + (pads[i + r] ?? 0) : pads[i] === 0 && pads[i + r] === 0 ? d : null)) });
      return;
    }
    case 'Slice': {
      const starts = constOf(1);
      const ends = constOf(2);
      if (!xs || !starts || !ends) { out(0, { elemType: et }); return; }
      const axes = (node.inputs[3] ? constOf(3) : xs.map((_, i) => i).slice(0, starts.length)) ?? [];
      const steps = node.inputs[4] ? constOf(4) : undefined;
      const shape = [...xs];
      axes.forEach((a0, j) => {
        const a = normAxis(a0, xs.length);
        const d = xs[a];
        const step = steps?.[j] ?? 1;
        if (typeof d !== 'number' || step <= 0) { shape[a] = null; return; }
        const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
        const s = clamp(starts[j] ?? 0);
        const e = clamp(ends[j] ?? d);
        shape[a] = Math.max(0, Math.ceil((e - s) / step));
      });
      out(0, { elemType: et, shape });
      return;
    }
    case 'ConstantOfShape': {
      const dims = constOf(0);
      const v = getTensor(node, 'value');
      out(0, { elemType: v?.dataType ?? DataType.FLOAT, shape: dims });
      return;
    }
    case 'Expand': {
      const dims = constOf(1);
      out(0, { elemType: et, shape: dims ? broadcastShapes([xs, dims]) : undefined });
      return;
    }
    case 'OneHot': {
      const depth = constOf(1);
      if (!xs) return;
      const axis = getInt(node, 'axis', -1);
      const r = xs.length + 1;
      const a = normAxis(axis, r);
      const shape = [...xs];
      shape.splice(a, 0, depth?.[0] ?? null);
      out(0, { elemType: ins[2]?.elemType, shape });
      return;
    }
    default:
      return;
  }
}

function productSum(dims: readonly Dim[]): Dim {
  let n = 0;
  for (const d of dims) {
    if (typeof d !== 'number') return null;
    n += d;
  }
  return n;
}

/** Reshape target dims: 0 copies the input dim (unless allowzero), one -1 is solved when the sizes allow. */
function reshapeDims(xs: Dim[] | undefined, target: readonly number[], allowZero: boolean): Dim[] {
  const dims: Dim[] = target.map((t, i) => (t === 0 && !allowZero ? (xs?.[i] ?? null) : t === -1 ? -1 : t));
  const minus = dims.indexOf(-1);
  if (minus < 0) return dims;
  dims[minus] = null;
  if (!xs) return dims;
  // Cancel symbolic dims present on both sides, then solve with the numbers left.
  const inRest = [...xs];
  const outRest = dims.filter((_, i) => i !== minus);
  for (const d of [...outRest]) {
    if (typeof d === 'string') {
      const j = inRest.indexOf(d);
      if (j >= 0) {
        inRest.splice(j, 1);
        outRest.splice(outRest.indexOf(d), 1);
      }
    }
  }
  if (allNumeric(inRest) && allNumeric(outRest)) {
    const p = outRest.reduce((a, b) => a * b, 1);
    if (p > 0) dims[minus] = inRest.reduce((a, b) => a * b, 1) / p;
  } else if (allNumeric(outRest) && outRest.reduce((a, b) => a * b, 1) === 1) {
    dims[minus] = productDim(inRest);
  } else if (allNumeric(outRest)) {
    const sym = inRest.filter((d) => typeof d !== 'number');
    const num = inRest.filter((d): d is number => typeof d === 'number').reduce((a, b) => a * b, 1);
    const p = outRest.reduce((a, b) => a * b, 1);
    if (sym.length === 1 && typeof sym[0] === 'string' && num === p) dims[minus] = sym[0];
  }
  return dims;
}

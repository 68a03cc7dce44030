/**
 * Rows for ops that move data without arithmetic: Concat, Split, Flatten, Reshape, Transpose,
 * Identity, Pad, Slice, Squeeze, Unsqueeze, Expand.
 */
import type { Dim } from '../ir/graph.js';
import type { OpContext, OpInfo } from './context.js';
import { broadcastShapes, dimProduct, formatShape, isNum, knownNumel, unifyDims } from './dims.js';
import { axesIn, axisIn, copyOfInput, foldBroadcast, free, gatherIndices, sameAsInput, valueOfShape, weightParams } from './rules.js';
import { MAX_FOLDED_ELEMENTS, type AttrSpec, type ValueType } from './types.js';

// ---- Concat -----------------------------------------------------------------------------------

function concatShape(ctx: OpContext): ValueType[] {
  const indices = ctx.node.inputs.map((_, i) => i).filter((i) => ctx.has(i));
  if (indices.length === 0) ctx.fail('needs at least one input');
  const shapes = indices.map((i) => ctx.requireShape(i, 'Concat joins inputs of equal rank'));
  const first = shapes[0] as Dim[];
  const rank = first.length;
  const axis = axisIn(ctx, ctx.int('axis'), rank);
  const out = [...first];
  let total: Dim = 0;
  shapes.forEach((s, k) => {
    const name = ctx.inputName(indices[k] as number);
    if (s.length !== rank) ctx.fail(`input '${name}' ${formatShape(s)} has rank ${s.length}, but '${ctx.inputName(indices[0] as number)}' ${formatShape(first)} has rank ${rank}`);
    s.forEach((d, j) => {
      if (j === axis) return;
      const u = unifyDims(out[j] as Dim, d);
      if (u === undefined) {
        ctx.fail(`input '${name}' ${formatShape(s)} differs from ${formatShape(out)} on axis ${j}; all inputs must match except on the concat axis ${axis}`);
      }
      out[j] = u;
    });
    const d = s[axis] as Dim;
    total = isNum(total) && isNum(d) ? total + d : d === 0 ? total : total === 0 ? d : null;
  });
  out[axis] = total;
  const result: ValueType = { elemType: ctx.elemType(indices[0] as number), shape: out };
  const parts = indices.map((i, k) => valueOfShape(ctx.value(i), shapes[k]));
  if (parts.every((p) => p !== undefined) && knownNumel(out) !== undefined && (knownNumel(out) as number) <= MAX_FOLDED_ELEMENTS) {
    // Row-major: for each index before the axis, every input contributes its whole [axis, ...] block in turn.
    const outer = knownNumel(out.slice(0, axis)) as number;
    const value: Dim[] = [];
    for (let o = 0; o < outer; o++) {
      parts.forEach((p, k) => {
        const block = (knownNumel((shapes[k] as Dim[]).slice(axis)) as number);
        value.push(...(p).slice(o * block, (o + 1) * block));
      });
    }
    result.value = value;
  }
  return [result];
}

// ---- Split ------------------------------------------------------------------------------------

function splitShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'the pieces keep the input\'s other dims');
  const axis = axisIn(ctx, ctx.int('axis'), x.length);
  const count = ctx.node.outputs.length;
  const dim = x[axis] as Dim;
  // `split` is an attribute before opset 13 (opset 1 also accepted it as an input), an input from 13.
  const splitFromInput = ctx.opset >= 13 || ctx.opset < 2;
  let sizes: Dim[];
  if (splitFromInput && ctx.has(1)) {
    const given = ctx.intValues(1);
    sizes = given ?? Array<Dim>(count).fill(null);
    if (given) checkSplit(ctx, given, count, dim, x, axis);
  } else if (ctx.opset < 13 && ctx.hasAttr('split')) {
    const given = ctx.ints('split');
    checkSplit(ctx, given, count, dim, x, axis);
    sizes = given;
  } else if (ctx.opset >= 18 && ctx.hasAttr('num_outputs')) {
    const n = ctx.int('num_outputs');
    if (n !== count) ctx.fail(`num_outputs is ${n} but the node has ${count} outputs`);
    // Opset 18: chunks of ceil(dim / n), the last one smaller when dim does not divide.
    if (!isNum(dim)) sizes = Array<Dim>(count).fill(null);
    else {
      const chunk = Math.ceil(dim / n);
      sizes = Array.from({ length: n }, (_, k) => Math.max(0, Math.min(chunk, dim - chunk * k)));
    }
  } else {
    if (isNum(dim) && dim % count !== 0) {
      ctx.fail(`axis ${axis} of ${formatShape(x)} has ${dim} elements, which do not split into ${count} equal parts; give split sizes`);
    }
    sizes = Array<Dim>(count).fill(isNum(dim) ? dim / count : null);
  }
  return sizes.map((s) => {
    const shape = [...x];
    shape[axis] = s;
    return { elemType: ctx.elemType(0), shape };
  });
}

function checkSplit(ctx: OpContext, split: number[], count: number, dim: Dim, x: Dim[], axis: number): void {
  if (split.length !== count) ctx.fail(`split [${split.join(',')}] has ${split.length} sizes but the node has ${count} outputs`);
  const sum = split.reduce((a, b) => a + b, 0);
  if (isNum(dim) && sum !== dim) ctx.fail(`split [${split.join(',')}] sums to ${sum} but axis ${axis} of ${formatShape(x)} has ${dim}`);
}

// ---- Flatten ----------------------------------------------------------------------------------

function flattenShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'Flatten multiplies the dims before and after axis');
  const axis = ctx.int('axis');
  const a = axis < 0 ? axis + x.length : axis;
  if (a < 0 || a > x.length) ctx.fail(`axis ${axis} is out of range for an input of rank ${x.length}; use a value in [${-x.length}, ${x.length}]`);
  const value = ctx.input(0)?.value;
  return [{ elemType: ctx.elemType(0), shape: [dimProduct(x.slice(0, a)), dimProduct(x.slice(a))], ...(value ? { value } : {}) }];
}

// ---- Reshape ----------------------------------------------------------------------------------

/** A dim list as (numeric product, multiset of symbols), or undefined when some dim is unknown. */
function factor(dims: readonly Dim[]): { n: number; symbols: string[] } | undefined {
  let n = 1;
  const symbols: string[] = [];
  for (const d of dims) {
    if (d === null) return undefined;
    if (typeof d === 'string') symbols.push(d);
    else n *= d;
  }
  return { n, symbols: symbols.sort() };
}

/** Remove `sub` from the multiset `from`; undefined when `sub` is not contained. */
function without(from: readonly string[], sub: readonly string[]): string[] | undefined {
  const rest = [...from];
  for (const s of sub) {
    const k = rest.indexOf(s);
    if (k < 0) return undefined;
    rest.splice(k, 1);
  }
  return rest;
}

function reshapeShape(ctx: OpContext): ValueType[] {
  const elemType = ctx.elemType(0);
  let target: Dim[] | undefined;
  if (ctx.opset < 5) target = ctx.optInts('shape');
  else target = ctx.value(1);
  if (!target) {
    // Shape computed at run time: its length still gives the rank.
    const s = ctx.shape(1);
    const len = s?.length === 1 ? s[0] : undefined;
    return [{ elemType, ...(isNum(len) ? { shape: Array<Dim>(len).fill(null) } : {}) }];
  }
  const allowZero = ctx.opset >= 14 && ctx.int('allowzero') !== 0;
  let x: Dim[] | undefined = ctx.shape(0);
  const out: Dim[] = target.map((d, k) => {
    if (d !== 0 || allowZero) return d;
    x ??= ctx.requireShape(0, `a 0 in the target shape copies the input's dim ${k}`);
    if (k >= x.length) ctx.fail(`target shape [${target?.join(',')}] copies dim ${k} (a 0) but the input ${formatShape(x)} has rank ${x.length}`);
    return x[k] as Dim;
  });
  const minusOnes = out.map((d, k) => (d === -1 ? k : -1)).filter((k) => k >= 0);
  if (minusOnes.length > 1) ctx.fail(`target shape [${target.join(',')}] has more than one -1`);
  if (out.some((d) => isNum(d) && d < -1)) ctx.fail(`target shape [${target.join(',')}] has a negative size`);
  const input = x ?? ctx.shape(0);
  const inF = input && factor(input);
  const restF = factor(out.filter((d) => d !== -1));
  const mismatch = (): never => ctx.fail(`cannot reshape ${formatShape(input)} to [${target?.join(',')}]: the element counts differ`);
  if (minusOnes.length === 1) {
    const k = minusOnes[0] as number;
    let solved: Dim = null;
    if (inF && restF) {
      const left = without(inF.symbols, restF.symbols);
      if (left && restF.n !== 0) {
        if (inF.n % restF.n !== 0) {
          if (left.length === 0) mismatch();
        } else {
          const q = inF.n / restF.n;
          if (left.length === 0) solved = q;
          else if (left.length === 1 && q === 1) solved = left[0] as string;
        }
      }
    }
    out[k] = solved;
  } else if (inF && restF && inF.symbols.join('\u0000') === restF.symbols.join('\u0000') && inF.n !== restF.n) {
    mismatch();
  }
  const result: ValueType = { elemType, shape: out };
  const value = ctx.input(0)?.value;
  if (value) result.value = value;
  return [result];
}

// ---- Transpose --------------------------------------------------------------------------------

function transposeShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'Transpose permutes the input\'s dims');
  const perm = ctx.optInts('perm') ?? x.map((_, k) => x.length - 1 - k);
  if (perm.length !== x.length) ctx.fail(`perm [${perm.join(',')}] has ${perm.length} axes but the input ${formatShape(x)} has rank ${x.length}`);
  const sorted = [...perm].sort((a, b) => a - b);
  if (sorted.some((p, k) => p !== k)) ctx.fail(`perm [${perm.join(',')}] is not a permutation of 0..${x.length - 1}`);
  const out: ValueType = { elemType: ctx.elemType(0), shape: perm.map((p) => x[p] as Dim) };
  const value = valueOfShape(ctx.input(0)?.value, x);
  if (value && x.every(isNum)) {
    // Output element at index j reads input index i with i[perm[k]] = j[k].
    const outShape = perm.map((p) => x[p] as number);
    const strides = perm.map((p) => x.slice(p + 1).reduce<number>((a, d) => a * (d), 1));
    out.value = [];
    const walk = (k: number, base: number): void => {
      if (k === outShape.length) {
        out.value?.push(value[base] as Dim);
        return;
      }
      for (let j = 0; j < (outShape[k] as number); j++) walk(k + 1, base + j * (strides[k] as number));
    };
    walk(0, 0);
  }
  return [out];
}

// ---- Pad --------------------------------------------------------------------------------------

function padShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'Pad grows each dim of its input');
  const rank = x.length;
  let pads: number[] | undefined;
  let axes: number[] = x.map((_, k) => k);
  if (ctx.opset < 2) pads = ctx.optInts('paddings');
  else if (ctx.opset < 11) pads = ctx.optInts('pads');
  else {
    pads = ctx.intValues(1);
    if (ctx.opset >= 18 && ctx.has(3)) {
      const given = ctx.intValues(3);
      if (!given) return [{ elemType: ctx.elemType(0), shape: x.map(() => null) }];
      axes = axesIn(ctx, given, rank);
    }
  }
  if (!pads) return [{ elemType: ctx.elemType(0), shape: x.map(() => null) }];
  if (pads.length !== 2 * axes.length) ctx.fail(`pads [${pads.join(',')}] has ${pads.length} values; ${axes.length} padded axes need ${2 * axes.length} (begins then ends)`);
  const out = [...x];
  axes.forEach((axis, j) => {
    const grow = (pads?.[j] as number) + (pads?.[j + axes.length] as number);
    const d = x[axis] as Dim;
    if (grow === 0) return;
    if (!isNum(d)) out[axis] = null;
    else {
      if (d + grow < 0) ctx.fail(`pads [${pads?.join(',')}] remove more than the ${d} elements of axis ${axis}`);
      out[axis] = d + grow;
    }
  });
  return [{ elemType: ctx.elemType(0), shape: out }];
}

// ---- Slice ------------------------------------------------------------------------------------

/** Number of elements Slice keeps of a dim of size `dim` (ONNX clamping rules). */
export function sliceLength(dim: number, start: number, end: number, step: number): number {
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = Math.min(Math.max(s, 0), dim);
    e = Math.min(Math.max(e, 0), dim);
    return Math.max(0, Math.ceil((e - s) / step));
  }
  s = Math.min(Math.max(s, 0), dim - 1);
  e = Math.min(Math.max(e, -1), dim - 1);
  return Math.max(0, Math.ceil((s - e) / -step));
}

function sliceStart(dim: number, start: number, step: number): number {
  const s = start < 0 ? start + dim : start;
  return step > 0 ? Math.min(Math.max(s, 0), dim) : Math.min(Math.max(s, 0), dim - 1);
}

function sliceShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'Slice keeps the rank of its input');
  const elemType = ctx.elemType(0);
  let starts: number[] | undefined;
  let ends: number[] | undefined;
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (ctx.opset < 10) {
    starts = ctx.ints('starts');
    ends = ctx.ints('ends');
    axes = ctx.optInts('axes');
  } else {
    starts = ctx.intValues(1);
    ends = ctx.intValues(2);
    axes = ctx.has(3) ? ctx.intValues(3) : undefined;
    steps = ctx.has(4) ? ctx.intValues(4) : undefined;
    if ((ctx.has(3) && !axes) || (ctx.has(4) && !steps)) return [{ elemType, shape: x.map(() => null) }];
  }
  if (!starts || !ends) {
    // Unknown bounds: only the axes they touch become unknown.
    const out = [...x];
    const touched = axes ? axesIn(ctx, axes, x.length) : x.map((_, k) => k);
    for (const a of touched) out[a] = null;
    return [{ elemType, shape: out }];
  }
  if (starts.length !== ends.length) ctx.fail(`starts [${starts.join(',')}] and ends [${ends.join(',')}] differ in length`);
  const normAxes = axesIn(ctx, axes ?? starts.map((_, k) => k), x.length);
  const normSteps = steps ?? starts.map(() => 1);
  if (normAxes.length !== starts.length || normSteps.length !== starts.length) ctx.fail('starts, ends, axes and steps must have the same length');
  if (normSteps.some((s) => s === 0)) ctx.fail(`steps [${normSteps.join(',')}] must not contain 0`);
  const out = [...x];
  normAxes.forEach((a, k) => {
    const d = x[a] as Dim;
    out[a] = isNum(d) ? sliceLength(d, starts?.[k] as number, ends?.[k] as number, normSteps[k] as number) : null;
  });
  const result: ValueType = { elemType, shape: out };
  const value = valueOfShape(ctx.input(0)?.value, x);
  if (value && x.every(isNum) && out.every(isNum)) {
    // Per axis, the input indices kept (in order; negative steps walk backwards).
    const picks = x.map((d, a) => {
      const k = normAxes.indexOf(a);
      if (k < 0) return Array.from({ length: d }, (_, i) => i);
      const step = normSteps[k] as number;
      const first = sliceStart(d, starts?.[k] as number, step);
      return Array.from({ length: out[a] as number }, (_, i) => first + i * step);
    });
    result.value = gatherIndices(x, picks).map((i) => value[i] as Dim);
  }
  return [result];
}

// ---- Squeeze / Unsqueeze / Expand -------------------------------------------------------------

function squeezeShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'Squeeze removes dims of its input');
  const elemType = ctx.elemType(0);
  const value = ctx.input(0)?.value;
  let axes: number[] | undefined;
  if (ctx.opset < 13) axes = ctx.optInts('axes');
  else if (ctx.has(1)) {
    axes = ctx.intValues(1);
    if (!axes) return [{ elemType }];
  }
  let keep: (d: Dim, k: number) => boolean;
  if (axes === undefined) {
    // Without axes every 1 goes; a symbolic or unknown dim might be 1, so the rank is unknown.
    if (!x.every(isNum)) return [{ elemType }];
    keep = (d) => d !== 1;
  } else {
    const drop = new Set(axesIn(ctx, axes, x.length));
    for (const a of drop) {
      const d = x[a] as Dim;
      if (isNum(d) && d !== 1) ctx.fail(`cannot squeeze axis ${a} of ${formatShape(x)}: its size is ${d}, not 1`);
    }
    keep = (_, k) => !drop.has(k);
  }
  return [{ elemType, shape: x.filter(keep), ...(value ? { value } : {}) }];
}

function unsqueezeShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'Unsqueeze inserts dims into its input');
  const elemType = ctx.elemType(0);
  const axes = ctx.opset < 13 ? ctx.ints('axes') : ctx.intValues(1);
  if (ctx.opset >= 13 && !ctx.has(1)) ctx.fail('input \'axes\' is required from opset 13');
  if (!axes) return [{ elemType }];
  const rank = x.length + axes.length;
  const inserted = new Set(axesIn(ctx, axes, rank));
  const out: Dim[] = [];
  let next = 0;
  for (let k = 0; k < rank; k++) out.push(inserted.has(k) ? 1 : (x[next++] as Dim));
  const value = ctx.input(0)?.value;
  return [{ elemType, shape: out, ...(value ? { value } : {}) }];
}

function expandShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'Expand broadcasts its input');
  const target = ctx.value(1);
  if (!target) {
    const s = ctx.shape(1);
    const len = s?.length === 1 ? s[0] : undefined;
    return [{ elemType: ctx.elemType(0), ...(isNum(len) ? { shape: Array<Dim>(Math.max(len, x.length)).fill(null) } : {}) }];
  }
  const out = broadcastShapes([x, target]);
  if (typeof out === 'string') ctx.fail(`cannot expand ${formatShape(x)} to [${target.join(',')}] (${out})`);
  const value = foldBroadcast([x], [ctx.input(0)?.value], out, ([v]) => v as number);
  return [{ elemType: ctx.elemType(0), shape: out, ...(value ? { value } : {}) }];
}

// ---- Tile, DepthToSpace / SpaceToDepth, Resize / Upsample --------------------------------------

function tileShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'Tile multiplies each dim of its input');
  const repeats = ctx.opset >= 6 ? ctx.intValues(1) : undefined;
  if (!repeats) return [{ elemType: ctx.elemType(0), shape: x.map(() => null) }];
  if (repeats.length !== x.length) ctx.fail(`repeats [${repeats.join(',')}] has ${repeats.length} values for an input of rank ${x.length}`);
  return [{ elemType: ctx.elemType(0), shape: x.map((d, k) => (repeats[k] === 1 ? d : isNum(d) ? d * (repeats[k] as number) : null)) }];
}

function blockShape(ctx: OpContext, toSpace: boolean): ValueType[] {
  const x = ctx.requireShape(0, 'the output regroups the input\'s [N, C, H, W]');
  if (x.length !== 4) ctx.fail(`input ${formatShape(x)} must be 4-D [N, C, H, W]`);
  const b = ctx.int('blocksize');
  if (b < 1) ctx.fail(`blocksize ${b} must be positive`);
  const [n, c, h, w] = x as [Dim, Dim, Dim, Dim];
  const mul = (d: Dim): Dim => (isNum(d) ? d * b : b === 1 ? d : null);
  const div = (d: Dim, what: string): Dim => {
    if (!isNum(d)) return b === 1 ? d : null;
    if (d % b !== 0) ctx.fail(`${what} ${d} is not divisible by blocksize ${b}`);
    return d / b;
  };
  if (toSpace) {
    const cc = isNum(c) ? (c % (b * b) === 0 ? c / (b * b) : ctx.fail(`${c} channels are not divisible by blocksize^2 = ${b * b}`)) : null;
    return [{ elemType: ctx.elemType(0), shape: [n, cc, mul(h), mul(w)] }];
  }
  return [{ elemType: ctx.elemType(0), shape: [n, isNum(c) ? c * b * b : null, div(h, 'height'), div(w, 'width')] }];
}

/** Output dims of Resize/Upsample from sizes or scales (ONNX: floor(input * scale)). */
function resizeShape(ctx: OpContext): ValueType[] {
  const x = ctx.requireShape(0, 'Resize scales each dim of its input');
  const elemType = ctx.elemType(0);
  const rank = x.length;
  let scales: number[] | undefined;
  let sizes: number[] | undefined;
  let roi: number[] | undefined;
  if (ctx.info.opType === 'Upsample') {
    scales = ctx.opset < 9 ? ctx.optFloats('scales') : ctx.numbers(1);
  } else if (ctx.opset < 11) scales = ctx.numbers(1);
  else {
    roi = ctx.has(1) ? ctx.numbers(1) : undefined;
    if (ctx.has(3)) {
      sizes = ctx.intValues(3);
      if (!sizes) return [{ elemType, shape: x.map(() => null) }];
    } else if (ctx.has(2)) {
      scales = ctx.numbers(2);
      if (!scales) return [{ elemType, shape: x.map(() => null) }];
      if (scales.length === 0) ctx.fail('needs non-empty scales or sizes');
    } else ctx.fail('needs scales or sizes');
  }
  const axes = ctx.opset >= 18 && ctx.info.opType === 'Resize' && ctx.hasAttr('axes') ? axesIn(ctx, ctx.ints('axes'), rank) : x.map((_, k) => k);
  const given = sizes ?? scales;
  if (!given) return [{ elemType, shape: x.map(() => null) }];
  if (given.length !== axes.length) ctx.fail(`${sizes ? 'sizes' : 'scales'} [${given.join(',')}] has ${given.length} values for ${axes.length} axes`);
  const out = [...x];
  if (sizes) {
    const policy = ctx.opset >= 18 ? ctx.string('keep_aspect_ratio_policy') : 'stretch';
    if (policy === 'stretch') axes.forEach((a, k) => { out[a] = sizes?.[k] as number; });
    else {
      // not_larger / not_smaller: one scale for all axes, the min / max of sizes / input.
      const ratios = axes.map((a, k) => (isNum(x[a]) ? (sizes?.[k] as number) / (x[a]) : NaN));
      const scale = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
      axes.forEach((a) => { out[a] = isNum(x[a]) && Number.isFinite(scale) ? Math.round((x[a]) * scale) : null; });
    }
  } else {
    const crop = ctx.info.opType === 'Resize' && ctx.opset >= 11 && ctx.string('coordinate_transformation_mode') === 'tf_crop_and_resize';
    axes.forEach((a, k) => {
      const d = x[a] as Dim;
      const scale = scales?.[k] as number;
      const extent = crop && roi && roi.length === 2 * axes.length ? (roi[k + axes.length] as number) - (roi[k] as number) : 1;
      out[a] = scale === 1 && extent === 1 ? d : isNum(d) ? Math.floor(d * extent * scale + 1e-9) : null;
    });
  }
  return [{ elemType, shape: out }];
}

function resizeFlops(ctx: OpContext): number | undefined {
  const n = knownNumel(ctx.output(0)?.shape);
  if (n === undefined) return undefined;
  const mode = ctx.optString('mode') ?? 'nearest';
  // Nearest copies; linear blends 2^d neighbours (d resized spatial axes); cubic 4^d.
  const rank = ctx.shape(0)?.length ?? 4;
  const spatial = Math.max(1, rank - 2);
  if (mode === 'nearest') return 0;
  const taps = mode === 'cubic' ? 4 ** spatial : 2 ** spatial;
  return n * 2 * taps;
}

const RESIZE_ATTRS = {
  antialias: { type: 'int', default: 0, since: 18 },
  axes: { type: 'ints', whenAbsent: 'every axis', since: 18 },
  coordinate_transformation_mode: { type: 'string', default: 'half_pixel', since: 11 },
  cubic_coeff_a: { type: 'float', default: -0.75, since: 11 },
  exclude_outside: { type: 'int', default: 0, since: 11 },
  extrapolation_value: { type: 'float', default: 0.0, since: 11 },
  keep_aspect_ratio_policy: { type: 'string', default: 'stretch', since: 18, note: 'stretch, not_larger, not_smaller' },
  mode: { type: 'string', default: 'nearest', note: 'nearest, linear, cubic' },
  nearest_mode: { type: 'string', default: 'round_prefer_floor', since: 11 },
} as const satisfies Record<string, AttrSpec>;

// ---- the rows ---------------------------------------------------------------------------------

export const STRUCTURE_OPS: readonly OpInfo[] = [
  {
    opType: 'Concat', category: 'non-tensor',
    summary: 'join tensors along axis; other dims must match',
    inputs: [{ name: 'inputs', variadic: true }], outputs: ['concat_result'],
    attributes: { axis: { type: 'int', required: true, olderDefault: { until: 4, value: 1 }, note: 'optional with default 1 before opset 4' } },
    inferShape: concatShape, flops: free, params: weightParams,
  },
  {
    opType: 'Split', category: 'non-tensor',
    summary: 'cut a tensor into pieces along axis',
    inputs: [{ name: 'input' }, { name: 'split', optional: true, note: 'an input in opset 1 and from opset 13; an attribute in 2-12' }],
    outputs: ['outputs (variadic)'],
    attributes: {
      axis: { type: 'int', default: 0 },
      num_outputs: { type: 'int', whenAbsent: 'the number of node outputs', since: 18, note: 'uneven sizes allowed: the last piece is smaller' },
      split: { type: 'ints', whenAbsent: 'equal pieces, one per output', until: 13, note: 'opset 1 also took it as an input; an input only from opset 13' },
    },
    inferShape: splitShape, flops: free, params: weightParams,
  },
  {
    opType: 'Flatten', category: 'non-tensor',
    summary: 'reshape to 2-D: [prod(dims before axis), prod(dims from axis)]',
    inputs: [{ name: 'input' }], outputs: ['output'],
    attributes: { axis: { type: 'int', default: 1, note: 'negative values from opset 11' } },
    inferShape: flattenShape, flops: free, params: weightParams,
  },
  {
    opType: 'Reshape', category: 'non-tensor',
    summary: 'same data, new shape; 0 copies an input dim (unless allowzero), -1 is inferred',
    inputs: [{ name: 'data' }, { name: 'shape', since: 5, note: 'an attribute before opset 5' }],
    outputs: ['reshaped'],
    attributes: {
      allowzero: { type: 'int', default: 0, since: 14, note: '1: a 0 in shape means an empty dim' },
      consumed_inputs: { type: 'ints', whenAbsent: 'legacy in-place hint; ignored', until: 5 },
      shape: { type: 'ints', whenAbsent: 'no reshape target (invalid)', until: 5, note: 'an input from opset 5' },
    },
    inferShape: reshapeShape, flops: free, params: weightParams,
  },
  {
    opType: 'Transpose', category: 'non-tensor',
    summary: 'permute dims',
    inputs: [{ name: 'data' }], outputs: ['transposed'],
    attributes: { perm: { type: 'ints', whenAbsent: 'reverse the dims' } },
    inferShape: transposeShape, flops: free, params: weightParams,
  },
  {
    opType: 'Identity', category: 'non-tensor',
    summary: 'copy of the input',
    inputs: [{ name: 'input' }], outputs: ['output'], attributes: {},
    inferShape: copyOfInput, flops: free, params: weightParams,
  },
  {
    opType: 'Pad', category: 'non-tensor',
    summary: 'grow (or, with negative pads, crop) each axis at both ends',
    inputs: [
      { name: 'data' },
      { name: 'pads', since: 11, note: 'an attribute before opset 11' },
      { name: 'constant_value', optional: true, since: 11, note: 'the value attribute before opset 11' },
      { name: 'axes', optional: true, since: 18 },
    ],
    outputs: ['output'],
    attributes: {
      mode: { type: 'string', default: 'constant', note: 'constant, reflect, edge; wrap from opset 19' },
      paddings: { type: 'ints', required: true, until: 2, note: 'renamed pads in opset 2' },
      pads: { type: 'ints', required: true, since: 2, until: 11, note: '[x1_begin, x2_begin, ..., x1_end, ...]; an input from opset 11' },
      value: { type: 'float', default: 0.0, until: 11, note: 'the constant_value input from opset 11' },
    },
    inferShape: padShape, flops: free, params: () => 0,
  },
  {
    opType: 'Slice', category: 'non-tensor',
    summary: 'take [start, end) with step along some axes',
    inputs: [
      { name: 'data' },
      { name: 'starts', since: 10, note: 'attributes before opset 10' }, { name: 'ends', since: 10 },
      { name: 'axes', optional: true, since: 10 }, { name: 'steps', optional: true, since: 10 },
    ],
    outputs: ['output'],
    attributes: {
      axes: { type: 'ints', whenAbsent: 'axes 0 .. len(starts)-1', until: 10 },
      ends: { type: 'ints', required: true, until: 10 },
      starts: { type: 'ints', required: true, until: 10 },
    },
    inferShape: sliceShape, flops: free, params: () => 0,
  },
  {
    opType: 'Squeeze', category: 'non-tensor',
    summary: 'remove size-1 dims (the given axes, or all of them)',
    inputs: [{ name: 'data' }, { name: 'axes', optional: true, since: 13, note: 'an attribute before opset 13' }],
    outputs: ['squeezed'],
    attributes: { axes: { type: 'ints', whenAbsent: 'every size-1 dim', until: 13, note: 'an input from opset 13' } },
    inferShape: squeezeShape, flops: free, params: () => 0,
  },
  {
    opType: 'Unsqueeze', category: 'non-tensor',
    summary: 'insert size-1 dims at the given axes of the output',
    inputs: [{ name: 'data' }, { name: 'axes', since: 13, note: 'an attribute before opset 13' }],
    outputs: ['expanded'],
    attributes: { axes: { type: 'ints', required: true, until: 13, note: 'an input from opset 13' } },
    inferShape: unsqueezeShape, flops: free, params: () => 0,
  },
  {
    opType: 'Expand', category: 'non-tensor',
    summary: 'broadcast the input to a shape (opset 8)',
    inputs: [{ name: 'input' }, { name: 'shape' }], outputs: ['output'], attributes: {},
    inferShape: expandShape, flops: free, params: () => 0,
  },
  {
    opType: 'Tile', category: 'non-tensor',
    summary: 'repeat the input along each axis',
    inputs: [{ name: 'input' }, { name: 'repeats' }], outputs: ['output'], attributes: {},
    inferShape: tileShape, flops: free, params: () => 0,
  },
  {
    opType: 'DepthToSpace', category: 'non-tensor',
    summary: 'move channel blocks into spatial blocks: [N, C, H, W] -> [N, C/b^2, H*b, W*b]',
    inputs: [{ name: 'input' }], outputs: ['output'],
    attributes: { blocksize: { type: 'int', required: true }, mode: { type: 'string', default: 'DCR', since: 11, note: 'DCR or CRD (PixelShuffle)' } },
    inferShape: (ctx) => blockShape(ctx, true), flops: free, params: () => 0,
  },
  {
    opType: 'SpaceToDepth', category: 'non-tensor',
    summary: 'move spatial blocks into channels: [N, C, H, W] -> [N, C*b^2, H/b, W/b]',
    inputs: [{ name: 'input' }], outputs: ['output'],
    attributes: { blocksize: { type: 'int', required: true } },
    inferShape: (ctx) => blockShape(ctx, false), flops: free, params: () => 0,
  },
  {
    opType: 'Resize', category: 'non-tensor',
    summary: 'resample to sizes or by scales (nearest, linear, cubic) (opset 10)',
    inputs: [
      { name: 'X' }, { name: 'roi', optional: true, since: 11 },
      { name: 'scales', optional: true, note: 'the second input in opset 10' }, { name: 'sizes', optional: true, since: 11 },
    ],
    outputs: ['Y'],
    attributes: RESIZE_ATTRS,
    inferShape: resizeShape, flops: resizeFlops, params: () => 0,
  },
  {
    opType: 'Upsample', category: 'non-tensor',
    summary: 'resample by scales (deprecated in opset 10 for Resize)',
    inputs: [{ name: 'X' }, { name: 'scales', since: 9, note: 'an attribute before opset 9' }],
    outputs: ['Y'],
    attributes: {
      mode: { type: 'string', default: 'nearest' },
      scales: { type: 'floats', required: true, until: 9 },
    },
    inferShape: resizeShape, flops: resizeFlops, params: () => 0,
  },
  {
    opType: 'GatherElements', category: 'non-tensor',
    summary: 'take elements of data at indices along axis; output has the indices\' shape',
    inputs: [{ name: 'data' }, { name: 'indices' }], outputs: ['output'],
    attributes: { axis: { type: 'int', default: 0 } },
    inferShape: (ctx) => {
      const data = ctx.requireShape(0, 'the indices must have the data\'s rank');
      const idx = ctx.requireShape(1, 'the output has the indices\' shape');
      if (idx.length !== data.length) ctx.fail(`indices ${formatShape(idx)} must have the rank of data ${formatShape(data)}`);
      axisIn(ctx, ctx.int('axis'), data.length);
      return [{ elemType: ctx.elemType(0), shape: [...idx] }];
    },
    flops: free, params: () => 0,
  },
  {
    opType: 'ScatterElements', category: 'non-tensor',
    summary: 'write updates into a copy of data at indices along axis',
    inputs: [{ name: 'data' }, { name: 'indices' }, { name: 'updates' }], outputs: ['output'],
    attributes: { axis: { type: 'int', default: 0 }, reduction: { type: 'string', default: 'none', since: 16 } },
    inferShape: sameAsInput, flops: free, params: () => 0,
  },
  {
    opType: 'ScatterND', category: 'non-tensor',
    summary: 'write slices of updates into a copy of data at N-d indices',
    inputs: [{ name: 'data' }, { name: 'indices' }, { name: 'updates' }], outputs: ['output'],
    attributes: { reduction: { type: 'string', default: 'none', since: 16 } },
    inferShape: sameAsInput, flops: free, params: () => 0,
  },
  {
    opType: 'Trilu', category: 'non-tensor',
    summary: 'keep the upper or lower triangle of the last two dims (opset 14)',
    inputs: [{ name: 'input' }, { name: 'k', optional: true }], outputs: ['output'],
    attributes: { upper: { type: 'int', default: 1 } },
    inferShape: sameAsInput, flops: free, params: () => 0,
  },
];


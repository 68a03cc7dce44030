/** Rows for elementwise ops: activations (unary) and broadcasting arithmetic (binary and variadic). */
import type { Dim } from '../ir/graph.js';
import { DataType } from '../ir/tensor.js';
import type { OpContext, OpInfo } from './context.js';
import { dimsConflict, formatShape } from './dims.js';
import { broadcastInputs, foldBroadcast, isIntegerType, isNumericType, perOutputElement, roundTo, sameAsInput, weightParams } from './rules.js';
import type { AttrSpec, ValueType } from './types.js';

const CONSUMED_INPUTS: AttrSpec = { type: 'ints', whenAbsent: 'legacy in-place hint; ignored', until: 6 };

/**
 * A same-shape activation costing `cost` FLOPs per element; `fold` computes it on known integer
 * contents (Neg of an axis in exported shape arithmetic).
 */
function unary(
  opType: string, summary: string, cost: number, attributes: Record<string, AttrSpec> = {}, legacy = true,
  fold?: (x: number) => number,
): OpInfo {
  return {
    opType, category: 'non-tensor', summary,
    inputs: [{ name: 'X' }], outputs: ['Y'],
    attributes: legacy ? { consumed_inputs: CONSUMED_INPUTS, ...attributes } : attributes,
    inferShape: (ctx) => {
      const [y] = sameAsInput(ctx) as [ValueType];
      const value = fold && isNumericType(y.elemType) ? ctx.value(0) : undefined;
      if (value && fold) y.value = value.map((d) => (typeof d === 'number' ? roundTo(y.elemType, fold(d)) : null));
      return [y];
    },
    flops: perOutputElement(cost), params: weightParams,
  };
}

/**
 * Binary arithmetic. From opset 7 both operands broadcast (numpy rules); before, B broadcast onto A only
 * when `broadcast=1` (aligned at `axis`), so the output always had A's shape.
 */
function binaryShape(ctx: OpContext, fold?: (x: number, y: number, integer: boolean) => number): ValueType[] {
  const elemType = ctx.elemType(0) ?? ctx.elemType(1);
  let shape: Dim[];
  if (ctx.opset < 7) {
    const a = ctx.requireShape(0, 'the output has the shape of A');
    const b = ctx.requireShape(1, 'B must match or broadcast onto A');
    if (ctx.int('broadcast') === 0 && (a.length !== b.length || a.some((d, k) => dimsConflict(d, b[k] as Dim)))) {
      ctx.fail(`A ${formatShape(a)} and B ${formatShape(b)} differ and broadcast=0; set broadcast=1 or use opset >= 7`);
    }
    shape = [...a];
  } else shape = broadcastInputs(ctx, [0, 1]);
  const out: ValueType = { elemType, shape };
  // Legacy (opset < 7) broadcasting aligns B at an axis; only the numpy form is folded.
  if (fold && isNumericType(elemType) && ctx.opset >= 7) {
    const integer = isIntegerType(elemType);
    const value = foldBroadcast([ctx.shape(0), ctx.shape(1)], [ctx.value(0), ctx.value(1)], shape, ([x, y]) => roundTo(elemType, fold(x as number, y as number, integer)));
    if (value) out.value = value;
  }
  return [out];
}

/** Contents of a broadcasting op's output from its inputs' known contents (see foldBroadcast). */
function foldInputs(ctx: OpContext, indices: readonly number[], shape: readonly Dim[], op: (args: number[]) => number): Dim[] | undefined {
  if (ctx.opset < 7) return undefined;
  return foldBroadcast(indices.map((i) => ctx.shape(i)), indices.map((i) => ctx.value(i)), shape, op);
}

const LEGACY_BROADCAST: Record<string, AttrSpec> = {
  axis: { type: 'int', whenAbsent: 'B aligned with the trailing axes of A', until: 7, note: 'legacy broadcast alignment' },
  broadcast: { type: 'int', default: 0, until: 7, note: 'opset 7 introduced numpy broadcasting' },
  consumed_inputs: CONSUMED_INPUTS,
};

function binary(opType: string, summary: string, fold?: (x: number, y: number, integer: boolean) => number): OpInfo {
  return {
    opType, category: 'non-tensor', summary,
    inputs: [{ name: 'A', weight: true }, { name: 'B', weight: true }], outputs: ['C'],
    attributes: LEGACY_BROADCAST,
    inferShape: (ctx) => binaryShape(ctx, fold), flops: perOutputElement(1), params: weightParams,
  };
}

/** Sum/Max/Min/Mean over any number of inputs, broadcasting (from opset 8). */
function variadic(opType: string, summary: string): OpInfo {
  return {
    opType, category: 'non-tensor', summary,
    inputs: [{ name: 'data_0', variadic: true, weight: true }], outputs: [opType.toLowerCase()],
    attributes: { consumed_inputs: CONSUMED_INPUTS },
    inferShape: (ctx) => {
      const indices = ctx.node.inputs.map((_, i) => i).filter((i) => ctx.has(i));
      if (indices.length === 0) ctx.fail('needs at least one input');
      const elemType = ctx.elemType(indices[0] as number);
      const shape = broadcastInputs(ctx, indices);
      const out: ValueType = { elemType, shape };
      // Max / Min / Sum of shape arithmetic (e.g. a clamped size); Mean is not shape arithmetic.
      const reduce = opType === 'Max' ? Math.max : opType === 'Min' ? Math.min : opType === 'Sum' ? (...a: number[]) => a.reduce((p, q) => p + q, 0) : undefined;
      const value = reduce && isNumericType(elemType) ? foldInputs(ctx, indices, shape, (args) => roundTo(elemType, reduce(...args))) : undefined;
      if (value) out.value = value;
      return [out];
    },
    flops: (ctx) => {
      const n = perOutputElement(1)(ctx);
      const operands = ctx.node.inputs.filter((i) => i !== '').length;
      return n === undefined ? undefined : n * Math.max(1, operands - 1) + (opType === 'Mean' ? n : 0);
    },
    params: weightParams,
  };
}

/** Comparisons and logic: broadcasting, bool output. */
function predicate(opType: string, summary: string, legacyBroadcast: boolean, test: (x: number, y: number) => boolean): OpInfo {
  return {
    opType, category: 'non-tensor', summary,
    inputs: [{ name: 'A' }, { name: 'B' }], outputs: ['C'],
    attributes: legacyBroadcast ? { axis: LEGACY_BROADCAST.axis as AttrSpec, broadcast: LEGACY_BROADCAST.broadcast as AttrSpec } : {},
    inferShape: (ctx) => {
      const out: ValueType = { ...(binaryShape(ctx)[0] as ValueType), elemType: DataType.BOOL };
      // Bool contents are 0 / 1: the torch export of a shape check (If(Equal(dim, 1))) folds through them.
      const value = out.shape ? foldInputs(ctx, [0, 1], out.shape, ([x, y]) => (test(x as number, y as number) ? 1 : 0)) : undefined;
      if (value) out.value = value;
      return [out];
    },
    flops: perOutputElement(1), params: () => 0,
  };
}

/** A same-shape test with a bool result (IsNaN, IsInf, Not). */
function boolUnary(opType: string, summary: string, attributes: Record<string, AttrSpec> = {}, test?: (x: number) => boolean): OpInfo {
  return {
    opType, category: 'non-tensor', summary,
    inputs: [{ name: 'X' }], outputs: ['Y'], attributes,
    inferShape: (ctx) => {
      const out: ValueType = { ...(sameAsInput(ctx)[0] as ValueType), elemType: DataType.BOOL };
      const value = test ? ctx.value(0) : undefined;
      if (value && test) out.value = value.map((d) => (typeof d === 'number' ? (test(d) ? 1 : 0) : null));
      return [out];
    },
    flops: perOutputElement(1), params: () => 0,
  };
}

const FLT_MAX = 3.4028234663852886e38;

/** ONNX Round: halves go to the even neighbour (numpy.round), unlike Math.round. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export const ELEMENTWISE_OPS: readonly OpInfo[] = [
  unary('Relu', 'max(x, 0)', 1, {}, true, (x) => Math.max(x, 0)),
  unary('LeakyRelu', 'x < 0 ? alpha * x : x', 2, { alpha: { type: 'float', default: 0.01 } }),
  unary('Sigmoid', '1 / (1 + exp(-x))', 3),
  unary('HardSigmoid', 'max(0, min(1, alpha * x + beta))', 4, { alpha: { type: 'float', default: 0.2 }, beta: { type: 'float', default: 0.5 } }),
  unary('HardSwish', 'x * max(0, min(1, x / 6 + 0.5)) (opset 14)', 5, {}, false),
  unary('Tanh', 'tanh(x)', 1),
  unary('Elu', 'x < 0 ? alpha * (exp(x) - 1) : x', 3, { alpha: { type: 'float', default: 1.0 } }),
  unary('Selu', 'gamma * (x <= 0 ? alpha * (exp(x) - 1) : x)', 4, {
    alpha: { type: 'float', default: 1.67326319217681884765625 },
    gamma: { type: 'float', default: 1.05070102214813232421875 },
  }),
  unary('Softplus', 'log(exp(x) + 1)', 3, {}, false),
  unary('Softsign', 'x / (1 + |x|)', 3, {}, false),
  unary('Exp', 'exp(x)', 1),
  unary('Log', 'log(x)', 1),
  unary('Sqrt', 'sqrt(x)', 1, {}, true, Math.sqrt),
  unary('Abs', '|x|', 1, {}, true, Math.abs),
  unary('Neg', '-x', 1, {}, true, (x) => -x),
  unary('Reciprocal', '1 / x', 1),
  unary('Floor', 'floor(x)', 1, {}, true, Math.floor),
  unary('Ceil', 'ceil(x)', 1, {}, true, Math.ceil),
  unary('Erf', 'erf(x) (opset 9)', 1, {}, false),
  unary('Sin', 'sin(x)', 1, {}, false),
  unary('Cos', 'cos(x)', 1, {}, false),
  unary('Tan', 'tan(x)', 1, {}, false),
  unary('Asin', 'asin(x)', 1, {}, false),
  unary('Acos', 'acos(x)', 1, {}, false),
  unary('Atan', 'atan(x)', 1, {}, false),
  unary('Sinh', 'sinh(x)', 1, {}, false),
  unary('Cosh', 'cosh(x)', 1, {}, false),
  unary('Asinh', 'asinh(x)', 1, {}, false),
  unary('Acosh', 'acosh(x)', 1, {}, false),
  unary('Atanh', 'atanh(x)', 1, {}, false),
  unary('Sign', 'sign(x)', 1, {}, false, Math.sign),
  unary('Round', 'round half to even', 1, {}, false, roundHalfEven),
  unary('Celu', 'max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) (opset 12)', 5, { alpha: { type: 'float', default: 1.0 } }, false),
  unary('ThresholdedRelu', 'x > alpha ? x : 0 (opset 10)', 1, { alpha: { type: 'float', default: 1.0 } }, false),
  unary('Shrink', 'x < -lambd ? x + bias : x > lambd ? x - bias : 0 (opset 9)', 3, {
    bias: { type: 'float', default: 0.0 }, lambd: { type: 'float', default: 0.5 },
  }, false),
  unary('Mish', 'x * tanh(softplus(x)) (opset 18)', 5, {}, false),
  unary('Gelu', 'x * Phi(x), exact (erf) or tanh-approximated (opset 20)', 5, {
    approximate: { type: 'string', default: 'none', note: "'none' (erf) or 'tanh'" },
  }, false),
  boolUnary('Not', 'logical not', {}, (x) => x === 0),
  boolUnary('IsNaN', 'x is NaN'),
  boolUnary('IsInf', 'x is +inf (detect_positive) or -inf (detect_negative)', {
    detect_negative: { type: 'int', default: 1 }, detect_positive: { type: 'int', default: 1 },
  }),
  predicate('Equal', 'A == B with broadcasting', true, (x, y) => x === y),
  predicate('Greater', 'A > B with broadcasting', true, (x, y) => x > y),
  predicate('Less', 'A < B with broadcasting', true, (x, y) => x < y),
  predicate('GreaterOrEqual', 'A >= B with broadcasting (opset 12)', false, (x, y) => x >= y),
  predicate('LessOrEqual', 'A <= B with broadcasting (opset 12)', false, (x, y) => x <= y),
  predicate('And', 'logical and with broadcasting', true, (x, y) => x !== 0 && y !== 0),
  predicate('Or', 'logical or with broadcasting', true, (x, y) => x !== 0 || y !== 0),
  predicate('Xor', 'logical xor with broadcasting', true, (x, y) => (x !== 0) !== (y !== 0)),
  {
    opType: 'Where', category: 'non-tensor',
    summary: 'condition ? X : Y with broadcasting of all three (opset 9)',
    inputs: [{ name: 'condition' }, { name: 'X', weight: true }, { name: 'Y', weight: true }], outputs: ['output'],
    attributes: {},
    inferShape: (ctx) => {
      const shape = broadcastInputs(ctx, [0, 1, 2]);
      const out: ValueType = { elemType: ctx.elemType(1) ?? ctx.elemType(2), shape };
      const value = foldInputs(ctx, [0, 1, 2], shape, ([c, x, y]) => (c !== 0 ? (x as number) : (y as number)));
      if (value) out.value = value;
      return [out];
    },
    flops: perOutputElement(1), params: weightParams,
  },
  {
    opType: 'Mod', category: 'non-tensor',
    summary: 'remainder with broadcasting; fmod=1 takes the dividend\'s sign (opset 10)',
    inputs: [{ name: 'A' }, { name: 'B', weight: true }], outputs: ['C'],
    attributes: { fmod: { type: 'int', default: 0 } },
    inferShape: (ctx) => binaryShape(ctx), flops: perOutputElement(1), params: weightParams,
  },
  {
    opType: 'BitShift', category: 'non-tensor',
    summary: 'X << Y or X >> Y on unsigned integers with broadcasting (opset 11)',
    inputs: [{ name: 'X' }, { name: 'Y' }], outputs: ['Z'],
    attributes: { direction: { type: 'string', required: true, note: 'LEFT or RIGHT' } },
    inferShape: (ctx) => binaryShape(ctx), flops: perOutputElement(1), params: () => 0,
  },
  {
    opType: 'CumSum', category: 'non-tensor',
    summary: 'running sum along the axis input (opset 11)',
    inputs: [{ name: 'x' }, { name: 'axis' }], outputs: ['y'],
    attributes: { exclusive: { type: 'int', default: 0 }, reverse: { type: 'int', default: 0 } },
    inferShape: sameAsInput, flops: perOutputElement(1), params: () => 0,
  },
  {
    opType: 'Clip', category: 'non-tensor',
    summary: 'min(max(x, min), max)',
    inputs: [
      { name: 'input' },
      { name: 'min', optional: true, since: 11, note: 'an attribute before opset 11' },
      { name: 'max', optional: true, since: 11, note: 'an attribute before opset 11' },
    ],
    outputs: ['output'],
    attributes: {
      consumed_inputs: CONSUMED_INPUTS,
      max: { type: 'float', default: FLT_MAX, until: 11, note: 'an input from opset 11 (default: no upper bound)' },
      min: { type: 'float', default: -FLT_MAX, until: 11, note: 'an input from opset 11 (default: no lower bound)' },
    },
    inferShape: sameAsInput, flops: perOutputElement(2),
    params: () => 0, // min/max are bounds, not learned weights
  },
  {
    opType: 'PRelu', category: 'non-tensor',
    summary: 'x < 0 ? slope * x : x with a learned slope broadcast onto x',
    inputs: [{ name: 'X' }, { name: 'slope', weight: true }], outputs: ['Y'],
    attributes: { consumed_inputs: CONSUMED_INPUTS },
    inferShape: (ctx) => {
      const [y] = sameAsInput(ctx);
      const slope = ctx.shape(1);
      const x = y?.shape ?? [];
      if (slope && ctx.opset >= 7) {
        const aligned = slope.length <= x.length && slope.every((d, k) => d === 1 || !dimsConflict(d, x[x.length - slope.length + k] as Dim));
        // PyTorch exports per-channel slopes as [C] or [C, 1, 1] against [N, C, H, W].
        const perChannel = slope.length >= 1 && !dimsConflict(slope[0] as Dim, x[1] as Dim);
        if (!aligned && !perChannel) ctx.fail(`slope ${formatShape(slope)} does not broadcast onto the input ${formatShape(x)}`);
      }
      return [y as ValueType];
    },
    flops: perOutputElement(2), params: weightParams,
  },
  binary('Add', 'A + B with broadcasting', (x, y) => x + y),
  binary('Sub', 'A - B with broadcasting', (x, y) => x - y),
  binary('Mul', 'A * B with broadcasting', (x, y) => x * y),
  // ONNX integer Div truncates toward zero (C semantics).
  binary('Div', 'A / B with broadcasting', (x, y, integer) => (y === 0 ? NaN : integer ? Math.trunc(x / y) : x / y)),
  {
    ...binary('Pow', 'X ^ Y with broadcasting'),
    attributes: { axis: LEGACY_BROADCAST.axis as AttrSpec, broadcast: LEGACY_BROADCAST.broadcast as AttrSpec },
    inputs: [{ name: 'X' }, { name: 'Y', weight: true }],
  },
  variadic('Sum', 'elementwise sum of all inputs'),
  variadic('Mean', 'elementwise mean of all inputs'),
  variadic('Max', 'elementwise max of all inputs'),
  variadic('Min', 'elementwise min of all inputs'),
];

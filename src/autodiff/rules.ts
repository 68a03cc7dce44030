// THE gradient table: one row per ONNX op (default domain), in the manner of tinygrad's pm_gradient and
// ONNX Runtime's gradient builder. A row either is 'none' (no gradient flows through the op: integer or
// boolean results, constants, piecewise-constant functions) or a rule that, given dL/d(outputs), emits
// standard ONNX nodes computing dL/d(inputs) and returns their names (null where none is needed or
// defined). A row may also have a training-mode forward hook for ops whose training semantics, or whose
// backward, need more than the inference node gives (BatchNormalization, Dropout, MaxPool's indices).
import { getFloat, getInt, getInts } from '../ir/attributes.js';
import { DataType } from '../ir/tensor.js';
import type { ForwardContext, GradContext } from './context.js';
import { gradForms } from './forms.js';
import { batchNormForward, batchNormGrad, dropoutForward, dropoutGrad } from './norm.js';
import {
  averagePoolGrad, convGrad, convTransposeGrad, globalAveragePoolGrad, lrnGrad, lrnForward, maxPoolForward, maxPoolGrad,
} from './window.js';
import type { Dim } from '../ir/graph.js';
import { broadcastShapes } from '../ops/dims.js';

export interface GradRule {
  /** Gradient per input (null: none needed or none defined). */
  grad: (ctx: GradContext) => (string | null)[];
  /** Training-mode forward: emit the node's training computation and save what `grad` reads. */
  forward?: (ctx: ForwardContext) => void;
}

type Grads = (string | null)[];

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/** Rule for y = f(x) with dx = dy * f'(x), f' built by `derivative`. */
function unary(derivative: (ctx: GradContext, dy: string) => string): GradRule {
  return {
    grad: (ctx) => {
      const dy = ctx.gradOut(0);
      if (!dy || !ctx.needs(0)) return [null];
      return [derivative(ctx, dy)];
    },
  };
}

function input(ctx: GradContext, k: number): string {
  return ctx.inputs[k] as string;
}
function output(ctx: GradContext, k: number): string {
  return ctx.outputs[k] as string;
}

/**
 * dy where cond holds, else 0. The default form ('cast') is Cast(cond) * dy: googlenet-mini's training
 * step ran 2-7% faster with it than with Where(cond, dy, 0), ORT's Where being the slower kernel
 * (bench/train-profile.ts, docs/training.md). The forms differ only where dy is not finite and cond is
 * false, in a step the trainer already reports as diverged.
 */
function gate(ctx: GradContext, cond: string, dy: string): string {
  return gradForms().mask === 'where' ? ctx.op('Where', [cond, dy, ctx.constant(0)]) : ctx.mul(ctx.cast(cond), dy);
}

/** numpy broadcast of shapes of known rank; undefined when a rank is unknown or the shapes conflict. */
function broadcastOf(shapes: readonly (Dim[] | undefined)[]): Dim[] | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const out = broadcastShapes(shapes as Dim[][]);
  return typeof out === 'string' ? undefined : out;
}

/** Shape of the broadcast result of a binary op (the shape of its output gradient). */
function outShape(ctx: GradContext): ReturnType<GradContext['shapeOf']> {
  return ctx.shapeOf(output(ctx, 0)) ?? broadcastOf(ctx.inputs.map((i) => ctx.shapeOf(i)));
}

/** Add and Sub: dA = sumToShape(dY, A), dB = +/- sumToShape(dY, B) (broadcast inputs get reduced sums). */
function addLike(negateB: boolean): GradRule {
  return {
    grad: (ctx) => {
      const dy = ctx.gradOut(0);
      if (!dy) return [null, null];
      const shape = outShape(ctx);
      const db = ctx.needs(1) ? ctx.sumToShape(dy, input(ctx, 1), shape) : null;
      return [ctx.needs(0) ? ctx.sumToShape(dy, input(ctx, 0), shape) : null, db && negateB ? ctx.neg(db) : db];
    },
  };
}

const add = addLike(false);
const sub = addLike(true);

const mul: GradRule = {
  grad: (ctx) => {
    const dy = ctx.gradOut(0);
    if (!dy) return [null, null];
    const [a, b] = [input(ctx, 0), input(ctx, 1)];
    const shape = outShape(ctx);
    return [
      ctx.needs(0) ? ctx.sumToShape(ctx.mul(dy, b), a, shape) : null,
      ctx.needs(1) ? ctx.sumToShape(ctx.mul(dy, a), b, shape) : null,
    ];
  },
};

/** y = a / b: da = dy / b, db = -dy * a / b^2 = -dy * y / b. */
const div: GradRule = {
  grad: (ctx) => {
    const dy = ctx.gradOut(0);
    if (!dy) return [null, null];
    const [a, b] = [input(ctx, 0), input(ctx, 1)];
    const shape = outShape(ctx);
    const dyOverB = ctx.div(dy, b);
    return [
      ctx.needs(0) ? ctx.sumToShape(dyOverB, a, shape) : null,
      ctx.needs(1) ? ctx.neg(ctx.sumToShape(ctx.mul(dyOverB, output(ctx, 0)), b, shape)) : null,
    ];
  },
};

/**
 * y = a^b (broadcasting): da = dy * b * a^(b-1), db = dy * y * ln(a) (real only for a > 0, as in PyTorch).
 * The exponent may have another type than the base (Pow-12+); it is cast to the base's float type.
 * a^(b-1) rather than y / a, so a zero base with b >= 1 gets its finite derivative.
 */
const pow: GradRule = {
  grad: (ctx) => {
    const dy = ctx.gradOut(0);
    if (!dy) return [null, null];
    const [a, b] = [input(ctx, 0), input(ctx, 1)];
    const shape = outShape(ctx);
    const exponent = ctx.info.elemType(b) === ctx.dtype ? b : ctx.cast(b);
    return [
      ctx.needs(0) ? ctx.sumToShape(ctx.mul(dy, ctx.mul(exponent, ctx.op('Pow', [a, ctx.sub(exponent, ctx.constant(1))]))), a, shape) : null,
      ctx.needs(1) ? ctx.sumToShape(ctx.mul(dy, ctx.mul(output(ctx, 0), ctx.op('Log', [a]))), b, shape) : null,
    ];
  },
};

/** Sum(x0, x1, ...): each input gets dy summed to its shape. */
const sum: GradRule = {
  grad: (ctx) => {
    const dy = ctx.gradOut(0);
    const shape = outShape(ctx);
    return ctx.inputs.map((x, k) => (dy && ctx.needs(k) ? ctx.sumToShape(dy, x, shape) : null));
  },
};

/**
 * Gemm: Y = alpha * A' B' + beta * C with A' = transA ? A^T : A (same for B). Each case is one Gemm:
 *   dA = alpha * (transA ? B' dY^T : dY B'^T),  dB = alpha * (transB ? dY^T A' : A'^T dY),
 * written with Gemm's own trans flags so no Transpose nodes are needed; dC = beta * dY summed to C's shape.
 */
const gemm: GradRule = {
  grad: (ctx) => {
    const dy = ctx.gradOut(0);
    if (!dy) return [null, null, null];
    const [a, b] = [input(ctx, 0), input(ctx, 1)];
    const alpha = getFloat(ctx.node, 'alpha', 1);
    const beta = getFloat(ctx.node, 'beta', 1);
    const ta = getInt(ctx.node, 'transA', 0) === 1;
    const tb = getInt(ctx.node, 'transB', 0) === 1;
    const alphaAttr = alpha === 1 ? undefined : { float: alpha };
    const flag = (v: boolean): number | undefined => (v ? 1 : undefined);
    const grads: Grads = [null, null, null];
    if (ctx.needs(0)) {
      grads[0] = ta
        ? ctx.op('Gemm', [b, dy], { transA: flag(tb), transB: 1, alpha: alphaAttr })
        : ctx.op('Gemm', [dy, b], { transB: flag(!tb), alpha: alphaAttr });
    }
    if (ctx.needs(1)) {
      grads[1] = tb
        ? ctx.op('Gemm', [dy, a], { transA: 1, transB: flag(ta), alpha: alphaAttr })
        : ctx.op('Gemm', [a, dy], { transA: flag(!ta), alpha: alphaAttr });
    }
    if (ctx.needs(2) && ctx.inputs[2]) grads[2] = ctx.scale(ctx.sumToShape(dy, input(ctx, 2), ctx.shapeOf(output(ctx, 0))), beta);
    return grads;
  },
};

/**
 * MatMul (numpy semantics): 1-D operands are promoted ([K] -> [1,K] for A, [K,1] for B) and dY gets the
 * removed axes back; then dA = dY B^T and dB = A^T dY (transposes of the last two axes), each summed over
 * the batch axes it was broadcast along, and reshaped back for 1-D operands.
 */
const matmul: GradRule = {
  grad: (ctx) => {
    const dy = ctx.gradOut(0);
    if (!dy) return [null, null];
    const [a, b] = [input(ctx, 0), input(ctx, 1)];
    const as = ctx.shapeOf(a);
    const bs = ctx.shapeOf(b);
    if (!as || !bs) throw ctx.fail('the ranks of both operands must be known to build its gradient');
    const a2 = as.length === 1 ? ctx.unsqueeze(a, [0]) : a;
    const b2 = bs.length === 1 ? ctx.unsqueeze(b, [1]) : b;
    const a2s = as.length === 1 ? [1, as[0] ?? null] : as;
    const b2s = bs.length === 1 ? [bs[0] ?? null, 1] : bs;
    let dy2 = dy;
    if (as.length === 1 && bs.length === 1) dy2 = ctx.reshape(dy, [1, 1]);
    else if (as.length === 1) dy2 = ctx.unsqueeze(dy, [-2]);
    else if (bs.length === 1) dy2 = ctx.unsqueeze(dy, [-1]);
    const batch = broadcastOf([a2s.slice(0, -2), b2s.slice(0, -2)]);
    const swapLast = (rank: number): number[] => [...range(0, rank - 2), rank - 1, rank - 2];
    const grads: Grads = [null, null];
    if (ctx.needs(0)) {
      const full = ctx.op('MatMul', [dy2, ctx.transpose(b2, swapLast(b2s.length))]);
      const fullShape = batch ? [...batch, a2s[a2s.length - 2] ?? null, a2s[a2s.length - 1] ?? null] : undefined;
      const summed = ctx.sumToShape(full, a2, fullShape);
      grads[0] = as.length === 1 ? ctx.reshape(summed, [-1]) : summed;
    }
    if (ctx.needs(1)) {
      const full = ctx.op('MatMul', [ctx.transpose(a2, swapLast(a2s.length)), dy2]);
      const fullShape = batch ? [...batch, b2s[b2s.length - 2] ?? null, b2s[b2s.length - 1] ?? null] : undefined;
      const summed = ctx.sumToShape(full, b2, fullShape);
      grads[1] = bs.length === 1 ? ctx.reshape(summed, [-1]) : summed;
    }
    return grads;
  },
};

/** Reshape-like ops (Reshape, Flatten, Squeeze, Unsqueeze): dx = Reshape(dy, Shape(x)). */
const reshapeLike: GradRule = {
  grad: (ctx) => {
    const dy = ctx.gradOut(0);
    const grads: Grads = ctx.inputs.map(() => null);
    if (!dy || !ctx.needs(0)) return grads;
    const x = input(ctx, 0);
    const xs = ctx.staticShape(x);
    grads[0] = ctx.reshape(dy, xs ? ctx.ints(xs) : ctx.shape(x));
    return grads;
  },
};

const identity: GradRule = { grad: (ctx) => [ctx.needs(0) ? (ctx.gradOut(0) ?? null) : null] };

/** Transpose: dx = Transpose(dy, inverse permutation). */
const transpose: GradRule = unary((ctx, dy) => {
  const perm = getInts(ctx.node, 'perm') ?? range(0, ctx.requireRank(input(ctx, 0))).reverse();
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => { inverse[p] = i; });
  return ctx.transpose(dy, inverse);
});

/** Concat: each input's slice of dy along the axis (one Split when all sizes are static). */
const concat: GradRule = {
  grad: (ctx) => {
    const dy = ctx.gradOut(0);
    if (!dy) return ctx.inputs.map(() => null);
    const rank = ctx.requireRank(input(ctx, 0));
    const axis = ((getInt(ctx.node, 'axis', 0) % rank) + rank) % rank;
    const sizes = ctx.inputs.map((x) => ctx.shapeOf(x)?.[axis]);
    if (sizes.every((s): s is number => typeof s === 'number')) {
      const parts = ctx.ops('Split', [dy, ctx.ints(sizes)], { axis }, ctx.inputs.length);
      return parts.map((p, k) => (ctx.needs(k) ? p : null));
    }
    // Dynamic sizes: offsets are running sums of Shape(x_k)[axis].
    let offset = ctx.ints([0]);
    return ctx.inputs.map((x, k) => {
      const size = ctx.op('Gather', [ctx.shape(x), ctx.ints([axis])], { axis: 0 });
      const end = ctx.add(offset, size);
      const part = ctx.needs(k) ? ctx.op('Slice', [dy, offset, end, ctx.ints([axis])]) : null;
      offset = end;
      return part;
    });
  },
};

/** Split: dx = Concat of the outputs' gradients, zeros for outputs no gradient reached. */
const split: GradRule = {
  grad: (ctx) => {
    const grads: Grads = ctx.inputs.map(() => null);
    if (!ctx.needs(0) || ctx.outputs.every((_, k) => !ctx.gradOut(k))) return grads;
    const rank = ctx.requireRank(input(ctx, 0));
    const axis = ((getInt(ctx.node, 'axis', 0) % rank) + rank) % rank;
    grads[0] = ctx.op('Concat', ctx.outputs.map((_, k) => ctx.gradOutOrZeros(k)), { axis });
    return grads;
  },
};

/** Softmax (opset >= 13, one axis): dx = y * (dy - sum(dy * y, axis)). */
const softmax: GradRule = unary((ctx, dy) => {
  const y = output(ctx, 0);
  const axis = getInt(ctx.node, 'axis', -1);
  const dot = ctx.reduce('ReduceSum', ctx.mul(dy, y), [axis], true);
  return ctx.mul(y, ctx.sub(dy, dot));
});

/** LogSoftmax: dx = dy - exp(y) * sum(dy, axis). */
const logSoftmax: GradRule = unary((ctx, dy) => {
  const axis = getInt(ctx.node, 'axis', -1);
  return ctx.sub(dy, ctx.mul(ctx.op('Exp', [output(ctx, 0)]), ctx.reduce('ReduceSum', dy, [axis], true)));
});

/** Clip: dy passes where min <= x <= max (min/max as inputs, opset >= 11; they get no gradient). */
const clip: GradRule = {
  grad: (ctx) => {
    const dy = ctx.gradOut(0);
    const grads: Grads = ctx.inputs.map(() => null);
    if (!dy || !ctx.needs(0)) return grads;
    const x = input(ctx, 0);
    let cond: string | undefined;
    if (ctx.inputs[1]) cond = ctx.op('GreaterOrEqual', [x, input(ctx, 1)]);
    if (ctx.inputs[2]) {
      const upper = ctx.op('LessOrEqual', [x, input(ctx, 2)]);
      cond = cond ? ctx.op('And', [cond, upper]) : upper;
    }
    grads[0] = cond ? gate(ctx, cond, dy) : dy;
    return grads;
  },
};

/** Reductions over axes (input since 13 for ReduceSum, since 18 for ReduceMean): broadcast dy back. */
function reduceRule(mean: boolean): GradRule {
  return {
    grad: (ctx) => {
      const dy = ctx.gradOut(0);
      const grads: Grads = ctx.inputs.map(() => null);
      if (!dy || !ctx.needs(0)) return grads;
      const x = input(ctx, 0);
      const rank = ctx.requireRank(x);
      const axesName = ctx.inputs[1];
      let axes: number[] | undefined = axesName ? ctx.info.ints(axesName) : getInts(ctx.node, 'axes');
      if (axesName && !axes) throw ctx.fail('its axes must be a constant to build its gradient');
      const noop = getInt(ctx.node, 'noop_with_empty_axes', 0) === 1;
      if (!axes || axes.length === 0) {
        if (noop) { grads[0] = dy; return grads; }
        axes = range(0, rank);
      }
      axes = axes.map((a) => (a < 0 ? a + rank : a));
      const keep = getInt(ctx.node, 'keepdims', 1) === 1;
      const kept = keep ? dy : ctx.unsqueeze(dy, [...axes].sort((p, q) => p - q));
      const scaled = mean ? ctx.div(kept, ctx.countOf(x, axes)) : kept;
      const xs = ctx.staticShape(x);
      grads[0] = ctx.op('Expand', [scaled, xs ? ctx.ints(xs) : ctx.shape(x)]);
      return grads;
    },
  };
}

/** Cast between float types: cast the gradient back; no gradient into integer inputs. */
const cast: GradRule = unary((ctx, dy) => {
  const from = ctx.info.elemType(input(ctx, 0));
  if (from !== DataType.FLOAT && from !== DataType.DOUBLE && from !== DataType.FLOAT16) throw ctx.fail('its input is not a float tensor, so no gradient can flow through it');
  return ctx.cast(dy, from);
});

/** HardSwish (alpha 1/6, beta 0.5): y = x * clip(x/6 + 1/2, 0, 1); dy/dx = 0 below -3, 1 above 3, x/3 + 1/2 between. */
const hardSwish: GradRule = unary((ctx, dy) => {
  const x = input(ctx, 0);
  const slope = ctx.add(ctx.scale(x, 1 / 3), ctx.constant(0.5));
  const inner = ctx.op('Where', [ctx.op('Greater', [x, ctx.constant(3)]), dy, ctx.mul(dy, slope)]);
  return gate(ctx, ctx.op('GreaterOrEqual', [x, ctx.constant(-3)]), inner);
});

/** Pad (constant mode): dx = the slice of dy under x. */
const pad: GradRule = {
  grad: (ctx) => {
    const dy = ctx.gradOut(0);
    const grads: Grads = ctx.inputs.map(() => null);
    if (!dy || !ctx.needs(0)) return grads;
    const mode = ctx.node.attributes.find((a) => a.name === 'mode');
    if (mode && mode.kind === 'string' && new TextDecoder().decode(mode.value) !== 'constant') throw ctx.fail('only mode=constant has a gradient rule');
    const pads = ctx.info.ints(input(ctx, 1));
    if (!pads || ctx.inputs[3]) throw ctx.fail('its pads must be a constant and axes absent to build its gradient');
    const x = input(ctx, 0);
    const r = pads.length / 2;
    const xs = ctx.shapeOf(x);
    const ends = range(0, r).map((i) => {
      const d = xs?.[i];
      return typeof d === 'number' ? (pads[i] as number) + d : -(pads[i + r] as number) || Number.MAX_SAFE_INTEGER;
    });
    grads[0] = ctx.slice(dy, pads.slice(0, r), ends, range(0, r));
    return grads;
  },
};

export const GRADIENTS: Record<string, GradRule | 'none'> = {
  // Linear algebra and elementwise arithmetic (numpy broadcasting).
  Add: add,
  Sub: sub,
  Mul: mul,
  Div: div,
  Sum: sum,
  Neg: unary((ctx, dy) => ctx.neg(dy)),
  Gemm: gemm,
  MatMul: matmul,
  // Activations.
  Relu: unary((ctx, dy) => gate(ctx, ctx.op('Greater', [output(ctx, 0), ctx.constant(0)]), dy)),
  LeakyRelu: unary((ctx, dy) => {
    const alpha = getFloat(ctx.node, 'alpha', 0.01);
    return ctx.op('Where', [ctx.op('Greater', [input(ctx, 0), ctx.constant(0)]), dy, ctx.scale(dy, alpha)]);
  }),
  Sigmoid: unary((ctx, dy) => {
    const y = output(ctx, 0);
    return ctx.mul(dy, ctx.mul(y, ctx.sub(ctx.constant(1), y)));
  }),
  Tanh: unary((ctx, dy) => {
    const y = output(ctx, 0);
    return ctx.mul(dy, ctx.sub(ctx.constant(1), ctx.mul(y, y)));
  }),
  Exp: unary((ctx, dy) => ctx.mul(dy, output(ctx, 0))),
  Log: unary((ctx, dy) => ctx.div(dy, input(ctx, 0))),
  Sqrt: unary((ctx, dy) => ctx.div(ctx.scale(dy, 0.5), output(ctx, 0))),
  Pow: pow,
  Clip: clip,
  HardSwish: hardSwish,
  Softmax: softmax,
  LogSoftmax: logSoftmax,
  // Windows.
  Conv: { grad: convGrad },
  ConvTranspose: { grad: convTransposeGrad },
  MaxPool: { grad: maxPoolGrad, forward: maxPoolForward },
  AveragePool: { grad: averagePoolGrad },
  GlobalAveragePool: { grad: globalAveragePoolGrad },
  LRN: { grad: lrnGrad, forward: lrnForward },
  // Normalization and regularization (training-mode forward hooks).
  BatchNormalization: { grad: batchNormGrad, forward: batchNormForward },
  Dropout: { grad: dropoutGrad, forward: dropoutForward },
  // Data movement.
  Concat: concat,
  Split: split,
  Flatten: reshapeLike,
  Reshape: reshapeLike,
  Squeeze: reshapeLike,
  Unsqueeze: reshapeLike,
  Transpose: transpose,
  Identity: identity,
  Cast: cast,
  Pad: pad,
  ReduceSum: reduceRule(false),
  ReduceMean: reduceRule(true),
  // No gradient flows: integer/boolean results, constants and randomness, piecewise-constant functions.
  Shape: 'none',
  Size: 'none',
  Constant: 'none',
  ConstantOfShape: 'none',
  Range: 'none',
  ArgMax: 'none',
  ArgMin: 'none',
  Equal: 'none',
  Greater: 'none',
  GreaterOrEqual: 'none',
  Less: 'none',
  LessOrEqual: 'none',
  Not: 'none',
  And: 'none',
  Or: 'none',
  NonZero: 'none',
  Floor: 'none',
  Ceil: 'none',
  Round: 'none',
  Sign: 'none',
  OneHot: 'none',
  RandomUniform: 'none',
  RandomUniformLike: 'none',
  RandomNormal: 'none',
  RandomNormalLike: 'none',
  EyeLike: 'none',
};

// BatchNormalization and Dropout: the two ops whose training-mode forward differs from inference, so each
// has a forward hook (emitting the training computation and saving what backward needs) and a gradient.
import { getFloat } from '../ir/attributes.js';
import { DataType, tensorToFloat32 } from '../ir/tensor.js';
import { tensorValue } from '../ir/builder.js';
import { deriveSeed } from '../util/random.js';
import type { ForwardContext, GradContext } from './context.js';

type Grads = (string | null)[];

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/**
 * Training-mode BatchNormalization, decomposed so backward can reuse the batch statistics (BN-15 in
 * training mode outputs only the running statistics, not the batch mean / inverse std):
 *   mean = ReduceMean(x), xc = x - mean, var = ReduceMean(xc^2) (population, as ONNX specifies),
 *   invstd = 1/sqrt(var + eps), xhat = xc * invstd, y = xhat * scale + B,
 *   running_mean' = running_mean * momentum + mean * (1 - momentum), same for var
 * (ONNX's momentum convention: PyTorch's momentum 0.1 is ONNX's 0.9). With runningVariance 'unbiased' the
 * running variance is updated with var * M/(M-1), M = N*H*W, as PyTorch does.
 */
export function batchNormForward(ctx: ForwardContext): void {
  const node = ctx.node;
  // Inference mode (or frozen BN): the running statistics are constants of the forward and stay unchanged.
  if (!ctx.settings.batchNormTraining) { ctx.emitAsIs(); return; }
  const [x, scale, bias, runMean, runVar] = node.inputs as [string, string, string, string, string];
  const rank = ctx.rank(x);
  if (rank === undefined) throw ctx.fail(`the rank of '${x}' is unknown; give the model's inputs shapes`);
  const eps = getFloat(node, 'epsilon', 1e-5);
  const momentum = getFloat(node, 'momentum', 0.9);
  const axes = [0, ...range(2, rank)];
  const mean = ctx.reduce('ReduceMean', x, axes, true);
  const xc = ctx.sub(x, mean);
  const variance = ctx.reduce('ReduceMean', ctx.mul(xc, xc), axes, true);
  const invstd = ctx.op('Reciprocal', [ctx.op('Sqrt', [ctx.add(variance, ctx.constant(eps))])]);
  const xhat = ctx.mul(xc, invstd);
  const g = ctx.unsqueeze(scale, axes);
  ctx.emitExact('Add', [ctx.mul(xhat, g), ctx.unsqueeze(bias, axes)], {}, [node.outputs[0] as string]);
  const update = (running: string, batch: string, k: number): void => {
    const next = node.outputs[k] || ctx.fresh(`${running}_next`);
    ctx.emitExact('Add', [ctx.scale(running, momentum), ctx.scale(ctx.reshape(batch, [-1]), 1 - momentum)], {}, [next]);
    ctx.extras.stateOutputs.set(running, next);
  };
  update(runMean, mean, 1);
  let batchVar = variance;
  if (ctx.settings.runningVariance === 'unbiased') {
    const m = ctx.countOf(x, axes);
    batchVar = ctx.mul(variance, ctx.div(m, ctx.sub(m, ctx.constant(1))));
  }
  update(runVar, batchVar, 2);
  ctx.save('xhat', xhat);
  ctx.save('invstd', invstd);
  ctx.save('scale', g);
}

/**
 * BatchNormalization gradient.
 * Training mode (batch statistics, M = N*H*W per channel): with S1 = sum(dy), S2 = sum(dy * xhat),
 *   dB = S1, dscale = S2, dx = scale * invstd * (dy - (S1 + xhat * S2) / M)
 * (the mean and variance depend on x; this is the standard closed form of that chain).
 * Inference mode (running statistics are constants of the forward): y = (x - mean) * k + B with
 * k = scale / sqrt(var + eps), so dx = dy * k, dscale = sum(dy * (x - mean)) / sqrt(var + eps), dB = sum(dy),
 * dmean = -k * sum(dy), dvar = -1/2 * scale * (var + eps)^(-3/2) * sum(dy * (x - mean)).
 */
export function batchNormGrad(ctx: GradContext): Grads {
  const dy = ctx.gradOut(0);
  const grads: Grads = [null, null, null, null, null];
  if (!dy) return grads;
  const x = ctx.inputs[0] as string;
  const rank = ctx.requireRank(x);
  const axes = [0, ...range(2, rank)];
  const xhat = ctx.saved('xhat');
  if (xhat) {
    const invstd = ctx.saved('invstd') as string;
    const g = ctx.saved('scale') as string;
    const s1 = ctx.reduce('ReduceSum', dy, axes, true);
    const s2 = ctx.reduce('ReduceSum', ctx.mul(dy, xhat), axes, true);
    if (ctx.needs(0)) {
      const centered = ctx.sub(dy, ctx.div(ctx.add(s1, ctx.mul(xhat, s2)), ctx.countOf(x, axes)));
      grads[0] = ctx.mul(ctx.mul(g, invstd), centered);
    }
    if (ctx.needs(1)) grads[1] = ctx.reshape(s2, [-1]);
    if (ctx.needs(2)) grads[2] = ctx.reshape(s1, [-1]);
    return grads;
  }
  const [, scale, , mean, variance] = ctx.inputs as [string, string, string, string, string];
  const eps = getFloat(ctx.node, 'epsilon', 1e-5);
  const invstd = ctx.op('Reciprocal', [ctx.op('Sqrt', [ctx.add(variance, ctx.constant(eps))])]);
  const k = ctx.mul(scale, invstd);
  const sumDy = ctx.reduce('ReduceSum', dy, axes, false);
  const needsCentered = ctx.needs(1) || ctx.needs(4);
  const sumDyXc = needsCentered ? ctx.reduce('ReduceSum', ctx.mul(dy, ctx.sub(x, ctx.unsqueeze(mean, axes))), axes, false) : '';
  if (ctx.needs(0)) grads[0] = ctx.mul(dy, ctx.unsqueeze(k, axes));
  if (ctx.needs(1)) grads[1] = ctx.mul(sumDyXc, invstd);
  if (ctx.needs(2)) grads[2] = sumDy;
  if (ctx.needs(3)) grads[3] = ctx.neg(ctx.mul(k, sumDy));
  if (ctx.needs(4)) grads[4] = ctx.mul(ctx.scale(ctx.mul(k, ctx.mul(invstd, invstd)), -0.5), sumDyXc);
  return grads;
}

/** The ratio of a Dropout node when it is a constant (initializer or Constant node), else undefined. */
function constantRatio(ctx: ForwardContext, name: string | undefined): number | undefined {
  if (!name) return 0.5;
  const init = ctx.builder.graph.initializers.get(name);
  if (init) return tensorToFloat32(init)[0];
  for (const n of ctx.builder.graph.nodes) {
    if (n.opType === 'Constant' && n.outputs[0] === name) {
      const a = n.attributes.find((at) => at.name === 'value');
      if (a?.kind === 'tensor') return tensorToFloat32(a.value)[0];
      const f = n.attributes.find((at) => at.name === 'value_float');
      if (f?.kind === 'float') return f.value;
    }
  }
  return undefined;
}

/**
 * The seeded mask hash: lowbias32 (Chris Wellons' integer hash: x ^= x>>16; x *= 0x7feb352d; x ^= x>>15;
 * x *= 0x846ca68b; x ^= x>>16) on uint32, where ONNX Runtime's Mul wraps mod 2^32 as C does, BitShift and
 * BitwiseXor (opset 18) are exact. keep[i] = lowbias32(i ^ key) >= ratio * 2^32 with
 * key = lowbias32(seed_lo ^ lowbias32(seed_hi ^ salt)): a counter-based generator, so a mask is a pure
 * function of (seed, node salt, element index). maskHashReference below is the same in JS (tests compare).
 */
const HASH_MUL_1 = 0x7feb352d;
const HASH_MUL_2 = 0x846ca68b;
const TWO_32 = 2 ** 32;

export function lowbias32(value: number): number {
  let x = (value ^ (value >>> 16)) >>> 0;
  x = Math.imul(x, HASH_MUL_1) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, HASH_MUL_2) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** JS reference of the seeded dropout mask (true = kept). */
export function maskHashReference(seed: bigint, salt: number, count: number, ratio: number): boolean[] {
  const lo = Number(BigInt.asUintN(32, seed));
  const hi = Number(BigInt.asUintN(32, seed >> 32n));
  const key = lowbias32((lo ^ lowbias32((hi ^ salt) >>> 0)) >>> 0);
  const threshold = Math.floor(ratio * TWO_32);
  return Array.from({ length: count }, (_, i) => lowbias32((i ^ key) >>> 0) >= threshold);
}

/** Per-node salt of the seeded mask (so two Dropout nodes fed one seed draw different masks). */
export function dropoutSalt(nodeIndex: number): number {
  return deriveSeed(0x6d61736b, nodeIndex);
}

function hashGraph(ctx: ForwardContext, x: string): string {
  const u32 = (v: number): string => ctx.constant(v, [], DataType.UINT32);
  const xorShift = (v: string, k: number): string => ctx.op('BitwiseXor', [v, ctx.op('BitShift', [v, u32(k)], { direction: 'RIGHT' })]);
  let h = xorShift(x, 16);
  h = xorShift(ctx.mul(h, u32(HASH_MUL_1)), 15);
  return xorShift(ctx.mul(h, u32(HASH_MUL_2)), 16);
}

/** The uint32 mask key of a Dropout node: lowbias32(seed_lo ^ lowbias32(seed_hi ^ salt)). */
function maskKey(ctx: ForwardContext, seed: string): string {
  // Cast int64 -> uint32 keeps the low 32 bits; the high half is seed >> 32 (arithmetic, then truncated).
  const lo = ctx.cast(seed, DataType.UINT32);
  const hi = ctx.cast(ctx.op('BitShift', [ctx.cast(seed, DataType.UINT64), ctx.constant(32, [], DataType.UINT64)], { direction: 'RIGHT' }), DataType.UINT32);
  const salted = ctx.op('BitwiseXor', [hi, ctx.constant(dropoutSalt(ctx.nodeIndex), [], DataType.UINT32)]);
  return hashGraph(ctx, ctx.op('BitwiseXor', [lo, hashGraph(ctx, salted)]));
}

/**
 * Training-mode Dropout, y = x * mask / (1 - ratio). The mask comes from one of:
 * - 'seed' (default): hashed in the graph from an int64 scalar seed input (fed per step, e.g. from the run
 *   seed and the step number), the node's index and the element index: keep = hash >= ratio * 2^32. A
 *   step's mask is a pure function of (seed, node, element), so runs are reproducible and resumable.
 *   Standard ONNX has no random op taking its seed as an input, hence the integer hash (about ten
 *   elementwise uint32 ops per element, cheap for the classifier-head dropout of CNNs).
 * - 'ort': ONNX Runtime's Dropout with training_mode=true and a seed attribute; ORT seeds one generator per
 *   kernel at session creation, so a session's masks are reproducible from its start but cannot be resumed.
 * - 'input': a bool graph input the caller draws each step.
 */
export function dropoutForward(ctx: ForwardContext): void {
  const node = ctx.node;
  // Inference semantics: the (normalized, training_mode-free) node is the identity and its mask all true.
  if (!ctx.training || ctx.settings.dropoutMasks === 'none') { ctx.emitAsIs(); return; }
  const x = node.inputs[0] as string;
  const ratioName = node.inputs[1] || undefined;
  const ratio = constantRatio(ctx, ratioName);
  const scale = ratio !== undefined
    ? ctx.constant(ratio >= 1 ? 0 : 1 / (1 - ratio))
    : ctx.op('Reciprocal', [ctx.sub(ctx.constant(1), ratioName as string)]);
  let mask: string;
  const mode = ctx.settings.dropoutMasks;
  if (mode === 'ort') {
    mask = node.outputs[1] || ctx.fresh(`${node.outputs[0] ?? 'dropout'}_mask`);
    const ratioInput = ratioName ?? ctx.constant(0.5);
    ctx.emitExact('Dropout', [x, ratioInput, ctx.constant(1, [], DataType.BOOL)], { seed: deriveSeed(ctx.settings.seed, ctx.nodeIndex) & 0x7fffffff }, [node.outputs[0] as string, mask]);
    ctx.save('mask', mask);
    ctx.save('scale', scale);
    return;
  }
  if (ratio === undefined) throw ctx.fail(`its ratio is computed in the graph; use dropoutMasks 'ort', or make the ratio a constant`);
  if (mode === 'input') {
    mask = ctx.fresh(`${node.name || 'dropout'}_mask`);
    ctx.builder.graph.inputs.push(tensorValue(mask, ctx.shapeOf(x), DataType.BOOL));
    ctx.setShape(mask, ctx.shapeOf(x), DataType.BOOL);
    ctx.extras.maskInputs.set(node.name || node.outputs[0] as string, { input: mask, ratio });
  } else {
    if (!ctx.extras.seedInput) {
      const seed = ctx.fresh('dropout_seed');
      ctx.builder.graph.inputs.push(tensorValue(seed, [], DataType.INT64));
      ctx.extras.seedInput = seed;
    }
    const key = maskKey(ctx, ctx.extras.seedInput);
    const xs = ctx.staticShape(x);
    const count = xs ? ctx.constant(xs.reduce((p, q) => p * q, 1), [], DataType.INT64) : ctx.op('Size', [x]);
    const index = ctx.cast(ctx.op('Range', [ctx.constant(0, [], DataType.INT64), count, ctx.constant(1, [], DataType.INT64)]), DataType.UINT32);
    const h = hashGraph(ctx, ctx.op('BitwiseXor', [index, key]));
    const keep = ctx.op('GreaterOrEqual', [ctx.cast(h, DataType.INT64), ctx.constant(Math.floor(ratio * TWO_32), [], DataType.INT64)]);
    mask = ctx.reshape(keep, xs ? ctx.ints(xs) : ctx.shape(x));
  }
  ctx.emitExact('Mul', [ctx.mul(x, ctx.cast(mask)), scale], {}, [node.outputs[0] as string]);
  if (node.outputs[1]) ctx.emitExact('Identity', [mask], {}, [node.outputs[1]]);
  ctx.save('mask', mask);
  ctx.save('scale', scale);
}

/** Dropout: dx = dy * mask / (1 - ratio) in training mode; identity in inference mode. */
export function dropoutGrad(ctx: GradContext): Grads {
  const dy = ctx.gradOut(0);
  if (!dy || !ctx.needs(0)) return [null, null, null];
  const mask = ctx.saved('mask');
  if (!mask) return [dy, null, null];
  return [ctx.mul(ctx.mul(dy, ctx.cast(mask)), ctx.saved('scale') as string), null, null];
}

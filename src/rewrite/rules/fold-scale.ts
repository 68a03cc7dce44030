// Elementwise arithmetic with a per-channel constant right after a Conv / ConvTranspose / Gemm (Caffe's
// Scale and Bias layers export as exactly this) is an affine map per output channel:
//   y * c -> scale c      y + c -> shift c      y - c -> shift -c      c - y -> scale -1, shift c
//   y / c -> scale 1/c
// and folds into the producer as W' = W * scale, b' = b * scale + shift (see linear.ts).
import type { Node } from '../../ir/graph.js';
import { defineRule } from '../engine.js';
import { constantTensor, floatConstant, guard, label } from '../guards.js';
import { AFFINE_PRODUCERS, affineTarget, affineWeights, applyAffine, perChannel, type AffineTarget } from '../linear.js';

interface FoldScale {
  op: Node;
  target: AffineTarget;
  scale: Float64Array | undefined;
  shift: Float64Array | undefined;
}

export const foldScale = defineRule<FoldScale>({
  name: 'fold-scale',
  root: ['Mul', 'Add', 'Sub', 'Div'],
  description: 'fold Mul / Add / Sub / Div by a per-channel constant into the preceding Conv, ConvTranspose or Gemm',
  policy: 'always',
  match(op, ctx) {
    if (op.inputs.length !== 2) return null;
    // Which operand is the producer's output: try both orders (Mul and Add commute; Sub, Div do not).
    let side = -1;
    for (const k of [0, 1]) {
      const p = ctx.producer(op.inputs[k] ?? '');
      if (p && AFFINE_PRODUCERS.has(p.opType) && p.outputs[0] === op.inputs[k]) {
        side = k;
        break;
      }
    }
    if (side < 0) return null;
    if (op.opType === 'Div' && side === 1) return null;
    const y = op.inputs[side] as string;
    const cName = op.inputs[1 - side] as string;
    if (cName === y) return null;
    // A non-constant operand (a residual branch, an attention gate) is a different pattern, not a refusal.
    const constant = constantTensor(ctx, cName, `operand of ${label(op)}`);
    if (typeof constant === 'string' && !ctx.isGraphInput(cName)) return null;
    const producer = ctx.producer(y) as Node;
    const attrs = guard(ctx, { nodes: [producer, op], intermediates: [{ value: y, reader: op }], rewritten: affineWeights(producer) });
    if (typeof attrs === 'string') return attrs;
    const c = floatConstant(ctx, cName, `operand of ${label(op)}`);
    if (typeof c === 'string') return c;
    const target = affineTarget(ctx, producer, attrs[0]);
    if (typeof target === 'string') return target;
    const values = perChannel(c.tensor.dims, c.values, target);
    if (typeof values === 'string') return `${label(op)}: ${values}`;
    const C = target.channels;
    switch (op.opType) {
      case 'Mul':
        return { op, target, scale: values, shift: undefined };
      case 'Add':
        return { op, target, scale: undefined, shift: values };
      case 'Sub':
        return side === 0
          ? { op, target, scale: undefined, shift: values.map((v) => -v) }
          : { op, target, scale: new Float64Array(C).fill(-1), shift: values };
      default: {
        if (values.some((v) => v === 0)) return `${label(op)} divides by zero in some channel`;
        return { op, target, scale: values.map((v) => 1 / v), shift: undefined };
      }
    }
  },
  apply({ op, target, scale, shift }, ctx) {
    applyAffine(ctx, target, scale, shift, op.outputs[0] as string);
    ctx.removeNodes([op]);
  },
});

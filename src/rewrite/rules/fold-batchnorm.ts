// BatchNormalization (inference) after a Conv / ConvTranspose / Gemm folds into the producer's weights:
//   BN(y) = gamma * (y - mean) / sqrt(var + eps) + beta = s * y + (beta - mean * s),  s = gamma / sqrt(var + eps)
// so W' = W * s (per output channel) and b' = (b - mean) * s + beta. Exact in real arithmetic; computed
// in float64 and rounded once to float32.
import type { Node } from '../../ir/graph.js';
import { defineRule } from '../engine.js';
import { floatConstant, guard, label } from '../guards.js';
import { AFFINE_PRODUCERS, affineTarget, affineWeights, applyAffine, type AffineTarget } from '../linear.js';

interface FoldBatchNorm {
  bn: Node;
  target: AffineTarget;
  scale: Float64Array;
  shift: Float64Array;
}

export const foldBatchNorm = defineRule<FoldBatchNorm>({
  name: 'fold-batchnorm',
  root: 'BatchNormalization',
  description: 'fold an inference BatchNormalization into the preceding Conv, ConvTranspose or Gemm',
  policy: 'always',
  match(bn, ctx) {
    const x = bn.inputs[0] ?? '';
    const producer = ctx.producer(x);
    if (!producer || !AFFINE_PRODUCERS.has(producer.opType) || producer.outputs[0] !== x) return null;
    const attrs = guard(ctx, {
      nodes: [producer, bn],
      intermediates: [{ value: x, reader: bn }],
      rewritten: affineWeights(producer),
    });
    if (typeof attrs === 'string') return attrs;
    const [producerAttrs, bnAttrs] = attrs;
    if (bnAttrs.int('training_mode') !== 0) return `${label(bn)} runs in training mode (batch statistics), which no weight change reproduces`;
    // Before opset 14 there is no training_mode attribute: the spec (BatchNormalization-7/9) says a node with
    // the running-statistics outputs is in training mode, and ORT runs it with batch statistics, whether or
    // not anything reads those outputs (torch's TrainingMode.TRAINING exports look like this).
    if ((ctx.opset ?? 14) < 14 && bn.outputs.slice(1).some((o) => o !== '')) {
      return `${label(bn)} runs in training mode (it has running-statistics outputs, opset ${ctx.opset ?? '?'} < 14), which no weight change reproduces`;
    }
    if (bnAttrs.has('spatial') && bnAttrs.int('spatial') !== 1) return `${label(bn)} has spatial=0 (per-position statistics), not per-channel`;
    for (const extra of bn.outputs.slice(1)) {
      if (extra !== '' && (ctx.consumers(extra).length > 0 || ctx.isGraphOutput(extra))) {
        return `${label(bn)} output '${extra}' (running statistics) is used`;
      }
    }
    const target = affineTarget(ctx, producer, producerAttrs);
    if (typeof target === 'string') return target;
    const roles = ['scale', 'B', 'mean', 'var'];
    const params: Float64Array[] = [];
    for (let k = 0; k < 4; k++) {
      const p = floatConstant(ctx, bn.inputs[k + 1] ?? '', `${roles[k] as string} of ${label(bn)}`);
      if (typeof p === 'string') return p;
      if (p.values.length !== target.channels) {
        return `${roles[k] as string} of ${label(bn)} has ${p.values.length} values for ${target.channels} channels of ${label(producer)}`;
      }
      params.push(p.values);
    }
    const [gamma, beta, mean, variance] = params as [Float64Array, Float64Array, Float64Array, Float64Array];
    const eps = bnAttrs.float('epsilon');
    const scale = new Float64Array(target.channels);
    const shift = new Float64Array(target.channels);
    for (let c = 0; c < target.channels; c++) {
      const s = (gamma[c] as number) / Math.sqrt((variance[c] as number) + eps);
      if (!Number.isFinite(s)) return `${label(bn)}: channel ${c} has var + epsilon <= 0, the fold would not be finite`;
      scale[c] = s;
      shift[c] = (beta[c] as number) - (mean[c] as number) * s;
    }
    return { bn, target, scale, shift };
  },
  apply({ bn, target, scale, shift }, ctx) {
    applyAffine(ctx, target, scale, shift, bn.outputs[0] as string);
    ctx.removeNodes([bn]);
  },
});

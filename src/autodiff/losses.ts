// Losses: each emits its scalar value and, directly, the gradient with respect to the model output it
// reads (the "seed" of backward). Emitting the closed-form gradient avoids differentiating through
// LogSoftmax/OneHot/ReduceSum and is the numerically stable form: (softmax - target) / N.
import type { Dim } from '../ir/graph.js';
import { DataType } from '../ir/tensor.js';
import { RebirthError } from '../errors.js';
import type { Emitter } from './context.js';

/** Softmax cross-entropy from logits [N, K] and integer class labels [N] (int64), with label smoothing. */
export interface CrossEntropyLoss {
  /** 'cross-entropy' is accepted as a shorter name. */
  kind: 'softmax-cross-entropy' | 'cross-entropy';
  /** The logits value (default: the model's first output). */
  output?: string;
  /** Graph input holding the labels; created (int64 [N]) when the model has no such value. Default 'labels'. */
  labelsName?: string;
  /** Label smoothing eps: target = (1 - eps) * onehot + eps / K. Default 0. */
  smoothing?: number;
  weight?: number;
}

/** Mean squared error over all elements, against a target input of the output's shape. */
export interface MseLoss {
  kind: 'mse';
  output?: string;
  /** Graph input holding the target; created (shaped like the output) when missing. Default 'labels'. */
  labelsName?: string;
  weight?: number;
}

/**
 * Distillation: KL(softmax(teacher/T) || softmax(student/T)) averaged over the batch and scaled by T^2
 * (Hinton et al.), so its gradient magnitude does not shrink with T. The teacher logits are a constant input.
 */
export interface KlDivergenceLoss {
  kind: 'kl-divergence';
  output?: string;
  /** Graph input holding the teacher's logits; created (shaped like the output) when missing. Default 'teacher_logits'. */
  labelsName?: string;
  temperature?: number;
  weight?: number;
}

/** The output already is the loss (any shape: its elements are summed). */
export interface ScalarLoss {
  kind: 'scalar';
  output?: string;
  weight?: number;
}

export type LossSpec = CrossEntropyLoss | MseLoss | KlDivergenceLoss | ScalarLoss;

/** A loss with its defaults filled in. */
export type ResolvedLoss = LossSpec & { output: string; labelsName: string };

/** Default label input name of a loss kind (undefined: the kind reads no labels). */
export function defaultLabelsName(spec: LossSpec): string | undefined {
  switch (spec.kind) {
    case 'softmax-cross-entropy': case 'cross-entropy': case 'mse': return 'labels';
    case 'kl-divergence': return 'teacher_logits';
    case 'scalar': return undefined;
  }
}

export interface LossTerm {
  /** Scalar ([]) value of this term, weight included. */
  loss: string;
  /** Value the term differentiates (the spec's output) and dLoss/d(that value). */
  seedValue: string;
  seedGrad: string;
}

/** How a loss asks for its label input: returns the name, creating a graph input when needed. */
export type LabelInput = (name: string, elemType: number, shape: Dim[] | undefined) => string;

function batchMeanScale(e: Emitter, output: string, factor: number): string {
  return e.scale(e.op('Reciprocal', [e.countOf(output, [0])]), factor);
}

export function emitLoss(e: Emitter, spec: ResolvedLoss, labelInput: LabelInput): LossTerm {
  const weight = spec.weight ?? 1;
  const y = spec.output;
  const ys = e.shapeOf(y);
  switch (spec.kind) {
    case 'softmax-cross-entropy':
    case 'cross-entropy': {
      if (!ys || ys.length !== 2 || typeof ys[1] !== 'number') {
        throw new RebirthError(`loss: softmax-cross-entropy needs logits '${y}' shaped [N, K] with a static K (got [${(ys ?? ['?']).join(',')}]); add a Flatten before the loss or fix the output's shape`);
      }
      const k = ys[1];
      const eps = spec.smoothing ?? 0;
      if (!(eps >= 0 && eps < 1)) throw new RebirthError(`loss: smoothing must be in [0, 1), got ${eps}`);
      const labels = labelInput(spec.labelsName, DataType.INT64, [ys[0] ?? null]);
      const logp = e.op('LogSoftmax', [y], { axis: 1 });
      // OneHot's values are [off, on]: the smoothed target directly.
      const target = e.op('OneHot', [labels, e.constant(k, [], DataType.INT64), e.constant([eps / k, 1 - eps + eps / k])], { axis: -1 });
      const perBatch = batchMeanScale(e, y, weight);
      const loss = e.mul(e.neg(e.reduce('ReduceSum', e.mul(target, logp), undefined, false)), perBatch);
      const grad = e.mul(e.sub(e.op('Exp', [logp]), target), perBatch);
      return { loss, seedValue: y, seedGrad: grad };
    }
    case 'mse': {
      const t = labelInput(spec.labelsName, e.dtype, ys);
      const diff = e.sub(y, t);
      const inv = e.op('Reciprocal', [e.countOf(y)]);
      const loss = e.scale(e.mul(e.reduce('ReduceSum', e.mul(diff, diff), undefined, false), inv), weight);
      const grad = e.mul(diff, e.scale(inv, 2 * weight));
      return { loss, seedValue: y, seedGrad: grad };
    }
    case 'kl-divergence': {
      const temp = spec.temperature ?? 1;
      if (!(temp > 0)) throw new RebirthError(`loss: temperature must be > 0, got ${temp}`);
      if (!ys || ys.length !== 2) throw new RebirthError(`loss: kl-divergence needs logits '${y}' shaped [N, K] (got [${(ys ?? ['?']).join(',')}])`);
      const teacher = labelInput(spec.labelsName, e.dtype, ys);
      const logq = e.op('LogSoftmax', [e.scale(y, 1 / temp)], { axis: 1 });
      const logp = e.op('LogSoftmax', [e.scale(teacher, 1 / temp)], { axis: 1 });
      const p = e.op('Exp', [logp]);
      const kl = e.reduce('ReduceSum', e.mul(p, e.sub(logp, logq)), undefined, false);
      const loss = e.mul(kl, batchMeanScale(e, y, temp * temp * weight));
      // d/dy of T^2/N * sum p (log p - log softmax(y/T)) = T^2/N * (q - p) / T.
      const grad = e.mul(e.sub(e.op('Exp', [logq]), p), batchMeanScale(e, y, temp * weight));
      return { loss, seedValue: y, seedGrad: grad };
    }
    case 'scalar': {
      const loss = e.scale(e.reduce('ReduceSum', y, undefined, false), weight);
      const s = e.staticShape(y);
      const grad = s ? e.constant(new Array<number>(s.reduce((a, b) => a * b, 1)).fill(weight), s) : e.op('Expand', [e.constant(weight), e.shape(y)]);
      return { loss, seedValue: y, seedGrad: grad };
    }
  }
}

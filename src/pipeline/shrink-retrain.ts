/**
 * Depth compression with retraining: plan by measurement (src/shrink/shrink.ts), retrain the linearized
 * network (the chosen activations already the identity, padding moved, collapsed blocks one conv; the
 * convs of each run still separate) by distillation from the original model (src/train/finetune.ts,
 * mode 'distill': labels + KL to the teacher's softened logits), then merge each run into one conv,
 * which is exact for the retrained weights and checked on ONNX Runtime.
 *
 * Annealing (`anneal: n`, after VanillaNet and Layer Folding): instead of removing the activations at
 * once, each removed activation f becomes x + (1 - a) (f(x) - x), with a = 1/n, 2/n, ..., 1 over n
 * stages of epochs / n each (the identity at a = 1), so the network moves from the original to the
 * linear one while it trains; the last stage trains the linear network itself. Activations inside a
 * collapsed block are removed at once (the block is one conv from the start).
 */
import type { Model, Node } from '../ir/graph.js';
import { holdOut, type Data } from '../data/source.js';
import { floatTensor } from '../ir/tensor.js';
import { NameGen, topologicalSort } from '../ir/topology.js';
import { cloneModel } from '../rewrite/engine.js';
import { verifyModels, type Verification } from '../rewrite/verify.js';
import { evaluate } from '../train/evaluate.js';
import { finetune, type FinetuneOptions } from '../train/finetune.js';
import type { EpochStats } from '../train/trainer.js';
import { RebirthError } from '../errors.js';
import { linearize, mergeGroups } from '../shrink/apply.js';
import { foldBatchNorms, withBatchNorms, type Normalized } from '../shrink/normalize.js';
import { measureSpeedup, type Speedup } from '../shrink/latency.js';
import { calibrationFromData, planShrink, type ShrinkPlanOptions, type ShrinkPlanResult } from '../shrink/shrink.js';
import type { Activation } from '../shrink/structure.js';

export type ShrinkRetrainMode = 'distill' | 'none';

export interface ShrinkRetrainOptions extends ShrinkPlanOptions {
  retrain: ShrinkRetrainMode;
  train?: Data;
  test?: Data;
  epochs?: number;
  /**
   * Base learning rate of the distillation (default 0.002). Lower than finetune's 0.005: the linearized
   * network has its BatchNorms folded into large weights and no nonlinearity between merged convs, and
   * at 0.005 the first steps threw resnet-mini from 88% to 37% (0.001-0.002 recovered 83-84% in a
   * quarter epoch).
   */
  lr?: number;
  /** Linear warm-up steps (default 50). */
  warmupSteps?: number;
  batchSize?: number;
  seed?: number;
  /**
   * Training images held out to choose each stage's epoch (finetune's `validation`; default 0: chosen on
   * `test`, whose top-1 is then optimistic).
   */
  validation?: number;
  /** Stages of annealing (0 or undefined: remove the activations at once). */
  anneal?: number;
  /**
   * Epochs of fine-tuning the merged network itself after the merge (default 0), by the same
   * distillation at `polishLr`. The chain (pw . dw . pw, a product of factors) is the easier network to
   * retrain from the original; once merged, each run is one free conv trained in its own parameters,
   * a different parameterization that keeps improving where the chain levels off (docs/shrink.md, section 4).
   */
  polish?: number;
  /** Base learning rate of the polish epochs (default half of `lr`: the merged network starts trained). */
  polishLr?: number;
  /** Average the weights over the steps of each stage (finetune's `ema`: decay per step, e.g. 0.999; default off). */
  ema?: number;
  /**
   * Random crops and mirrors of the training images in every retraining step, the teacher distilling on
   * the same augmented batch (finetune's `augment`; default off: the teacher's logits are then cached).
   */
  augment?: FinetuneOptions['augment'];
  /**
   * Weight of matching each changed item's output to the original network's value of the same name
   * (mean squared error, finetune's `targets`; default 0: off). Each merged run or collapsed block is then
   * also taught what the original computed at its end, not only through the logits (FitNets' hints,
   * Romero et al. 2015, at the block boundaries LayerMerge and DepthShrinker keep). The teacher runs every
   * step (its block outputs cannot be cached).
   */
  hints?: number;
  /**
   * Retrain with a BatchNormalization (training mode) after every changed conv, the identity on
   * calibration images at the start and folded into its conv before the merge (src/shrink/normalize.ts).
   * Needs padding 'push'.
   */
  batchNorm?: boolean;
  progress?: boolean;
  /** Called after every epoch of retraining (after its evaluation), annealing stages included. */
  onEpoch?: (stats: EpochStats) => void;
  checkpoint?: string;
  /**
   * A plan already made by planShrink for this model (reviewed with explainShrink, or chosen by the
   * caller): retrain it instead of planning again. The planning options are then unused.
   */
  planned?: ShrinkPlanResult;
}

export interface ShrinkRetrainResult {
  planned: ShrinkPlanResult;
  /** The merged network. */
  model: Model;
  /** The retrained linearized network (before the final merge). */
  linearized: Model;
  /** The merged network against the linearized one on ORT (exactness of the final merge). */
  verification: Verification;
  /** Top-1 of the teacher, of the linearized network untrained, of the merged one (before any polish) and of the result. */
  accuracy?: { before: number; linearized: number; merged: number; after: number };
  history: EpochStats[];
  /**
   * With `validation`: the held-out top-1 of the merged network before the polish and of the polish's
   * chosen epoch; the polish is kept only when it is higher (otherwise the exact merge is the result).
   */
  polish?: { kept: boolean; validation: { before: number; after: number } };
  diverged?: string;
  latency: Speedup;
}

/**
 * Replace each removed activation f of `linearized` (now absent: its readers read its input) by
 * x + (1 - a) (f(x) - x), with `a` an initializer `<name>/anneal_a` (rank 0: trainers leave it alone).
 */
export function withAnnealedActivations(linearized: Model, folded: Model, removed: readonly Activation[], a: number): Model {
  const m = cloneModel(linearized);
  const g = m.graph;
  const names = new NameGen(g);
  for (const act of removed) {
    const readers = g.nodes.filter((n) => n.inputs.includes(act.input));
    const aName = names.fresh(`${act.name}/anneal_a`);
    g.initializers.set(aName, floatTensor(aName, [], Float32Array.of(1 - a)));
    const rename = new Map<string, string>([[act.input, act.input]]);
    const copies: Node[] = act.nodes.map((n) => {
      const outputs = n.outputs.map((o) => (o ? names.fresh(`${o}/anneal`) : o));
      n.outputs.forEach((o, k) => rename.set(o, outputs[k] as string));
      for (const i of n.inputs.slice(1)) {
        const t = folded.graph.initializers.get(i);
        if (t && !g.initializers.has(i)) g.initializers.set(i, t);
      }
      return { ...n, name: names.fresh(`${n.name}/anneal`), inputs: n.inputs.map((i) => rename.get(i) ?? i), outputs, attributes: [...n.attributes] };
    });
    const f = rename.get(act.output) as string;
    const diff = names.fresh(`${act.name}/anneal_diff`);
    const scaled = names.fresh(`${act.name}/anneal_scaled`);
    const out = names.fresh(`${act.name}/anneal_out`);
    copies.push(
      { name: diff, opType: 'Sub', domain: '', inputs: [f, act.input], outputs: [diff], attributes: [], docString: '' },
      { name: scaled, opType: 'Mul', domain: '', inputs: [diff, aName], outputs: [scaled], attributes: [], docString: '' },
      { name: out, opType: 'Add', domain: '', inputs: [act.input, scaled], outputs: [out], attributes: [], docString: '' },
    );
    for (const r of readers) r.inputs = r.inputs.map((i) => (i === act.input ? out : i));
    g.nodes.push(...copies);
  }
  topologicalSort(g);
  return m;
}

/** Copy the weights `trained` has under the names `into` uses (the annealed copy trains the same parameters). */
function copyWeights(trained: Model, into: Model): void {
  for (const [name, t] of trained.graph.initializers) if (into.graph.initializers.has(name)) into.graph.initializers.set(name, t);
}

type Distillation = Omit<FinetuneOptions, 'epochs'> & { lr: number };

/**
 * The distillation every retraining step of shrink uses (annealing stages, the linear network, the
 * polish): labels + KL to `teacher`, lr 0.002 after 50 warm-up steps, unless `options` say otherwise.
 * `epochs` (and the polish's rate) are the caller's.
 */
export function shrinkDistillation(teacher: Model, train: Data, options: Omit<ShrinkRetrainOptions, 'retrain'>): Distillation {
  return {
    mode: 'distill', train, teacher, lr: options.lr ?? 0.002, warmupSteps: options.warmupSteps ?? 50, seed: options.seed ?? 1,
    progress: options.progress ?? true,
    ...(options.test ? { test: options.test } : {}),
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
    ...(options.ema !== undefined ? { ema: options.ema } : {}),
    ...(options.augment ? { augment: options.augment } : {}),
    ...(options.validation ? { validation: options.validation } : {}),
    ...(options.onEpoch ? { onEpoch: options.onEpoch } : {}),
  };
}

/** The polish's default rate: half the retraining's, since the merged network starts trained. */
export function polishRate(lr: number): number {
  return lr / 2;
}

/** Plan, linearize, retrain, merge, measure (see the file comment). */
export async function shrinkAndRetrain(model: Model, options: ShrinkRetrainOptions): Promise<ShrinkRetrainResult> {
  if (options.retrain === 'distill' && !options.train) throw new RebirthError('shrink: --retrain distill needs training data (--data)');
  if (options.batchNorm && (options.padding ?? options.planned?.padding ?? 'push') !== 'push') {
    throw new RebirthError('shrink: --batch-norm needs --padding push (a folded BatchNorm biases its conv, and with exact padding a biased conv before a padded one does not merge exactly)');
  }
  const planned = options.planned ?? await planShrink(model, options);
  const items = planned.plan.items;
  const lin = linearize(planned.folded, planned.structure, items, planned.padding);
  let linearized = lin.model;
  const history: EpochStats[] = [];
  let diverged: string | undefined;
  const accuracyOf = async (m: Model): Promise<number> => (options.test ? (await evaluate(m, options.test, { threads: options.threads ?? 2 })).top1 : NaN);
  const before = await accuracyOf(model);
  const untrained = await accuracyOf(linearized);
  const retraining = options.retrain === 'distill' && options.train ? shrinkDistillation(model, options.train, options) : undefined;
  const hints = options.hints ?? 0;
  const teacherValues = hints > 0 ? new Set(planned.folded.graph.nodes.flatMap((n) => n.outputs)) : new Set<string>();
  // With hints, the teacher is the folded network: the same function as the input model, under the
  // value names linearize kept. Only boundaries the student being trained computes are matched.
  const hinted = (base: Distillation, student: Model): Distillation => {
    if (hints <= 0) return base;
    const own = new Set(student.graph.nodes.flatMap((n) => n.outputs));
    const targets = lin.boundaries.filter((b) => own.has(b) && teacherValues.has(b));
    return targets.length === 0 ? base : { ...base, teacher: planned.folded, targets, weights: { ...base.weights, blocks: hints } };
  };
  if (retraining && lin.groups.length + lin.removed.length > 0) {
    let normalized: Normalized | undefined;
    if (options.batchNorm && lin.changed.length > 0) {
      const calib = options.calibration ?? await calibrationFromData(retraining.train, 512);
      normalized = await withBatchNorms(linearized, lin.changed, calib, { threads: options.threads ?? 1 });
      linearized = normalized.model;
    }
    const epochs = options.epochs ?? 1;
    const stages = Math.max(0, Math.floor(options.anneal ?? 0));
    // Activations inside a collapsed block have no counterpart left (the block is one conv already).
    const present = new Set(linearized.graph.nodes.flatMap((n) => n.outputs));
    const removedActs = items.flatMap((i) => i.removed).filter((a) => present.has(a.input));
    for (let s = 1; s < stages; s++) {
      const staged = withAnnealedActivations(linearized, planned.folded, removedActs, s / stages);
      const r = await finetune(staged, { ...hinted(retraining, staged), epochs: epochs / stages });
      history.push(...r.history);
      copyWeights(r.model, linearized);
      if (r.diverged) {
        diverged = r.diverged.message;
        break;
      }
    }
    if (!diverged) {
      const r = await finetune(linearized, { ...hinted(retraining, linearized), epochs: stages > 0 ? epochs / stages : epochs });
      history.push(...r.history);
      if (r.diverged) diverged = r.diverged.message;
    }
    if (normalized) foldBatchNorms(linearized, normalized);
  }
  let merged = mergeGroups(linearized, lin.groups);
  const verification = await verifyModels(linearized, merged, { tolerance: 1e-4 });
  if (!verification.passed) {
    throw new RebirthError(`shrink: the merged network differs from the retrained one by ${verification.maxRelError.toExponential(2)} relative; report this`);
  }
  const mergedTop1 = await accuracyOf(merged);
  let after = mergedTop1;
  const polish = options.polish ?? 0;
  let polished: ShrinkRetrainResult['polish'];
  if (retraining && polish > 0 && !diverged && lin.groups.length > 0) {
    const r = await finetune(cloneModel(merged), { ...hinted(retraining, merged), epochs: polish, lr: options.polishLr ?? polishRate(retraining.lr) });
    history.push(...r.history);
    // The merged network before the polish is a candidate epoch too: on the same held-out images
    // (holdOut is deterministic) the polish must beat it to be kept.
    const held = retraining.validation ? holdOut(retraining.train, retraining.validation).validation : undefined;
    const chosen = r.history[r.bestEpoch - 1];
    if (held && chosen?.validation && !r.diverged) {
      const before = (await evaluate(merged, held, { threads: options.threads ?? 2 })).top1;
      polished = { kept: chosen.validation.top1 > before, validation: { before, after: chosen.validation.top1 } };
    }
    if (r.diverged) diverged = r.diverged.message;
    else if (polished?.kept !== false) {
      merged = r.model;
      // finetune returns its chosen epoch; its test top-1 is that of the returned weights.
      after = chosen?.eval?.top1 ?? await accuracyOf(merged);
    }
  }
  // A loss that stays finite can still leave the network at chance (the linearized mobilenetv2-mini at lr
  // 0.01: 10.00% after every epoch); the trainer only stops on a non-finite loss, so say it here.
  const chance = options.test && options.test.classes > 0 ? 1 / options.test.classes : NaN;
  if (!diverged && after < 1.5 * chance && untrained >= 1.5 * chance) {
    diverged = `retraining left the network at chance (${(100 * after).toFixed(2)}% top-1, from ${(100 * untrained).toFixed(2)}% before it): lower --lr (the default is 0.002)`;
  }
  const latency = await measureSpeedup(planned.folded, merged, {
    backend: planned.target, ...(options.clock ? { clock: options.clock } : {}), runs: Math.max(40, options.runs ?? 20),
    ...(options.measureSeconds !== undefined ? { minSeconds: options.measureSeconds } : {}),
  });
  return {
    planned, model: merged, linearized, verification, history, latency, ...(polished ? { polish: polished } : {}),
    ...(options.test ? { accuracy: { before, linearized: untrained, merged: mergedTop1, after } } : {}),
    ...(diverged ? { diverged } : {}),
  };
}

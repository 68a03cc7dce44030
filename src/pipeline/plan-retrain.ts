/**
 * Retraining a composed runtime plan (merge, shrink, tucker, fusion in one plan: src/plan) on the
 * original model's data, distilled from the original model throughout.
 *
 * The stages cannot all be retrained at once: a shrink run is trained while its convs are still
 * separate (the linearized network, src/shrink/apply.ts) and only merged into one conv afterwards, and
 * Tucker factors come from the HOSVD of the weights they replace, so they have to be computed from
 * weights that are already retrained (a rebirth conv, a shrink run's merged conv). Hence two
 * distillation passes, in the plan's stage order:
 *
 * 1. The plan's merges built as `mergeAndRetrain` builds them (exact folds, the kept merges with the
 *    plan's kernel modes and reducer widths, init inherit / xavier / fit; its mode 'none', so it trains
 *    nothing itself), then the kept shrink items linearized on that model: the removed activations are
 *    the identity, the convs of each run still separate. One distillation pass trains this whole
 *    network, rebirth layers and linear runs together. Not one pass per stage (mergeAndRetrain's own
 *    distillation, then shrinkAndRetrain's): the shrink pass trains every parameter anyway, rebirth
 *    layers included, and a rebirth conv that a shrink run swallows (googlenet-mini's conv1 rebirth
 *    conv with conv2/3x3_reduce) has to be trained as a separate conv of the run; one pass costs one
 *    epoch budget and one teacher-logit computation instead of two.
 *    The runs are then merged exactly (mergeGroups) and the merge is checked against the retrained
 *    linear network on ONNX Runtime (verifyModels), as shrinkAndRetrain does.
 * 2. The kept Tucker decompositions rebuilt on the retrained weights (applyPlan's tucker stage, the
 *    plan's explicit ranks), then a second, shorter distillation pass of the whole network, factors
 *    included (default half the epochs of the first: the factors start from the HOSVD of trained
 *    weights, not from scratch; the split is a choice, not a measurement).
 * Fusions last, on the final weights: they are exact, so they need no training.
 *
 * Learning rates: the base rate defaults to shrinkAndRetrain's 0.002 with 50 warm-up steps when the plan
 * has shrink changes (its measurement: at 0.005 the linearized resnet-mini fell from 88% to 37% in the
 * first steps), else to mergeAndRetrain's 0.005 without warm-up. Rebirth layers get mergeAndRetrain's
 * factor (10, 1 after init 'fit'), except those inside a shrink run: there the rebirth conv is
 * multiplied into its neighbours with no nonlinearity between, which is what the low base rate is for.
 * Tucker factors train at the base rate (tuckerAndRetrain's distill default: at 10x googlenet-mini's
 * distillation diverged). Block-output matching (`weights.blocks`, default 0) applies to the rebirth
 * layers' targets in pass 1 only: after merges and shrink, a decomposed layer's output of the same name
 * is no longer the teacher's function of the input (a merged run computes without the removed
 * activations), so pass 2 matches logits only, which also lets finetune compute them once.
 *
 * The model is folded as the plan folded it (no Dropout kept): the plan's recipes name the units of that
 * graph. Mode 'none' builds the same network on the given weights without training and reports the
 * accuracies; there is no 'paper' mode (labels only, one merge per step) for composed plans.
 */
import type { Model } from '../ir/graph.js';
import type { TrainResult } from '../train/trainer.js';
import { evaluate } from '../train/evaluate.js';
import { finetune } from '../train/finetune.js';
import { verifyModels, type Verification } from '../rewrite/verify.js';
import { RebirthError } from '../errors.js';
import { mergeAndRetrain, type RebirthInit, type RetrainOptions, type RetrainStep } from './merge-retrain.js';
import { sharedValues } from './tucker-retrain.js';
import type { AppliedMerge, Refusal } from '../merge/plan.js';
import type { FoldReport } from '../merge/fold.js';
import type { FitReport } from '../merge/fit.js';
import { applyPlan, planMergeOptions, planShrinkItems, planTuckerRanks, type RuntimePlanReport } from '../plan/plan.js';
import { resolveShrinkItems } from '../plan/families.js';
import { linearize, mergeGroups, type MergeGroup } from '../shrink/apply.js';
import { analyzeStructure } from '../shrink/structure.js';

export type PlanRetrainMode = 'distill' | 'none';

/**
 * Options shared with mergeAndRetrain keep its declarations (Pick); those whose defaults differ when the
 * plan holds shrink runs are declared here.
 */
export interface PlanRetrainOptions extends Pick<RetrainOptions,
  'train' | 'test' | 'validation' | 'augment' | 'batchSize' | 'temperature' | 'fitImages' | 'fitRefineImages' | 'seed' | 'threads' | 'progress' | 'onStep' | 'onEpoch'> {
  mode: PlanRetrainMode;
  /** Epochs of the first pass (merges + linearized shrink runs); fractions train on that share of the data. */
  epochs: number;
  /** Epochs of the second pass (after the Tucker decompositions). Default `epochs / 2`. */
  tuckerEpochs?: number;
  /**
   * The merge options the plan does not hold (kinds, fold, layout, reducer5Ratio); the plan's `only`
   * and per-candidate kernel modes and widths are added from `plan.kept`.
   */
  merge?: Omit<RetrainOptions['merge'], 'only' | 'perCandidate'>;
  /** Initial weights of the rebirth layers (default 'inherit': the planned model's function). */
  init?: RebirthInit;
  /** Base learning rate: default 0.002 with shrink changes in the plan, else 0.005 (file comment). */
  lr?: number;
  /** Learning-rate factor of rebirth layers outside shrink runs (default 10, 1 after init 'fit'). */
  rebirthLrFactor?: number;
  /** Linear warm-up steps of each pass (default 50 with shrink changes in the plan, else 0). */
  warmupSteps?: number;
  /** Loss weights: labels 1, KL 1, rebirth-layer block-output MSE 0 (first pass only). */
  weights?: { labels?: number; kl?: number; blocks?: number };
  /** HOOI iterations of the Tucker rebuild (default 0, as plans build candidates). */
  hooi?: number;
  /** Checkpoint of the first pass; the second pass uses `FILE.tucker`. */
  checkpoint?: string;
  /** A kept change that no longer applies to the retrained weights (applyPlan's warning). */
  onWarning?: (line: string) => void;
}

/** One distillation pass: what it trained and how far it got. */
export interface PlanRetrainPass {
  /** 1: before the shrink runs are merged and Tucker decomposes; 2: after. */
  pass: 1 | 2;
  /** 'merges + linearized shrink runs' (or either alone) or 'Tucker factors'. */
  name: string;
  /** The plan's kept changes introduced before this pass (by their plan names); every parameter trains. */
  changes: string[];
  epochs: number;
  /** Test top-1 after the pass (the best epoch's). */
  top1: number;
}

export interface PlanRetrainResult {
  model: Model;
  folds: FoldReport[];
  merges: AppliedMerge[];
  refused: Refusal[];
  fits: FitReport[];
  /** The distillation passes run (none in mode 'none', or when the plan kept nothing approximate). */
  passes: PlanRetrainPass[];
  /** Shrink runs merged after the first pass, and the merge checked against the retrained linear network. */
  shrink?: { groups: MergeGroup[]; removed: string[]; verification: Verification };
  /** Layers decomposed after the first pass (plan ranks). */
  tucker?: { layers: string[] };
  /** Kept changes applied exactly, without training: exact merges (Fire) and fusions. */
  exact: string[];
  diverged?: string;
  accuracy: { before: number; after: number; steps: RetrainStep[] };
}

/** Rebuild the plan's changes on `original`'s weights and retrain them (see the file comment). `original` is not modified. */
export async function retrainPlan(original: Model, plan: Pick<RuntimePlanReport, 'kept'>, options: PlanRetrainOptions): Promise<PlanRetrainResult> {
  if (options.mode !== 'distill' && options.mode !== 'none') {
    throw new RebirthError(`retraining a plan: mode must be 'distill' or 'none', got '${String(options.mode)}'`);
  }
  if (!(options.epochs > 0)) throw new RebirthError(`retraining a plan: epochs must be positive, got ${options.epochs}`);
  const tuckerEpochs = options.tuckerEpochs ?? options.epochs / 2;
  if (!(tuckerEpochs > 0)) throw new RebirthError(`retraining a plan: tuckerEpochs must be positive, got ${tuckerEpochs}`);
  const threads = options.threads ?? 2;
  const seed = options.seed ?? 1;
  const init = options.init ?? 'inherit';
  const shrinkEntries = planShrinkItems(plan);
  if (shrinkEntries.length > 1) {
    throw new RebirthError(`retraining a plan: its shrink changes use several padding modes (${shrinkEntries.map((e) => e.padding).join(', ')}); one linearization needs one, plan with one shrink padding`);
  }
  const shrinkItems = shrinkEntries[0];
  const hasShrink = shrinkItems !== undefined && shrinkItems.items.length > 0;
  const lr = options.lr ?? (hasShrink ? 0.002 : 0.005);
  const warmupSteps = options.warmupSteps ?? (hasShrink ? 50 : 0);
  const training = options.mode === 'distill';
  const steps: RetrainStep[] = [];
  const passes: PlanRetrainPass[] = [];
  let diverged: string | undefined;
  const record = async (step: string, model: Model, r?: TrainResult): Promise<number> => {
    const epochs = r?.history ?? [];
    const best = r && r.bestEpoch > 0 ? epochs[r.bestEpoch - 1]?.eval?.top1 : undefined;
    const s: RetrainStep = { step, top1: best ?? (await evaluate(model, options.test, { threads })).top1, epochs };
    steps.push(s);
    options.onStep?.(s);
    if (r?.diverged) diverged = `${diverged ? `${diverged}; ` : ''}${step}: ${r.diverged.message}; kept the best weights before it`;
    return s.top1;
  };
  const distill = (model: Model, epochs: number, extra: { fastParams?: string[]; targets?: string[]; checkpoint?: string; blocks: number }): Promise<TrainResult> => finetune(model, {
    mode: 'distill', teacher: original, train: options.train, test: options.test, epochs, lr, warmupSteps, seed, threads,
    progress: options.progress ?? true,
    ...(extra.fastParams?.length ? { fastParams: extra.fastParams, fastFactor: options.rebirthLrFactor ?? (init === 'fit' ? 1 : 10) } : {}),
    ...(extra.targets?.length ? { targets: extra.targets } : {}),
    weights: { ...options.weights, blocks: extra.blocks },
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    ...(options.validation ? { validation: options.validation } : {}),
    ...(options.augment ? { augment: options.augment } : {}),
    ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
    ...(extra.checkpoint ? { checkpoint: extra.checkpoint } : {}),
    ...(options.onEpoch ? { onEpoch: options.onEpoch } : {}),
  });

  // Stage 1: the merges, built (and fitted, with init 'fit') by mergeAndRetrain without training; it
  // also evaluates the teacher and the merged network.
  const merged = await mergeAndRetrain(original, {
    mode: 'none', init, seed, threads, train: options.train, test: options.test, epochs: options.epochs,
    merge: { streamline: true, branch: true, fire: true, ...options.merge, ...planMergeOptions(plan) },
    progress: options.progress ?? true,
    ...(options.fitImages !== undefined ? { fitImages: options.fitImages } : {}),
    ...(options.fitRefineImages !== undefined ? { fitRefineImages: options.fitRefineImages } : {}),
  });
  const before = merged.accuracy.before;
  if (merged.merges.length > 0) {
    // mergeAndRetrain evaluated the merged network already (its mode 'none' step).
    const s: RetrainStep = { step: `merges${init === 'fit' ? ' (fit)' : ''}, untrained`, top1: merged.accuracy.after, epochs: [] };
    steps.push(s);
    options.onStep?.(s);
  }
  const keptByStage = (stage: string): string[] => plan.kept.filter((k) => k.stage === stage).map((k) => k.name);
  const approximateMerges = plan.kept.filter((k) => k.stage === 'merge' && k.exactness === 'approximate').map((k) => k.name);
  const exact = plan.kept.filter((k) => (k.stage === 'merge' && k.exactness === 'exact') || k.stage === 'fusion').map((k) => k.name);

  // Stage 2: the shrink runs linearized on the merged weights; pass 1 trains merges and runs together.
  let model = merged.model;
  let lin: ReturnType<typeof linearize> | undefined;
  if (hasShrink) {
    const structure = analyzeStructure(model);
    lin = linearize(model, structure, resolveShrinkItems(structure, shrinkItems.items), shrinkItems.padding);
    model = lin.model;
    await record(`shrink runs linearized (${lin.removed.length} activation(s) removed), untrained`, model);
  }
  const pass1 = [...approximateMerges, ...keptByStage('shrink')];
  if (training && pass1.length > 0) {
    const runConvs = new Set((lin?.groups ?? []).flatMap((g) => g.convs));
    const initializers = model.graph.initializers;
    const fast = merged.rebirthLayers.filter((l) => !runConvs.has(l.node)).flatMap((l) => l.params).filter((p) => initializers.has(p));
    const blocks = options.weights?.blocks ?? 0;
    const targets = blocks > 0 ? sharedValues(model, original, merged.rebirthLayers.map((l) => l.target)) : [];
    const name = hasShrink ? (approximateMerges.length > 0 ? 'merges + linearized shrink runs' : 'linearized shrink runs') : 'merges';
    const r = await distill(model, options.epochs, { fastParams: fast, targets, blocks, ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}) });
    const top1 = await record(`${name} (distill)`, model, r);
    passes.push({ pass: 1, name, changes: pass1, epochs: options.epochs, top1 });
  }

  let shrink: PlanRetrainResult['shrink'];
  if (lin) {
    const linear = model;
    model = mergeGroups(linear, lin.groups);
    const verification = await verifyModels(linear, model, { tolerance: 1e-4 });
    if (!verification.passed) {
      throw new RebirthError(`retraining the plan: the merged shrink runs differ from the retrained linear network by ${verification.maxRelError.toExponential(2)} relative; report this`);
    }
    shrink = { groups: lin.groups, removed: lin.removed, verification };
  }

  // Stage 3: Tucker factors from the retrained weights, then pass 2.
  let tucker: PlanRetrainResult['tucker'];
  const ranks = planTuckerRanks(plan);
  if (Object.keys(ranks).length > 0) {
    model = await applyPlan(model, plan, { stages: ['tucker'], ...(options.hooi !== undefined ? { hooi: options.hooi } : {}) });
    tucker = { layers: Object.keys(ranks) };
    await record('Tucker factors, untrained', model);
    if (training) {
      const r = await distill(model, tuckerEpochs, { blocks: 0, ...(options.checkpoint ? { checkpoint: `${options.checkpoint}.tucker` } : {}) });
      const top1 = await record('Tucker factors (distill)', model, r);
      passes.push({ pass: 2, name: 'Tucker factors', changes: keptByStage('tucker'), epochs: tuckerEpochs, top1 });
    }
  }

  // Stage 4: the fusions, exact, on the final weights.
  model = await applyPlan(model, plan, { stages: ['fusion'], ...(options.onWarning ? { onWarning: options.onWarning } : {}) });
  const after = steps[steps.length - 1]?.top1 ?? before;
  return {
    model, folds: merged.folds, merges: merged.merges, refused: merged.refused, fits: merged.fits, passes, exact,
    ...(shrink ? { shrink } : {}), ...(tucker ? { tucker } : {}),
    ...(diverged ? { diverged } : {}),
    accuracy: { before, after, steps },
  };
}

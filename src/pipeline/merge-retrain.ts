/**
 * Retraining the rebirth layers (DeepRebirth section "Retraining"): merge, then learn the merged layers'
 * weights on ONNX Runtime through the generated training graph.
 *
 * - 'paper': bottom to top, one merge per step; after each merge the whole network trains, the rebirth
 *   layers at 10x the learning rate of the rest, SGD momentum 0.9, labels only; accuracy after each step.
 * - 'distill' (ours): all merges at once, trained against the unmerged teacher: labels + KL divergence to
 *   the teacher's softened logits + mean squared error between each merged block's output and the
 *   teacher's output of the same block (the `target` value every rebirth layer names).
 * - 'none': structure only.
 * Init 'fit' (ours) starts from 'inherit' and solves each rebirth layer by least squares against the
 * teacher's block outputs on calibration images (src/merge/fit.ts) before the main retraining.
 *
 * The teacher is first folded exactly (BatchNorm, Scale, Pad, identities; verified on ONNX Runtime:
 * src/merge/fold.ts) and the folded copy is merged; the teacher for distillation, fitting and the
 * 'before' accuracy stays the model given. Exact merges (Fire) create no rebirth layer: they need no
 * retraining, so 'paper' applies them before its steps and 'distill' skips training when nothing else merged.
 */
import type { Model } from '../ir/graph.js';
import type { Data } from '../data/source.js';
import type { EpochStats, TrainResult } from '../train/trainer.js';
import { evaluate } from '../train/evaluate.js';
import { finetune, type FinetuneOptions } from '../train/finetune.js';
import { applyMerges, planMerges, type AppliedMerge, type MergeOptions, type Refusal } from '../merge/plan.js';
import { foldForMerge, type FoldReport } from '../merge/fold.js';
import type { RebirthLayer } from '../merge/init.js';
import { fitRebirthLayers, type FitReport } from '../merge/fit.js';
import { cloneModel } from '../rewrite/engine.js';

export type RetrainMode = 'paper' | 'distill' | 'none';
export type RebirthInit = 'xavier' | 'inherit' | 'fit';

export interface RetrainOptions {
  mode: RetrainMode;
  merge: Omit<MergeOptions, 'init' | 'only'> & { only?: readonly string[] };
  init: RebirthInit;
  /** Training data; unlabeled data (an image folder without class folders) works with mode 'distill'. */
  train: Data;
  /** Labeled evaluation data. */
  test: Data;
  /** 'paper': epochs per step; 'distill': epochs in all. Fractions train on that share of the data. */
  epochs: number;
  /** Training images held out to choose each retraining's epoch (finetune's `validation`; default 0: chosen on `test`). */
  validation?: number;
  /** Random crops and mirrors of the training images, the teacher distilling on the same views (finetune's `augment`; default off). */
  augment?: FinetuneOptions['augment'];
  batchSize?: number;
  /** Learning rate of the non-rebirth layers (default 0.005). */
  lr?: number;
  /**
   * Learning-rate factor of the rebirth layers: default 10 (the paper: 0.01 vs 0.001), but 1 after
   * init 'fit': fitted layers start near their solution, and 10x measurably undoes the fit (the
   * training loss rose from 0.8 to 5.6 within 20 steps, and diverged at lr 0.005; docs/deeprebirth.md).
   */
  rebirthLrFactor?: number;
  /** Linear learning-rate warm-up steps at the start of each retraining (default 0). */
  warmupSteps?: number;
  seed?: number;
  threads?: number;
  /**
   * Distillation temperature (default 4) and loss weights: labels 1, KL 1, block-output MSE 0. Block
   * matching (e.g. 0.1) is available but off by default: it measured no better (3 epochs: 91.63% with
   * 0.1, 91.70% without) and needs the teacher's forward pass in every step, while logits alone are
   * computed once (docs/deeprebirth.md section 7).
   */
  temperature?: number;
  weights?: { labels?: number; kl?: number; blocks?: number };
  /** Calibration images for init 'fit' (default 1024). */
  fitImages?: number;
  /** Images for the gradient refinement after the least-squares fit (default 4096; 0: none). */
  fitRefineImages?: number;
  progress?: boolean;
  /** Checkpoint file of the retraining ('paper': one per step, `FILE.<step>`). */
  checkpoint?: string;
  onStep?: (step: RetrainStep) => void;
  /** After every retraining epoch (its loss and test top-1): long runs report as they go. */
  onEpoch?: (stats: EpochStats) => void;
}

export interface RetrainStep {
  step: string;
  top1: number;
  epochs: EpochStats[];
}

export interface RetrainResult {
  model: Model;
  /** The exact folds made before merging (empty with `merge.fold: false`). */
  folds: FoldReport[];
  merges: AppliedMerge[];
  refused: Refusal[];
  rebirthLayers: RebirthLayer[];
  /** Init 'fit': per rebirth layer, the block-output error before and after the least-squares solve. */
  fits: FitReport[];
  /** Set when retraining diverged: what happened; the model holds the best weights before it. */
  diverged?: string;
  accuracy: { before: number; after: number; steps: RetrainStep[] };
}

/** Merge a trained model and retrain the merged layers. `teacher` is not modified. */
export async function mergeAndRetrain(teacher: Model, options: RetrainOptions): Promise<RetrainResult> {
  const threads = options.threads ?? 2;
  const seed = options.seed ?? 1;
  const before = (await evaluate(teacher, options.test, { threads })).top1;
  const steps: RetrainStep[] = [];
  const fits: FitReport[] = [];
  let diverged: string | undefined;
  const init = options.init === 'fit' ? 'inherit' : options.init;
  const record = async (step: string, model: Model, r: TrainResult | undefined): Promise<void> => {
    const epochs = r?.history ?? [];
    const best = r && r.bestEpoch > 0 ? epochs[r.bestEpoch - 1]?.eval?.top1 : undefined;
    const s: RetrainStep = { step, top1: best ?? (await evaluate(model, options.test, { threads })).top1, epochs };
    steps.push(s);
    options.onStep?.(s);
    if (r?.diverged) diverged = `${step}: ${r.diverged.message}; kept the best weights so far`;
  };
  const fit = async (model: Model, layers: readonly RebirthLayer[]): Promise<void> => {
    if (options.init !== 'fit' || layers.length === 0) return;
    fits.push(...(await fitRebirthLayers(model, teacher, layers, {
      data: options.train, images: options.fitImages ?? 1024, threads, progress: options.progress ?? true, seed,
      ...(options.fitRefineImages === undefined ? {} : { refineImages: options.fitRefineImages }),
    })).layers);
  };
  const checkpoint = (step: string): string | undefined => (options.checkpoint ? `${options.checkpoint}${options.mode === 'paper' ? `.${step.replace(/[^\w.-]+/g, '_')}` : ''}` : undefined);
  // Dropout stays when the merged model is retrained: the trainer runs it in training mode.
  const { model: folded, folds } = options.merge.fold === false ? { model: teacher, folds: [] } : await foldForMerge(teacher, { keepDropout: options.mode !== 'none' });
  const mergeOptions = { ...options.merge, init, seed, fold: false };

  if (options.mode === 'paper') {
    // Bottom to top: the planner lists candidates in graph order. Exact merges first, all at once: they
    // do not change the function, so there is nothing to retrain after them.
    const plan = planMerges(folded, mergeOptions);
    const selected = plan.candidates.filter((c) => !options.merge.only || options.merge.only.includes(c.name));
    const exact = selected.filter((c) => c.exact).map((c) => c.name);
    const names = selected.filter((c) => !c.exact).map((c) => c.name);
    let model = cloneModel(folded);
    const merges: AppliedMerge[] = [];
    const layers: RebirthLayer[] = [];
    if (exact.length > 0) {
      const r = applyMerges(model, { ...mergeOptions, only: exact });
      merges.push(...r.merges);
      model = r.model;
    }
    for (const name of names) {
      const r = applyMerges(model, { ...mergeOptions, only: [name] });
      if (r.merges.length === 0) continue;
      merges.push(...r.merges);
      layers.push(...r.rebirthLayers);
      model = r.model;
      await fit(model, r.rebirthLayers);
      await record(name, model, await retrain(model, teacher, options, r.rebirthLayers, 'labels', checkpoint(name)));
      if (diverged) break;
    }
    if (names.length === 0 && merges.length > 0) await record('exact merges only (no retraining needed)', model, undefined);
    const after = steps[steps.length - 1]?.top1 ?? before;
    return { model, folds, merges, refused: plan.refused, rebirthLayers: layers, fits, ...(diverged ? { diverged } : {}), accuracy: { before, after, steps } };
  }

  const r = applyMerges(folded, mergeOptions);
  const model = r.model;
  await fit(model, r.rebirthLayers);
  if (options.mode === 'distill' && r.rebirthLayers.length > 0) {
    await record('all merges (distill)', model, await retrain(model, teacher, options, r.rebirthLayers, 'distill', checkpoint('all')));
  } else if (r.merges.length > 0) {
    const step = r.rebirthLayers.length === 0 ? 'exact merges only (no retraining needed)' : options.init === 'fit' ? 'fit only' : 'no retraining';
    await record(step, model, undefined);
  }
  const after = steps[steps.length - 1]?.top1 ?? before;
  return { model, folds, merges: r.merges, refused: r.refused, rebirthLayers: r.rebirthLayers, fits, ...(diverged ? { diverged } : {}), accuracy: { before, after, steps } };
}

function retrain(model: Model, teacher: Model, options: RetrainOptions, layers: readonly RebirthLayer[], mode: 'labels' | 'distill', checkpoint?: string): Promise<TrainResult> {
  return finetune(model, {
    mode, teacher, train: options.train, test: options.test, epochs: options.epochs,
    targets: layers.map((l) => l.target), fastParams: layers.flatMap((l) => l.params),
    fastFactor: options.rebirthLrFactor ?? (options.init === 'fit' ? 1 : 10),
    lr: options.lr ?? 0.005, seed: options.seed ?? 1, threads: options.threads ?? 2, progress: options.progress ?? true,
    ...(options.batchSize ? { batchSize: options.batchSize } : {}),
    ...(options.validation ? { validation: options.validation } : {}),
    ...(options.augment ? { augment: options.augment } : {}),
    ...(options.warmupSteps ? { warmupSteps: options.warmupSteps } : {}),
    ...(options.temperature ? { temperature: options.temperature } : {}),
    weights: { blocks: 0, ...options.weights },
    ...(checkpoint ? { checkpoint } : {}),
    ...(options.onEpoch ? { onEpoch: options.onEpoch } : {}),
  });
}

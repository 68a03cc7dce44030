import * as fs from 'node:fs';
import type { Model } from '../ir/graph.js';
import { batchCount, type AugmentOptions, type Batch } from '../data/dataset.js';
import { dataOrigin, isLabeled, streamBatches, type Data } from '../data/source.js';
import { encodeModel } from '../onnx/encode.js';
import type { HostTensor } from '../runtime/session.js';
import { createStepRunner, stepLayout } from './step-runner.js';
import { buildTrainingGraph, type LossSpec } from '../autodiff/training-graph.js';
import { normalizeModelTrainingExport } from '../autodiff/training-export.js';
import { Optimizer, type OptimizerConfig, type ParamGroup } from './optimizers.js';
import { learningRate, type Schedule } from './schedule.js';
import { floatParamNames, readParams, writeParams } from './params.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { Progress } from '../util/progress.js';
import { RebirthError } from '../errors.js';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: OptimizerConfig;
  schedule: Schedule;
  /** One loss or a weighted sum (e.g. cross-entropy + distillation); default cross-entropy on labels. */
  loss?: LossSpec | LossSpec[];
  /**
   * Extra per-batch inputs of the training graph (teacher logits, block targets for distillation),
   * computed from the batch images (or looked up by `batch.samples`).
   */
  batchFeeds?: (x: Float32Array, size: number, batch: Batch) => Promise<Record<string, HostTensor>>;
  /**
   * Parameters to train (default: every float initializer but BatchNormalization running statistics, which
   * are state: updated from batch statistics each step, see freezeBatchNorm); the rest stay frozen.
   */
  trainable?: readonly string[];
  /**
   * Keep BatchNormalization in inference mode: running statistics frozen and used as constants, scale and
   * bias still trained unless left out of `trainable` (PyTorch's `bn.eval()` during fine-tuning; CLI
   * --freeze-bn). Default false: BN normalizes with batch statistics and its running statistics are updated
   * with the node's momentum after every step.
   */
  freezeBatchNorm?: boolean;
  /**
   * Running-variance update of training-mode BatchNormalization: 'unbiased' (default, PyTorch's: the batch
   * variance times M/(M-1), M = N*H*W) or 'population' (what ONNX specifies for BN's training mode).
   * The models rebirth retrains come from PyTorch, so its convention is the default; the two differ by
   * M/(M-1), under 2% for any map of 8x8 or more.
   */
  runningVariance?: 'population' | 'unbiased';
  /** Learning-rate multipliers by parameter name (DeepRebirth: 10 for rebirth layers). */
  lrMult?: ReadonlyMap<string, number>;
  augment?: AugmentOptions;
  seed: number;
  /** Intra-op threads in all (default 2); with replicas, each replica gets threads / replicas. */
  threads?: number;
  /**
   * Data parallel: split each batch over this many worker threads, each running the training graph on
   * its share (src/train/step-runner.ts); 'auto' (default) uses one replica per thread where that is exact
   * (see resolveReplicas). A number forces it, also with training-mode BatchNormalization, which then
   * normalizes each share by its own statistics (as PyTorch's DDP does without SyncBatchNorm).
   */
  replicas?: number | 'auto';
  /**
   * Exponential moving average of the trained parameters (Polyak averaging), with this decay per step
   * (e.g. 0.999: a horizon of about 1,000 steps); 0 or undefined: off. The decay is ramped in as
   * min(decay, (1 + t) / (10 + t)) after t steps, so the average is not held near the starting weights.
   * Evaluation, the best-epoch choice and the returned weights use the average; the optimizer keeps
   * stepping the raw weights. State (BatchNormalization running statistics) is taken as it is.
   */
  ema?: number;
  /** Checkpoint file written after every epoch; with `resume`, training continues from it. */
  checkpoint?: string;
  resume?: boolean;
  /** Evaluated after every epoch (test top-1 is reported and, without `selectData`, the best epoch's weights are kept). */
  evalData?: Data;
  /**
   * Evaluated after every epoch to choose the epoch whose weights are returned (a validation split held
   * out of the training data). With it, `evalData` is only reported, so its top-1 for the chosen epoch is
   * an estimate no choice has seen.
   */
  selectData?: Data;
  /** Show a progress bar (default true). */
  progress?: boolean;
  onEpoch?: (stats: EpochStats) => void;
  /**
   * On a non-finite loss, stop and return the best weights so far (the best evaluated epoch, or the
   * starting weights before any) with `diverged` set, instead of throwing.
   */
  stopOnDivergence?: boolean;
}

export interface EpochStats {
  epoch: number;
  loss: number;
  trainTop1: number;
  lr: number;
  imagesPerSecond: number;
  eval?: Pick<EvalResult, 'top1' | 'top5' | 'loss'>;
  /** On `selectData`, when given: what chose the epoch. */
  validation?: Pick<EvalResult, 'top1' | 'top5' | 'loss'>;
}

export interface TrainResult {
  /** The model with the weights of the best evaluated epoch (by selectData, else evalData; the last epoch without either). */
  model: Model;
  history: EpochStats[];
  bestEpoch: number;
  /** Set when `stopOnDivergence` stopped training. */
  diverged?: { epoch: number; step: number; loss: number; message: string };
}

interface CheckpointMeta {
  epoch: number;
  seed: number;
  batchSize: number;
  history: EpochStats[];
  bestEpoch: number;
  bestTop1: number;
  optimizer: { kind: OptimizerConfig['kind']; step: number; slotKeys: Array<[string, string]> };
}

/**
 * Mini-batch training on ONNX Runtime. One training graph (forward + loss + backward, built by
 * src/autodiff) runs per step with the parameters fed as inputs; the optimizer updates them in JS.
 * Determinism: batch order and augmentation are functions of (seed, epoch, batch), dropout masks of
 * (seed, step), and checkpoints store float32 values bit for bit, so --resume continues exactly.
 */
export async function train(model: Model, data: Data, options: TrainOptions): Promise<TrainResult> {
  // A training-mode export (BatchNormalization with running-statistics outputs, Dropout with training_mode)
  // is rewritten into its inference form in place, like the weights are written in place: the trained
  // model must deploy with inference semantics, and the trainer supplies the training semantics itself.
  normalizeModelTrainingExport(model);
  const trainable = options.trainable ?? floatParamNames(model);
  const loss: LossSpec | LossSpec[] = options.loss ?? { kind: 'cross-entropy' };
  const tg = buildTrainingGraph(model, {
    loss, trainable: [...trainable], seed: options.seed,
    freezeBatchNorm: options.freezeBatchNorm ?? false, runningVariance: options.runningVariance ?? 'unbiased',
  });
  if (!tg.inputName) throw new RebirthError('training needs a model with one data input');
  const inputName = tg.inputName;
  // Class labels go to the cross-entropy loss's label input, when there is one.
  const ce = (Array.isArray(loss) ? loss : [loss]).find((l) => l.kind === 'cross-entropy' || l.kind === 'softmax-cross-entropy');
  const labelsName = ce ? (('labelsName' in ce ? ce.labelsName : undefined) ?? 'labels') : undefined;
  if (labelsName && !isLabeled(data)) {
    throw new RebirthError(`${dataOrigin(data)} is unlabeled (no class folders): a label loss needs labels; distil from a teacher instead (--retrain distill)`);
  }
  const threads = options.threads ?? 2;
  const losses = Array.isArray(loss) ? loss : [loss];
  const replicas = resolveReplicas(options.replicas ?? DEFAULT_REPLICAS, {
    threads, batchSize: options.batchSize, batchNormStats: tg.stateInputs.length > 0, scalarLoss: losses.some((l) => l.kind === 'scalar'),
  });
  const runner = await createStepRunner(encodeModel(tg.model), { threads, replicas, layout: stepLayout(tg) });
  const params = readParams(model);
  const groups = new Map<string, ParamGroup>();
  for (const name of trainable) {
    const rank = model.graph.initializers.get(name)?.dims.length ?? 0;
    // No weight decay on biases and BatchNorm scale/shift (rank 1), as is customary.
    groups.set(name, { lrMult: options.lrMult?.get(name) ?? 1, decayMult: rank <= 1 ? 0 : 1 });
  }
  const optimizer = new Optimizer(options.optimizer);
  const stepsPerEpoch = batchCount(data.count, options.batchSize, true);
  const totalSteps = stepsPerEpoch * options.epochs;
  let history: EpochStats[] = [];
  let startEpoch = 0;
  let bestEpoch = -1;
  let bestTop1 = -Infinity;
  let best = new Map<string, Float32Array>();
  // Epochs are chosen by top-1 on the validation split when there is one, else on evalData.
  const choosing = options.selectData !== undefined || options.evalData !== undefined;
  const emaDecay = options.ema ?? 0;
  if (!(emaDecay >= 0 && emaDecay < 1)) throw new RebirthError(`ema must be in [0, 1), got ${emaDecay}: e.g. 0.999`);
  const averaged: Map<string, Float32Array> | undefined = emaDecay > 0 ? new Map(trainable.flatMap((k) => { const v = params.get(k); return v ? [[k, Float32Array.from(v)] as const] : []; })) : undefined;

  if (options.resume) {
    if (!options.checkpoint) throw new RebirthError('--resume needs a checkpoint path (the -o output decides it)');
    const ck = loadCheckpoint<CheckpointMeta>(options.checkpoint);
    if (ck.meta.seed !== options.seed || ck.meta.batchSize !== options.batchSize) {
      throw new RebirthError(`${options.checkpoint} was written with seed ${ck.meta.seed} and batch ${ck.meta.batchSize}; resume with the same options`);
    }
    for (const [k, v] of ck.arrays) {
      if (k.startsWith('param:')) params.set(k.slice(6), v);
      else if (k.startsWith('best:')) best.set(k.slice(5), v);
      else if (k.startsWith('ema:')) averaged?.set(k.slice(4), v);
    }
    const slots: Record<string, Record<string, Float32Array>> = {};
    for (const [p, s] of ck.meta.optimizer.slotKeys) {
      const a = ck.arrays.get(`slot:${s}:${p}`);
      if (a) (slots[p] ??= {})[s] = a;
    }
    optimizer.load({ kind: ck.meta.optimizer.kind, step: ck.meta.optimizer.step, slots });
    history = ck.meta.history;
    startEpoch = ck.meta.epoch;
    bestEpoch = ck.meta.bestEpoch;
    bestTop1 = ck.meta.bestTop1;
  }

  const [c, h, w] = data.shape;
  const initial = options.stopOnDivergence ? new Map([...params].map(([k, v]) => [k, Float32Array.from(v)])) : undefined;
  let diverged: TrainResult['diverged'];
  try {
    epochs: for (let epoch = startEpoch; epoch < options.epochs; epoch++) {
      const bar = options.progress === false ? undefined
        : new Progress({ total: stepsPerEpoch * options.batchSize, label: `epoch ${epoch + 1}/${options.epochs}`, unit: 'img' });
      const started = performance.now();
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let lr = options.lr;
      for await (const batch of streamBatches(data, {
        batchSize: options.batchSize, shuffle: true, seed: options.seed, epoch, dropLast: true,
        ...(options.augment ? { augment: options.augment } : {}),
      })) {
        const step = optimizer.steps;
        lr = learningRate(options.lr, options.schedule, step, totalSteps);
        const feeds: Record<string, HostTensor> = {
          [inputName]: { type: 'float32', dims: [batch.size, c, h, w], data: batch.x },
        };
        if (labelsName) feeds[labelsName] = { type: 'int64', dims: [batch.size], data: BigInt64Array.from(batch.y, (v) => BigInt(v)) };
        if (options.batchFeeds) {
          for (const [k, v] of Object.entries(await options.batchFeeds(batch.x, batch.size, batch))) if (runner.inputNames.includes(k)) feeds[k] = v;
        }
        if (tg.seedName) feeds[tg.seedName] = { type: 'int64', dims: [], data: BigInt64Array.of(BigInt(options.seed * 1_000_003 + step)) };
        for (const name of [...tg.paramInputs, ...tg.stateInputs]) {
          const p = params.get(name);
          if (!p) throw new RebirthError(`training graph input '${name}' is not a float initializer of the model`);
          feeds[name] = { type: 'float32', dims: tg.paramShapes[name] ?? model.graph.initializers.get(name)?.dims ?? [p.length], data: p };
        }
        const out = await runner.run(feeds, batch.size);
        const lossValue = scalar(out[tg.lossOutput]?.data);
        if (!Number.isFinite(lossValue)) {
          const message = `loss became ${lossValue} at epoch ${epoch + 1}, step ${step + 1}` +
            `${options.checkpoint && fs.existsSync(options.checkpoint) ? `; the last good checkpoint is ${options.checkpoint}` : ''}; lower --lr`;
          if (!initial) throw new RebirthError(message);
          bar?.done();
          diverged = { epoch: epoch + 1, step: step + 1, loss: lossValue, message };
          break epochs;
        }
        const grads = new Map<string, Float32Array>();
        for (const [param, gradName] of Object.entries(tg.gradOutputs)) {
          const g = out[gradName];
          if (g?.type === 'float32') grads.set(param, g.data);
        }
        optimizer.step(params, grads, lr, groups);
        if (averaged) updateAverage(averaged, params, Math.min(emaDecay, (1 + optimizer.steps) / (10 + optimizer.steps)));
        // BatchNormalization running statistics: state, carried to the next step (never optimizer slots).
        for (const [param, outName] of Object.entries(tg.extraOutputs)) {
          const v = out[outName];
          if (v?.type === 'float32') params.set(param, Float32Array.from(v.data));
        }
        const logits = out[tg.logitsOutput];
        if (logits?.type === 'float32') correct += countCorrect(logits.data, batch.y);
        lossSum += lossValue * batch.size;
        seen += batch.size;
        bar?.tick(batch.size, { loss: (lossSum / seen).toFixed(4), acc: `${((100 * correct) / seen).toFixed(1)}%`, lr: lr.toPrecision(3) });
      }
      bar?.done();
      const seconds = (performance.now() - started) / 1000;
      const stats: EpochStats = { epoch: epoch + 1, loss: lossSum / seen, trainTop1: correct / seen, lr, imagesPerSecond: seen / seconds };
      // What this epoch yields: the raw weights, or with `ema` the average (state as it is).
      const result = averaged ? new Map([...params, ...averaged]) : params;
      if (choosing) {
        writeParams(model, result);
        const threads = options.threads ?? 2;
        const v = options.selectData ? await evaluate(model, options.selectData, { threads }) : undefined;
        const r = options.evalData ? await evaluate(model, options.evalData, { threads }) : undefined;
        if (v) stats.validation = { top1: v.top1, top5: v.top5, loss: v.loss };
        if (r) stats.eval = { top1: r.top1, top5: r.top5, loss: r.loss };
        // `choosing` guarantees one of the two.
        const score = (v ?? r)?.top1 ?? -Infinity;
        if (score > bestTop1) {
          bestTop1 = score;
          bestEpoch = epoch + 1;
          best = new Map([...result].map(([k, v]) => [k, Float32Array.from(v)]));
        }
      } else {
        bestEpoch = epoch + 1;
        // A copy when a later divergence could need this epoch's weights back, or when the raw weights move on.
        best = initial || averaged ? new Map([...result].map(([k, v]) => [k, Float32Array.from(v)])) : params;
      }
      history.push(stats);
      if (options.checkpoint) {
        const arrays = new Map<string, Float32Array>();
        for (const [k, v] of params) arrays.set(`param:${k}`, v);
        if (choosing) for (const [k, v] of best) arrays.set(`best:${k}`, v);
        if (averaged) for (const [k, v] of averaged) arrays.set(`ema:${k}`, v);
        const state = optimizer.state();
        const slotKeys: Array<[string, string]> = [];
        for (const [p, slots] of Object.entries(state.slots)) {
          for (const [s, a] of Object.entries(slots)) {
            arrays.set(`slot:${s}:${p}`, a);
            slotKeys.push([p, s]);
          }
        }
        saveCheckpoint<CheckpointMeta>(options.checkpoint, {
          epoch: epoch + 1, seed: options.seed, batchSize: options.batchSize, history, bestEpoch, bestTop1,
          optimizer: { kind: state.kind, step: state.step, slotKeys },
        }, arrays);
      }
      // After the checkpoint, so an interrupted run (Ctrl-C, a callback that throws) resumes from this epoch.
      options.onEpoch?.(stats);
    }
  } finally {
    await runner.release();
  }
  if (diverged) {
    writeParams(model, best.size ? best : (initial ?? params));
    return { model, history, bestEpoch, diverged };
  }
  writeParams(model, best.size ? best : params);
  return { model, history, bestEpoch };
}

/** What the trainer does when `replicas` is not given. */
export const DEFAULT_REPLICAS: number | 'auto' = 'auto';

/**
 * The replica count for a run. 'auto': one replica per thread when that gives the one-session step
 * exactly (every loss a batch mean, no training-mode BatchNormalization, at least 2 examples per
 * replica), else 1. A number is taken as given, except that a 'scalar' loss (summed over whatever it is
 * given) cannot be split.
 */
export function resolveReplicas(
  replicas: number | 'auto',
  run: { threads: number; batchSize: number; batchNormStats: boolean; scalarLoss: boolean },
): number {
  if (replicas === 'auto') {
    const exact = !run.batchNormStats && !run.scalarLoss;
    return exact && run.threads >= 2 && run.batchSize >= 2 * run.threads ? run.threads : 1;
  }
  if (!Number.isInteger(replicas) || replicas < 1) throw new RebirthError(`replicas must be an integer >= 1 or 'auto', got ${replicas}: pass e.g. --replicas 2`);
  if (replicas > 1 && run.scalarLoss) {
    throw new RebirthError("data-parallel training (replicas > 1) needs batch-mean losses; a 'scalar' loss sums over whatever it is given: train with replicas 1");
  }
  return replicas;
}

/** avg <- d avg + (1 - d) w, per trained parameter. */
function updateAverage(averaged: Map<string, Float32Array>, params: ReadonlyMap<string, Float32Array>, d: number): void {
  for (const [k, a] of averaged) {
    const w = params.get(k);
    if (!w) continue;
    for (let i = 0; i < a.length; i++) a[i] = d * (a[i] as number) + (1 - d) * (w[i] as number);
  }
}

function scalar(data: unknown): number {
  if (data instanceof Float32Array || data instanceof Float64Array) return data[0] ?? NaN;
  return NaN;
}

function countCorrect(logits: Float32Array, labels: Int32Array): number {
  const k = logits.length / labels.length;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let arg = 0;
    for (let j = 1; j < k; j++) if ((logits[i * k + j] as number) > (logits[i * k + arg] as number)) arg = j;
    if (arg === labels[i]) correct++;
  }
  return correct;
}

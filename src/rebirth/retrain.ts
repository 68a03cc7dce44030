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
 * Init 'fit' (ours) starts from 'inherit' and then trains only the rebirth layers to reproduce the
 * teacher's block outputs on calibration images before the main retraining.
 */
import type { Model } from '../ir/graph.js';
import type { Dataset } from '../data/dataset.js';
import { sliceDataset } from '../data/dataset.js';
import { encodeModel } from '../onnx/encode.js';
import { Session, type HostTensor } from '../runtime/session.js';
import { train, type EpochStats } from '../train/trainer.js';
import { evaluate } from '../train/evaluate.js';
import type { LossSpec } from '../autodiff/losses.js';
import { applyMerges, planMerges, type AppliedMerge, type MergeOptions, type Refusal } from './plan.js';
import { learningRateMultipliers, type RebirthLayer } from './init.js';
import { cloneModel } from '../rewrite/engine.js';
import { RebirthError } from '../errors.js';

export type RetrainMode = 'paper' | 'distill' | 'none';
export type RebirthInit = 'xavier' | 'inherit' | 'fit';

export interface RetrainOptions {
  mode: RetrainMode;
  merge: Omit<MergeOptions, 'init' | 'only'> & { only?: readonly string[] };
  init: RebirthInit;
  train: Dataset;
  test: Dataset;
  /** 'paper': epochs per step; 'distill': epochs in all. Fractions train on that share of the data. */
  epochs: number;
  batchSize?: number;
  /** Learning rate of the non-rebirth layers; rebirth layers get 10x (the paper: 0.001 and 0.01). */
  lr?: number;
  seed?: number;
  threads?: number;
  /** Distillation temperature (default 4) and loss weights. */
  temperature?: number;
  weights?: { labels?: number; kl?: number; blocks?: number };
  /** Calibration images for init 'fit' (default 4096). */
  fitImages?: number;
  progress?: boolean;
  onStep?: (step: RetrainStep) => void;
}

export interface RetrainStep {
  step: string;
  top1: number;
  epochs: EpochStats[];
}

export interface RetrainResult {
  model: Model;
  merges: AppliedMerge[];
  refused: Refusal[];
  rebirthLayers: RebirthLayer[];
  accuracy: { before: number; after: number; steps: RetrainStep[] };
}

/** Merge a trained model and retrain the merged layers. `teacher` is not modified. */
export async function mergeAndRetrain(teacher: Model, options: RetrainOptions): Promise<RetrainResult> {
  const threads = options.threads ?? 2;
  const seed = options.seed ?? 1;
  const before = (await evaluate(teacher, options.test, { threads })).top1;
  const steps: RetrainStep[] = [];
  const init = options.init === 'fit' ? 'inherit' : options.init;
  const record = async (step: string, model: Model, epochs: EpochStats[]): Promise<void> => {
    const last = epochs[epochs.length - 1]?.eval?.top1;
    const s: RetrainStep = { step, top1: last ?? (await evaluate(model, options.test, { threads })).top1, epochs };
    steps.push(s);
    options.onStep?.(s);
  };

  if (options.mode === 'paper') {
    // Bottom to top: the planner lists candidates in graph order.
    const plan = planMerges(teacher, { ...options.merge, init });
    const names = plan.candidates.map((c) => c.name).filter((n) => !options.merge.only || options.merge.only.includes(n));
    let model = cloneModel(teacher);
    const merges: AppliedMerge[] = [];
    const layers: RebirthLayer[] = [];
    for (const name of names) {
      const r = applyMerges(model, { ...options.merge, init, only: [name], seed });
      if (r.merges.length === 0) continue;
      merges.push(...r.merges);
      layers.push(...r.rebirthLayers);
      model = r.model;
      if (options.init === 'fit') model = await fitLayers(model, teacher, r.rebirthLayers, options);
      const history = await retrain(model, options, r.rebirthLayers, [{ kind: 'cross-entropy' }], undefined);
      await record(name, model, history);
    }
    const after = steps[steps.length - 1]?.top1 ?? before;
    return { model, merges, refused: plan.refused, rebirthLayers: layers, accuracy: { before, after, steps } };
  }

  const r = applyMerges(teacher, { ...options.merge, init, seed, ...(options.merge.only ? { only: options.merge.only } : {}) });
  let model = r.model;
  if (r.merges.length > 0 && options.init === 'fit') model = await fitLayers(model, teacher, r.rebirthLayers, options);
  if (options.mode === 'distill' && r.merges.length > 0) {
    const teacherRun = await TeacherRunner.create(teacher, r.rebirthLayers, threads);
    try {
      const w = options.weights ?? {};
      const losses: LossSpec[] = [
        { kind: 'cross-entropy', weight: w.labels ?? 1 },
        { kind: 'kl-divergence', labelsName: 'teacher_logits', temperature: options.temperature ?? 4, weight: w.kl ?? 1 },
        ...teacherRun.targets.map((t, i): LossSpec => ({ kind: 'mse', output: t, labelsName: `teacher_block_${i}`, weight: w.blocks ?? 0.1 })),
      ];
      const history = await retrain(model, options, r.rebirthLayers, losses, (x, n) => teacherRun.feeds(x, n));
      await record('all merges (distill)', model, history);
    } finally {
      await teacherRun.release();
    }
  } else if (r.merges.length > 0) {
    await record(options.init === 'fit' ? 'fit only' : 'no retraining', model, []);
  }
  const after = steps[steps.length - 1]?.top1 ?? before;
  return { model, merges: r.merges, refused: r.refused, rebirthLayers: r.rebirthLayers, accuracy: { before, after, steps } };
}

async function retrain(
  model: Model, options: RetrainOptions, layers: readonly RebirthLayer[], loss: LossSpec[],
  batchFeeds: ((x: Float32Array, n: number) => Promise<Record<string, HostTensor>>) | undefined,
): Promise<EpochStats[]> {
  const whole = Math.max(1, Math.ceil(options.epochs));
  const share = options.epochs < 1 ? options.epochs : 1;
  const data = share < 1 ? sliceDataset(options.train, 0, Math.max(options.batchSize ?? 64, Math.round(options.train.count * share))) : options.train;
  const result = await train(model, data, {
    epochs: whole,
    batchSize: options.batchSize ?? 64,
    lr: options.lr ?? 0.005,
    lrMult: learningRateMultipliers(layers, 10),
    optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 },
    schedule: { config: { kind: 'cosine', minFactor: 0.05 }, warmupSteps: 0 },
    loss,
    seed: options.seed ?? 1,
    threads: options.threads ?? 2,
    evalData: options.test,
    progress: options.progress ?? true,
    ...(batchFeeds ? { batchFeeds } : {}),
  });
  return result.history;
}

/** Init 'fit': train only the rebirth layers to reproduce the teacher's block outputs (MSE), briefly. */
async function fitLayers(model: Model, teacher: Model, layers: readonly RebirthLayer[], options: RetrainOptions): Promise<Model> {
  if (layers.length === 0) return model;
  const runner = await TeacherRunner.create(teacher, layers, options.threads ?? 2);
  try {
    const calib = sliceDataset(options.train, 0, Math.min(options.train.count, options.fitImages ?? 4096));
    await train(model, calib, {
      epochs: 1, batchSize: options.batchSize ?? 64, lr: 0.01,
      trainable: [...new Set(layers.flatMap((l) => l.params))],
      optimizer: { kind: 'adam' },
      schedule: { config: { kind: 'constant' }, warmupSteps: 0 },
      loss: runner.targets.map((t, i): LossSpec => ({ kind: 'mse', output: t, labelsName: `teacher_block_${i}` })),
      seed: options.seed ?? 1, threads: options.threads ?? 2, progress: options.progress ?? true,
      batchFeeds: (x, n) => runner.feeds(x, n),
    });
  } finally {
    await runner.release();
  }
  return model;
}

/** The teacher on ORT, returning its logits and the block outputs the rebirth layers must match. */
class TeacherRunner {
  private constructor(private readonly session: Session, private readonly input: string, private readonly logits: string, readonly targets: string[], private readonly shape: number[]) {}

  static async create(teacher: Model, layers: readonly RebirthLayer[], threads: number): Promise<TeacherRunner> {
    const copy = cloneModel(teacher);
    const g = copy.graph;
    const input = g.inputs.find((v) => !g.initializers.has(v.name));
    const logits = g.outputs[0]?.name;
    if (!input?.shape || !logits) throw new RebirthError('the teacher needs one data input with a known shape and an output');
    const targets = [...new Set(layers.map((l) => l.target))];
    for (const t of targets) if (!g.outputs.some((o) => o.name === t)) g.outputs.push({ name: t, docString: '' });
    const session = await Session.create(encodeModel(copy), { threads });
    return new TeacherRunner(session, input.name, logits, targets, input.shape.slice(1).map((d) => (typeof d === 'number' ? d : 1)));
  }

  async feeds(x: Float32Array, n: number): Promise<Record<string, HostTensor>> {
    const out = await this.session.run({ [this.input]: { type: 'float32', dims: [n, ...this.shape], data: x } }, [this.logits, ...this.targets]);
    const feeds: Record<string, HostTensor> = {};
    const logits = out[this.logits];
    if (logits) feeds.teacher_logits = logits;
    this.targets.forEach((t, i) => {
      const v = out[t];
      if (v) feeds[`teacher_block_${i}`] = v;
    });
    return feeds;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

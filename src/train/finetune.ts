/**
 * Fine-tuning a rewritten network (merged or decomposed) against the network it came from. Shared by
 * DeepRebirth retraining (src/pipeline/merge-retrain.ts) and Tucker fine-tuning: both have a student whose
 * new layers ("rebirth" parameters) get a higher learning rate, and a teacher whose internal values
 * with the same names and shapes (block outputs) the student should reproduce.
 *
 * - 'labels' (the paper): cross-entropy on the labels only.
 * - 'distill' (ours): labels + KL divergence to the teacher's softened logits (Hinton et al., scaled by
 *   T^2) + mean squared error between each target value of the student and the teacher's value of the
 *   same name. The teacher runs on ORT once per batch, before the training step.
 */
import type { Model } from '../ir/graph.js';
import type { Dataset } from '../data/dataset.js';
import { batches, sliceDataset } from '../data/dataset.js';
import { Progress } from '../util/progress.js';
import { encodeModel } from '../onnx/encode.js';
import { Session, type HostTensor } from '../runtime/session.js';
import type { LossSpec } from '../autodiff/losses.js';
import { cloneModel } from '../rewrite/engine.js';
import { train, type TrainOptions, type TrainResult } from './trainer.js';
import { RebirthError } from '../errors.js';

export type FinetuneMode = 'labels' | 'distill';

export interface FinetuneOptions {
  mode: FinetuneMode;
  train: Dataset;
  /** Evaluated after each epoch; the best epoch's weights are returned. */
  test?: Dataset;
  /** Epochs; a fraction below 1 trains one epoch on that share of the training set. */
  epochs: number;
  /** Required for 'distill' and for `targets`. */
  teacher?: Model;
  /** Values present with the same name and shape in student and teacher, matched by MSE ('distill'). */
  targets?: readonly string[];
  /** Parameters trained at `fastFactor` x the learning rate (the paper: 10x for rebirth layers). */
  fastParams?: readonly string[];
  fastFactor?: number;
  /** Parameters to train (default all float initializers). */
  trainable?: readonly string[];
  /** Base learning rate (default 0.005), SGD momentum 0.9, weight decay 5e-4, cosine to 5%. */
  lr?: number;
  batchSize?: number;
  /** Linear learning-rate warm-up steps (default 0). */
  warmupSteps?: number;
  temperature?: number;
  /**
   * Loss weights: labels (1), KL to the teacher (1), block-output MSE per target (0.1). With no targets
   * or `blocks: 0` the teacher's logits are computed once for the whole training set instead of per step.
   */
  weights?: { labels?: number; kl?: number; blocks?: number };
  seed?: number;
  threads?: number;
  checkpoint?: string;
  progress?: boolean;
}

/** Train `model` in place (its initializers are updated to the best epoch's weights). */
export async function finetune(model: Model, options: FinetuneOptions): Promise<TrainResult> {
  const threads = options.threads ?? 2;
  const whole = Math.max(1, Math.ceil(options.epochs));
  const share = options.epochs < 1 ? options.epochs : 1;
  const batchSize = options.batchSize ?? 64;
  const data = share < 1 ? sliceDataset(options.train, 0, Math.max(batchSize, Math.round(options.train.count * share))) : options.train;
  const lrMult = new Map((options.fastParams ?? []).map((p) => [p, options.fastFactor ?? 10]));
  const blockWeight = options.weights?.blocks ?? 0.1;
  const targets = options.mode === 'distill' && blockWeight > 0 ? [...new Set(options.targets ?? [])] : [];
  let runner: TeacherRunner | undefined;
  let batchFeeds: TrainOptions['batchFeeds'];
  const loss: LossSpec[] = [{ kind: 'cross-entropy', weight: options.weights?.labels ?? 1 }];
  if (options.mode === 'distill') {
    if (!options.teacher) throw new RebirthError('distillation needs the teacher model');
    runner = await TeacherRunner.create(options.teacher, targets, threads);
    loss.push({ kind: 'kl-divergence', labelsName: 'teacher_logits', temperature: options.temperature ?? 4, weight: options.weights?.kl ?? 1 });
    targets.forEach((t, i) => loss.push({ kind: 'mse', output: t, labelsName: `teacher_block_${i}`, weight: blockWeight }));
    const live = runner;
    if (targets.length > 0) {
      batchFeeds = (x, n) => live.feeds(x, n);
    } else {
      // Logits only: the images are not augmented, so the teacher's logits are a fixed function of the
      // sample; computing them once saves the teacher's forward pass in every step of every epoch
      // (measured on googlenet-mini: 450 -> 930 img/s, docs/deeprebirth.md section 7).
      const cached = await live.logitsFor(data, options.progress ?? true);
      batchFeeds = (_x, n, batch) => Promise.resolve({ teacher_logits: gatherRows(cached, batch.samples, n) });
    }
  }
  try {
    return await train(model, data, {
      epochs: whole, batchSize, lr: options.lr ?? 0.005, lrMult,
      optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 },
      schedule: { config: { kind: 'cosine', minFactor: 0.05 }, warmupSteps: options.warmupSteps ?? 0 },
      loss, seed: options.seed ?? 1, threads, progress: options.progress ?? true, stopOnDivergence: true,
      ...(options.trainable ? { trainable: options.trainable } : {}),
      ...(options.test ? { evalData: options.test } : {}),
      ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
      ...(batchFeeds ? { batchFeeds } : {}),
    });
  } finally {
    await runner?.release();
  }
}

/**
 * The teacher on ORT, returning per batch its logits (`teacher_logits`) and the target values
 * (`teacher_block_<i>` in the order given), the extra inputs of a distillation training graph.
 */
export class TeacherRunner {
  private constructor(private readonly session: Session, private readonly input: string, private readonly logits: string, readonly targets: string[], private readonly shape: number[]) {}

  static async create(teacher: Model, targets: readonly string[], threads: number): Promise<TeacherRunner> {
    const copy = cloneModel(teacher);
    const g = copy.graph;
    const input = g.inputs.find((v) => !g.initializers.has(v.name));
    const logits = g.outputs[0]?.name;
    if (!input?.shape || !logits) throw new RebirthError('the teacher needs one data input with a known shape and an output');
    const known = new Set([...g.nodes.flatMap((n) => n.outputs), ...g.inputs.map((v) => v.name)]);
    for (const t of targets) {
      if (!known.has(t)) throw new RebirthError(`target value '${t}' is not computed by the teacher`);
      if (!g.outputs.some((o) => o.name === t)) g.outputs.push({ name: t, docString: '' });
    }
    const session = await Session.create(encodeModel(copy), { threads });
    return new TeacherRunner(session, input.name, logits, [...targets], input.shape.slice(1).map((d) => (typeof d === 'number' ? d : 1)));
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

  /** The teacher's logits for every sample of `data`, in dataset order. */
  async logitsFor(data: Dataset, progress: boolean): Promise<HostTensor & { type: 'float32' }> {
    const bar = progress ? new Progress({ total: data.count, label: 'teacher logits', unit: 'img' }) : undefined;
    let out: Float32Array | undefined;
    let k = 0;
    for (const batch of batches(data, { batchSize: 256, shuffle: false })) {
      const r = (await this.session.run({ [this.input]: { type: 'float32', dims: [batch.size, ...this.shape], data: batch.x } }, [this.logits]))[this.logits];
      if (r?.type !== 'float32') throw new RebirthError('the teacher returned no float32 logits');
      k = r.data.length / batch.size;
      out ??= new Float32Array(data.count * k);
      out.set(r.data, (batch.samples[0] ?? 0) * k);
      bar?.tick(batch.size);
    }
    bar?.done();
    return { type: 'float32', dims: [data.count, k], data: out ?? new Float32Array(0) };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Rows `samples` of a [count, k] tensor, as [n, k]. */
export function gatherRows(t: HostTensor & { type: 'float32' }, samples: Uint32Array, n: number): HostTensor {
  const k = t.dims[1] ?? 1;
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    const s = samples[i] ?? 0;
    out.set(t.data.subarray(s * k, (s + 1) * k), i * k);
  }
  return { type: 'float32', dims: [n, k], data: out };
}

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
import type { Batch } from '../data/dataset.js';
import { dataOrigin, headData, holdOut, isLabeled, isSource, streamBatches, type Data, type DataSource } from '../data/source.js';
import { LogitCache, cacheId, defaultCacheDir } from '../data/logit-cache.js';
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
  /** Unlabeled data (a flat image folder) is allowed in 'distill' mode: the student learns from the teacher alone. */
  train: Data;
  /** Evaluated after each epoch; without `validation`, the best epoch's weights are returned. */
  test?: Data;
  /**
   * Images held out of `train` (holdOut: the last ones of an in-memory set, every k-th file of a folder)
   * to choose the epoch whose weights are returned; `test` is then only reported. Default 0: the epoch is
   * chosen on `test`, which makes its top-1 an optimistic estimate.
   */
  validation?: number;
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
   * (or `blocks: 0`) and no augmentation the teacher's logits are computed once for the whole training
   * set instead of per step.
   */
  weights?: { labels?: number; kl?: number; blocks?: number };
  seed?: number;
  threads?: number;
  /** Average the weights over the steps (TrainOptions.ema: the decay per step, e.g. 0.999). */
  ema?: number;
  /**
   * Random crops and mirrors of the training images (TrainOptions.augment). In 'distill' mode the teacher
   * then sees the same augmented batch as the student, every step, instead of its logits being cached:
   * the student matches the teacher's function on views it was not shown before ("consistent teaching",
   * Beyer et al., CVPR 2022), the augmentation the teachers of the zoo were trained with.
   */
  augment?: TrainOptions['augment'];
  /** Data-parallel replicas of the training step (TrainOptions.replicas). */
  replicas?: TrainOptions['replicas'];
  checkpoint?: string;
  progress?: boolean;
  /**
   * Folder of the on-disk teacher-logit cache, used when the training data are files (default
   * $XDG_CACHE_HOME/rebirth/teacher-logits); false keeps the logits of in-file data in a private
   * temporary cache.
   */
  logitCache?: string | false;
  onWarning?: (line: string) => void;
  /** Called after every epoch (after its evaluation). */
  onEpoch?: TrainOptions['onEpoch'];
}

/**
 * The validation split the retraining commands hold out by default: 5,000 images of a large labeled set
 * (Fashion-MNIST: 55,000 train, 5,000 choose the epoch), a tenth of a smaller one, none below 1,000 images
 * (too few to tell epochs apart) or without labels (the choice is by top-1).
 */
export function defaultValidation(data: Data): number {
  if (!isLabeled(data) || data.count < 1000) return 0;
  return Math.min(5000, Math.floor(data.count / 10));
}

/** Train `model` in place (its initializers are updated to the best epoch's weights). */
export async function finetune(model: Model, options: FinetuneOptions): Promise<TrainResult> {
  const threads = options.threads ?? 2;
  const whole = Math.max(1, Math.ceil(options.epochs));
  const share = options.epochs < 1 ? options.epochs : 1;
  const batchSize = options.batchSize ?? 64;
  const split = (options.validation ?? 0) > 0 ? holdOut(options.train, options.validation ?? 0) : undefined;
  const pool = split?.train ?? options.train;
  const data = share < 1 ? headData(pool, Math.max(batchSize, Math.round(pool.count * share))) : pool;
  const labeled = isLabeled(data);
  if (!labeled && options.mode !== 'distill') {
    throw new RebirthError(`${dataOrigin(data)} is unlabeled (no class folders): training on labels needs them; use --retrain distill to learn from the teacher alone`);
  }
  if (split && !labeled) {
    throw new RebirthError(`${dataOrigin(options.train)} is unlabeled: a validation split chooses epochs by top-1 on labels; drop --validation (epochs are then chosen on the evaluation data)`);
  }
  const lrMult = new Map((options.fastParams ?? []).map((p) => [p, options.fastFactor ?? 10]));
  const blockWeight = options.weights?.blocks ?? 0.1;
  const targets = options.mode === 'distill' && blockWeight > 0 ? [...new Set(options.targets ?? [])] : [];
  let runner: TeacherRunner | undefined;
  let cache: { cache: LogitCache; rows: Int32Array } | undefined;
  let batchFeeds: TrainOptions['batchFeeds'];
  // Unlabeled data: no label term at all (a zero-weight one would still need label inputs).
  const loss: LossSpec[] = labeled ? [{ kind: 'cross-entropy', weight: options.weights?.labels ?? 1 }] : [];
  if (options.mode === 'distill') {
    if (!options.teacher) throw new RebirthError('distillation needs the teacher model');
    runner = await TeacherRunner.create(options.teacher, targets, threads);
    loss.push({ kind: 'kl-divergence', labelsName: 'teacher_logits', temperature: options.temperature ?? 4, weight: options.weights?.kl ?? 1 });
    targets.forEach((t, i) => loss.push({ kind: 'mse', output: t, labelsName: `teacher_block_${i}`, weight: blockWeight }));
    const live = runner;
    if (targets.length > 0 || options.augment) {
      batchFeeds = async (x, n, batch) => {
        const feeds = await live.feeds(x, n);
        if (!labeled) teacherLabels(feeds.teacher_logits, batch);
        return feeds;
      };
    } else if (isSource(data) && data.sampleKey) {
      // Logits only, from files: computed once per file and preprocessing, kept on disk across runs.
      const { cache: store, rows } = await live.logitCache(data, options.teacher, {
        dir: options.logitCache === false ? undefined : (options.logitCache ?? defaultCacheDir()), progress: options.progress ?? true,
        ...(options.onWarning ? { onWarning: options.onWarning } : {}),
      });
      cache = { cache: store, rows };
      batchFeeds = (_x, n, batch) => {
        const k = store.classes;
        const out = new Float32Array(n * k);
        store.read(Array.from(batch.samples, (s) => rows[s] ?? -1), out);
        const feeds: Record<string, HostTensor> = { teacher_logits: { type: 'float32', dims: [n, k], data: out } };
        if (!labeled) teacherLabels(feeds.teacher_logits, batch);
        return Promise.resolve(feeds);
      };
    } else {
      // Logits only: the images are not augmented, so the teacher's logits are a fixed function of the
      // sample; computing them once saves the teacher's forward pass in every step of every epoch
      // (measured on googlenet-mini: 450 -> 930 img/s, docs/deeprebirth.md section 7).
      const cached = await live.logitsFor(data, options.progress ?? true);
      batchFeeds = (_x, n, batch) => {
        const feeds: Record<string, HostTensor> = { teacher_logits: gatherRows(cached, batch.samples, n) };
        if (!labeled) teacherLabels(feeds.teacher_logits, batch);
        return Promise.resolve(feeds);
      };
    }
  }
  try {
    return await train(model, data, {
      epochs: whole, batchSize, lr: options.lr ?? 0.005, lrMult,
      optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 },
      schedule: { config: { kind: 'cosine', minFactor: 0.05 }, warmupSteps: options.warmupSteps ?? 0 },
      loss, seed: options.seed ?? 1, threads, progress: options.progress ?? true, stopOnDivergence: true,
      ...(options.trainable ? { trainable: options.trainable } : {}),
      ...(options.replicas !== undefined ? { replicas: options.replicas } : {}),
      ...(options.ema !== undefined ? { ema: options.ema } : {}),
      ...(options.augment ? { augment: options.augment } : {}),
      ...(options.test ? { evalData: options.test } : {}),
      ...(split ? { selectData: split.validation } : {}),
      ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
      ...(batchFeeds ? { batchFeeds } : {}),
      ...(options.onEpoch ? { onEpoch: options.onEpoch } : {}),
    });
  } finally {
    cache?.cache.close();
    await runner?.release();
  }
}

/**
 * Unlabeled data: the batch's labels become the teacher's top class, so the trainer's "train top-1"
 * reads as agreement with the teacher instead of a meaningless 0% (no loss uses these labels).
 */
function teacherLabels(logits: HostTensor | undefined, batch: Batch): void {
  if (logits?.type !== 'float32') return;
  const k = logits.data.length / Math.max(1, batch.size);
  for (let i = 0; i < batch.size; i++) {
    let arg = 0;
    for (let j = 1; j < k; j++) if ((logits.data[i * k + j] as number) > (logits.data[i * k + arg] as number)) arg = j;
    batch.y[i] = arg;
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
  async logitsFor(data: Data, progress: boolean): Promise<HostTensor & { type: 'float32' }> {
    const bar = progress ? new Progress({ total: data.count, label: 'teacher logits', unit: 'img' }) : undefined;
    let out: Float32Array | undefined;
    let k = 0;
    for await (const batch of streamBatches(data, { batchSize: 256, shuffle: false })) {
      const r = (await this.session.run({ [this.input]: { type: 'float32', dims: [batch.size, ...this.shape], data: batch.x } }, [this.logits]))[this.logits];
      if (r?.type !== 'float32') throw new RebirthError('the teacher returned no float32 logits');
      k = r.data.length / batch.size;
      out ??= new Float32Array(data.count * k);
      // Row by row: a source may have left an undecodable file out of the batch.
      for (let i = 0; i < batch.size; i++) out.set(r.data.subarray(i * k, (i + 1) * k), (batch.samples[i] ?? 0) * k);
      bar?.tick(batch.size);
    }
    bar?.done();
    return { type: 'float32', dims: [data.count, k], data: out ?? new Float32Array(0) };
  }

  /**
   * The teacher's logits for every sample of a file-backed source, through the on-disk cache: rows
   * already there (same file, size, modification time, preprocessing and teacher) are not recomputed.
   * `rows[i]` is sample i's row (-1 for a file skipped as undecodable).
   */
  async logitCache(data: DataSource, teacher: Model, options: { dir: string | undefined; progress: boolean; onWarning?: (line: string) => void }): Promise<{ cache: LogitCache; rows: Int32Array }> {
    const probe = (await this.session.run({ [this.input]: { type: 'float32', dims: [1, ...this.shape], data: new Float32Array(this.shape.reduce((a, b) => a * b, 1)) } }, [this.logits]))[this.logits];
    const k = probe?.data.length ?? 0;
    if (k === 0) throw new RebirthError('the teacher returned no logits');
    const id = cacheId(encodeModel(teacher), data.preprocessKey ?? '', k);
    const cache = LogitCache.open(options.dir, id, k, options.onWarning);
    try {
      const keys: string[] = [];
      const rows = new Int32Array(data.count).fill(-1);
      const missing: number[] = [];
      for (let i = 0; i < data.count; i++) {
        const key = data.sampleKey?.(i) ?? String(i);
        keys.push(key);
        const r = cache.rowOf(key);
        if (r === undefined) missing.push(i);
        else rows[i] = r;
      }
      if (missing.length === 0 && options.progress) process.stderr.write(`teacher logits: all ${data.count} read from the cache\n`);
      if (missing.length > 0) {
        const todo = data.select(Uint32Array.from(missing));
        const bar = options.progress ? new Progress({ total: missing.length, label: `teacher logits (${data.count - missing.length} cached)`, unit: 'img' }) : undefined;
        for await (const batch of todo.batches({ batchSize: 256, shuffle: false })) {
          if (batch.size === 0) continue;
          const r = (await this.session.run({ [this.input]: { type: 'float32', dims: [batch.size, ...this.shape], data: batch.x } }, [this.logits]))[this.logits];
          if (r?.type !== 'float32' || r.data.length !== batch.size * k) throw new RebirthError('the teacher returned no float32 logits');
          const samples = Array.from(batch.samples, (s) => missing[s] ?? 0);
          const first = cache.append(samples.map((s) => keys[s] ?? ''), r.data);
          samples.forEach((s, j) => { rows[s] = first + j; });
          bar?.tick(batch.size);
        }
        bar?.done();
      }
      return { cache, rows };
    } catch (e) {
      cache.close();
      throw e;
    }
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

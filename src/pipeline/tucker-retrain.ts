/**
 * Tucker decomposition followed by fine-tuning of the whole network (Kim et al.'s third step), with the
 * accuracy before, right after decomposing and after fine-tuning, and how far the decomposed network's
 * outputs are from the input's before any fine-tuning.
 *
 * - 'paper': labels only, the new (decomposition) parameters at 10x the learning rate of the rest, the
 *   schedule DeepRebirth uses for its rebirth layers.
 * - 'distill': labels + KL to the teacher's logits + MSE between each decomposed layer's output and the
 *   teacher's value of the same name (a decomposed layer keeps its output name, so with the input model
 *   as teacher every decomposed layer is its own target). With another teacher (Merge + Tucker: the
 *   unmerged network) only the targets that exist there with the same shape are used.
 * - 'none': decomposition and measurements only.
 *
 * The model is first folded exactly (BatchNorm, Scale, Pad, identities; verified on ONNX Runtime:
 * src/merge/fold.ts), so a conv is decomposed together with the BN that followed it; layer names do not
 * change. The teacher (distillation), the 'before' accuracy and the output errors stay the model given.
 */
import type { Model } from '../ir/graph.js';
import { firstImages, type Data } from '../data/source.js';
import { inferTypes } from '../shapes/infer.js';
import { encodeModel } from '../onnx/encode.js';
import { Session } from '../runtime/session.js';
import { evaluate } from '../train/evaluate.js';
import { finetune, type FinetuneOptions } from '../train/finetune.js';
import type { TrainResult } from '../train/trainer.js';
import { cloneModel } from '../rewrite/engine.js';
import { Random } from '../util/random.js';
import { RebirthError } from '../errors.js';
import { tuckerDecompose, type TuckerOptions, type TuckerResult } from '../decompose/tucker.js';
import { foldForMerge, type FoldReport } from '../merge/fold.js';

export type TuckerRetrainMode = 'paper' | 'distill' | 'none';

export interface TuckerRetrainOptions extends TuckerOptions {
  retrain: TuckerRetrainMode;
  /** Required unless retrain is 'none'. */
  train?: Data;
  /** Accuracies are reported when given; the output error uses its first images (else random inputs). */
  test?: Data;
  /** Fine-tuning epochs (fractions train one epoch on that share of `train`). Default 1. */
  epochs?: number;
  /** Training images held out to choose the epoch (finetune's `validation`; default 0: chosen on `test`). */
  validation?: number;
  /** Random crops and mirrors of the training images, the teacher distilling on the same views (finetune's `augment`; default off). */
  augment?: FinetuneOptions['augment'];
  /** Base learning rate (default 0.005, finetune's); new parameters get `fastFactor` x this. */
  lr?: number;
  /**
   * Learning-rate factor of the decomposition's new parameters. Default 10 for 'paper' (the paper's rule
   * for new layers), 1 for 'distill': the factors start from the HOSVD of trained weights, not from
   * scratch, and at 10x the distillation loss of googlenet-mini diverged within a tenth of an epoch
   * (measured: loss 212 at 8% of epoch 1, energy 0.9 ranks).
   */
  fastFactor?: number;
  batchSize?: number;
  threads?: number;
  seed?: number;
  checkpoint?: string;
  progress?: boolean;
  /** Distillation teacher. Default: the input model (for Merge + Tucker pass the unmerged network). */
  teacher?: Model;
  /** Further distillation targets (e.g. the merged blocks' outputs), used where the teacher has them. */
  targets?: readonly string[];
  /** Images for the output error (default 64). */
  errorImages?: number;
  /** Fold BatchNorm, Scale, Pad and identities first, verified on ORT (default true). */
  fold?: boolean;
}

export interface TuckerRetrainResult extends TuckerResult {
  /** The exact folds made before decomposing (empty with `fold: false`). */
  folds: FoldReport[];
  /** Test top-1 of the input, of the decomposed model before fine-tuning, and after fine-tuning. */
  accuracy?: { before: number; decomposed: number; after: number };
  /** |logits_decomposed - logits_input| / |logits_input| over the error images, before fine-tuning. */
  outputError: number;
  /** The same relative error for each decomposed layer's output (errors accumulate from earlier layers). */
  layerOutputError: Record<string, number>;
  /** The distillation targets used ('distill'). */
  targets: string[];
  /** Per-epoch statistics of the fine-tuning. */
  history: TrainResult['history'];
  diverged?: string;
}

/** Decompose `model` (not modified) and fine-tune the result. */
export async function tuckerAndRetrain(model: Model, options: TuckerRetrainOptions): Promise<TuckerRetrainResult> {
  const mode = options.retrain;
  if (mode !== 'paper' && mode !== 'distill' && mode !== 'none') {
    throw new RebirthError(`option retrain must be 'paper', 'distill' or 'none', got '${String(mode)}'`);
  }
  if (mode !== 'none' && !options.train) throw new RebirthError(`retrain '${mode}' needs training data`);
  const epochs = options.epochs ?? 1;
  if (!(epochs > 0)) throw new RebirthError(`option epochs must be positive, got ${epochs}`);
  const threads = options.threads ?? 2;
  const { train, test, lr, seed } = options;

  const before = test ? (await evaluate(model, test, { threads })).top1 : undefined;
  // Dropout stays when the decomposed model is fine-tuned: the trainer runs it in training mode.
  const { model: folded, folds } = options.fold === false
    ? { model, folds: [] }
    : await foldForMerge(model, { keepDropout: mode !== 'none', ...(options.backend ? { backend: options.backend } : {}) });
  const decomposed = await tuckerDecompose(folded, tuckerOptions(options));
  const student = decomposed.model;
  const outputs = new Map<string, string>();
  for (const l of decomposed.layers) {
    // The folded model's value names all exist in `model` with the same values (fold.ts).
    const o = l.decomposed ? outputOf(folded, l.name) : undefined;
    if (o) outputs.set(l.name, o);
  }
  const layerOutputs = [...outputs.values()];
  const errors = await outputErrors(model, student, layerOutputs, await errorInputs(model, test, options.errorImages ?? 64, seed ?? 1), threads);
  const layerOutputError: Record<string, number> = {};
  for (const [layer, o] of outputs) layerOutputError[layer] = errors.layers[o] ?? NaN;
  const afterDecompose = test ? (await evaluate(student, test, { threads })).top1 : undefined;

  const teacherModel = options.teacher ?? model;
  const targets = mode === 'distill' ? sharedValues(student, teacherModel, [...layerOutputs, ...(options.targets ?? [])]) : [];
  let history: TrainResult['history'] = [];
  let diverged: string | undefined;
  let after = afterDecompose;
  if (mode !== 'none' && train && decomposed.newParams.length > 0) {
    const r = await finetune(student, {
      mode: mode === 'paper' ? 'labels' : 'distill', train, epochs, targets,
      fastParams: decomposed.newParams, fastFactor: options.fastFactor ?? (mode === 'paper' ? 10 : 1), threads,
      ...(mode === 'distill' ? { teacher: teacherModel } : {}),
      ...(test ? { test } : {}), ...(lr !== undefined ? { lr } : {}), ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      ...(seed !== undefined ? { seed } : {}), ...(options.validation ? { validation: options.validation } : {}), ...(options.augment ? { augment: options.augment } : {}), ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
      ...(options.progress !== undefined ? { progress: options.progress } : {}),
    });
    history = r.history;
    if (r.diverged) diverged = `${r.diverged.message}; kept the best weights before it`;
    const best = r.bestEpoch > 0 ? r.history[r.bestEpoch - 1]?.eval?.top1 : undefined;
    if (test) after = best ?? (await evaluate(student, test, { threads })).top1;
  }
  return {
    ...decomposed,
    folds,
    ...(before !== undefined && afterDecompose !== undefined ? { accuracy: { before, decomposed: afterDecompose, after: after ?? afterDecompose } } : {}),
    outputError: errors.logits, layerOutputError, targets, history,
    ...(diverged ? { diverged } : {}),
  };
}

/** The TuckerOptions part of the options (tuckerDecompose does not know the fine-tuning fields). */
function tuckerOptions(o: TuckerRetrainOptions): TuckerOptions {
  return {
    ranks: o.ranks,
    ...(o.only ? { only: o.only } : {}), ...(o.backend ? { backend: o.backend } : {}), ...(o.measure !== undefined ? { measure: o.measure } : {}),
    ...(o.hooi !== undefined ? { hooi: o.hooi } : {}), ...(o.minGain !== undefined ? { minGain: o.minGain } : {}), ...(o.runs !== undefined ? { runs: o.runs } : {}),
  };
}

/** The value a layer (node name) writes; decomposition keeps it, so it names the layer in both models. */
function outputOf(model: Model, layer: string): string | undefined {
  return model.graph.nodes.find((n) => (n.name || n.outputs[0]) === layer)?.outputs[0];
}

/** Of `names`, those computed by both models with the same inferred shape (usable as MSE targets). */
export function sharedValues(student: Model, teacher: Model, names: readonly string[]): string[] {
  const shapes = (m: Model): Map<string, string> => {
    const out = new Map<string, string>();
    const { types } = inferTypes(m, { strict: false, batch: 1 });
    const computed = new Set(m.graph.nodes.flatMap((n) => n.outputs));
    for (const [name, t] of types) if (computed.has(name) && t.shape) out.set(name, JSON.stringify(t.shape));
    return out;
  };
  const a = shapes(student);
  const b = shapes(teacher);
  return [...new Set(names)].filter((n) => a.has(n) && a.get(n) === b.get(n));
}

export interface ErrorInputs {
  data: Float32Array;
  count: number;
  /** One sample's dims (without the batch). */
  sample: number[];
}

/** The first `n` test images, or uniform [0, 1) inputs of the model's input shape when there is no data. */
export async function errorInputs(model: Model, test: Data | undefined, n: number, seed: number): Promise<ErrorInputs> {
  const input = dataInput(model);
  const sample = (input.shape ?? []).slice(1).map((d) => (typeof d === 'number' ? d : 1));
  if (test) {
    const first = await firstImages(test, n);
    return { data: first.data, count: first.count, sample: [...test.shape] };
  }
  const per = sample.reduce((a, b) => a * b, 1);
  const rng = new Random(seed, 0x7e5);
  const count = Math.max(1, Math.min(n, 8));
  return { data: Float32Array.from({ length: count * per }, () => rng.nextFloat()), count, sample };
}

function dataInput(model: Model): NonNullable<Model['graph']['inputs'][number]> {
  const g = model.graph;
  const input = g.inputs.find((v) => !g.initializers.has(v.name));
  if (!input) throw new RebirthError('the model has no data input');
  return input;
}

/**
 * The model's logits: the input of a final Softmax when the output is one (probabilities hide the
 * error in the non-winning classes), else the first output.
 */
function logitsName(model: Model): string {
  const out = model.graph.outputs[0]?.name;
  if (!out) throw new RebirthError('the model has no outputs');
  const softmax = model.graph.nodes.find((n) => n.opType === 'Softmax' && n.outputs[0] === out);
  return softmax?.inputs[0] ?? out;
}

/** Run `model` returning `names` for all inputs (in chunks of a fixed batch size when the model has one). */
async function runAll(model: Model, names: readonly string[], inputs: ErrorInputs, threads: number): Promise<Map<string, Float32Array[]>> {
  const copy = cloneModel(model);
  const g = copy.graph;
  for (const name of names) if (!g.outputs.some((o) => o.name === name)) g.outputs.push({ name, docString: '' });
  const input = dataInput(copy);
  const fixed = typeof input.shape?.[0] === 'number' ? input.shape[0] : undefined;
  const per = inputs.sample.reduce((a, b) => a * b, 1);
  const chunk = fixed ?? inputs.count;
  const session = await Session.create(encodeModel(copy), { threads });
  const out = new Map<string, Float32Array[]>(names.map((n) => [n, []]));
  try {
    for (let start = 0; start < inputs.count; start += chunk) {
      const rows = Math.min(chunk, inputs.count - start);
      const x = new Float32Array(chunk * per);
      x.set(inputs.data.subarray(start * per, (start + rows) * per));
      const r = await session.run({ [input.name]: { type: 'float32', dims: [chunk, ...inputs.sample], data: x } }, [...names]);
      for (const name of names) {
        const v = r[name];
        if (!v || v.type !== 'float32') throw new RebirthError(`value '${name}' is not a float32 tensor`);
        // Rows beyond `rows` are the zero padding of a fixed-batch model's last chunk.
        (out.get(name) as Float32Array[]).push(v.data.subarray(0, (v.data.length / chunk) * rows));
      }
    }
  } finally {
    await session.release();
  }
  return out;
}

function relativeError(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let d = 0;
  let n = 0;
  a.forEach((x, k) => {
    const y = b[k] as Float32Array;
    for (let i = 0; i < x.length; i++) {
      d += ((x[i] as number) - (y[i] as number)) ** 2;
      n += (x[i] as number) ** 2;
    }
  });
  return n > 0 ? Math.sqrt(d / n) : Math.sqrt(d);
}

/** Relative L2 error of the logits and of each named value, `after` against `before`, on the same inputs. */
export async function outputErrors(before: Model, after: Model, values: readonly string[], inputs: ErrorInputs, threads = 2): Promise<{ logits: number; layers: Record<string, number> }> {
  const logits = logitsName(before);
  const names = [logits, ...values.filter((v) => v !== logits)];
  const a = await runAll(before, names, inputs, threads);
  const b = await runAll(after, names, inputs, threads);
  const layers: Record<string, number> = {};
  for (const v of values) layers[v] = relativeError(a.get(v) ?? [], b.get(v) ?? []);
  return { logits: relativeError(a.get(logits) ?? [], b.get(logits) ?? []), layers };
}

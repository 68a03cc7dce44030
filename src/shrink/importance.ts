/**
 * Importance of an item: how much the loss on calibration data rises when only that item is applied to
 * the network (its activations made the identity, its padding moved as retraining will see it,
 * src/shrink/apply.ts linearize), before any retraining. Items are scored one at a time and the plan
 * treats their sum as the cost of applying several (the additivity Kim et al. ICML'23 and LayerMerge
 * ICML'24 assume for their dynamic programs; they score with accuracy after a short fine-tune, we with
 * the untrained loss change, which needs one forward pass per item).
 *
 * Loss: 'labels' is the cross-entropy on the calibration labels; 'kl' is the KL divergence from the
 * original network's output distribution, which needs no labels (random inputs do for a structure-only
 * model). A network ending in Softmax is read as probabilities, otherwise as logits.
 */
import type { Model } from '../ir/graph.js';
import { producers } from '../ir/topology.js';
import { encodeModel } from '../onnx/encode.js';
import { Session, type HostTensor } from '../runtime/session.js';
import { RebirthError } from '../errors.js';
import type { Item } from './candidates.js';
import type { PaddingMode } from '../rewrite/linear-conv.js';
import { linearize } from './apply.js';
import type { ModelStructure } from './structure.js';

export type ImportanceLoss = 'labels' | 'kl';

export interface Calibration {
  /** count x (per-sample shape) values, NCHW. */
  images: Float32Array;
  count: number;
  /** Per-sample shape (CxHxW). */
  shape: readonly number[];
  labels?: Int32Array;
}

export interface ImportanceOptions {
  loss?: ImportanceLoss;
  padding?: PaddingMode;
  threads?: number;
  batchSize?: number;
  /** Called after each item with (done, total). */
  onItem?: (done: number, total: number) => void;
}

export interface ImportanceResult {
  loss: ImportanceLoss;
  /** Loss of the unmodified (folded) network. */
  baseline: number;
  /** Item id -> loss increase (may be negative). Items that change nothing score 0. */
  delta: Map<string, number>;
}

/** Log-probabilities of each row of `scores` ([n, k]), from logits or from probabilities. */
function logProbabilities(scores: Float32Array, k: number, probabilities: boolean): Float64Array {
  const out = new Float64Array(scores.length);
  for (let r = 0; r < scores.length / k; r++) {
    if (probabilities) {
      for (let j = 0; j < k; j++) out[r * k + j] = Math.log(Math.max(scores[r * k + j] as number, 1e-12));
      continue;
    }
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, scores[r * k + j] as number);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp((scores[r * k + j] as number) - max);
    const log = max + Math.log(sum);
    for (let j = 0; j < k; j++) out[r * k + j] = (scores[r * k + j] as number) - log;
  }
  return out;
}

/**
 * Runs `model` on the calibration images in batches and yields each batch's fetched values with its
 * image count `n` and the rows it ran (a fixed batch dimension pads the last batch with zero images:
 * rows n..rows-1 of every value are padding). The session is released when the caller stops.
 */
export async function* calibrationBatches(
  model: Model, calib: Calibration, fetch: readonly string[], options: { threads?: number; batchSize?: number } = {},
): AsyncGenerator<{ n: number; rows: number; out: Record<string, HostTensor> }> {
  const input = model.graph.inputs.find((v) => !model.graph.initializers.has(v.name));
  if (!input) throw new RebirthError('calibration: the model has no data input');
  const fixed = typeof input.shape?.[0] === 'number' ? input.shape[0] : undefined;
  const batch = fixed ?? options.batchSize ?? 128;
  const per = calib.shape.reduce((a, b) => a * b, 1);
  const session = await Session.create(encodeModel(model), { threads: options.threads ?? 1 });
  try {
    for (let start = 0; start < calib.count; start += batch) {
      const n = Math.min(batch, calib.count - start);
      const rows = fixed ?? n;
      const x = new Float32Array(rows * per);
      x.set(calib.images.subarray(start * per, (start + n) * per));
      yield { n, rows, out: await session.run({ [input.name]: { type: 'float32', dims: [rows, ...calib.shape], data: x } }, [...fetch]) };
    }
  } finally {
    await session.release();
  }
}

/** The network's log-probabilities on the calibration images, [count, k]. */
export async function calibrationLogProbs(model: Model, calib: Calibration, options: { threads?: number; batchSize?: number } = {}): Promise<{ logp: Float64Array; k: number }> {
  const input = model.graph.inputs.find((v) => !model.graph.initializers.has(v.name));
  const output = model.graph.outputs[0]?.name;
  if (!input || !output) throw new RebirthError('importance: the model needs a data input and an output');
  const probabilities = producers(model.graph).get(output)?.opType === 'Softmax';
  const parts: Float64Array[] = [];
  let k = 0;
  for await (const { n, rows, out: batch } of calibrationBatches(model, calib, [output], options)) {
    const out = batch[output];
    if (out?.type !== 'float32') throw new RebirthError(`importance: output '${output}' is not float32`);
    k = out.data.length / rows;
    parts.push(logProbabilities(out.data.subarray(0, n * k), k, probabilities));
  }
  const logp = new Float64Array(calib.count * k);
  let at = 0;
  for (const p of parts) {
    logp.set(p, at);
    at += p.length;
  }
  return { logp, k };
}

function meanLoss(logp: Float64Array, k: number, loss: ImportanceLoss, labels: Int32Array | undefined, reference: Float64Array): number {
  const n = logp.length / k;
  let total = 0;
  for (let r = 0; r < n; r++) {
    if (loss === 'labels') {
      total -= logp[r * k + (labels?.[r] ?? 0)] as number;
    } else {
      for (let j = 0; j < k; j++) {
        const lr = reference[r * k + j] as number;
        total += Math.exp(lr) * (lr - (logp[r * k + j] as number));
      }
    }
  }
  return total / n;
}

/** Loss change of every item on the calibration data (see the file comment). */
export async function measureImportance(folded: Model, structure: ModelStructure, items: readonly Item[], calib: Calibration, options: ImportanceOptions = {}): Promise<ImportanceResult> {
  const loss = options.loss ?? (calib.labels ? 'labels' : 'kl');
  if (loss === 'labels' && !calib.labels) throw new RebirthError('importance: loss \'labels\' needs calibration labels; use \'kl\'');
  const run = { ...(options.threads !== undefined ? { threads: options.threads } : {}), ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}) };
  const reference = await calibrationLogProbs(folded, calib, run);
  const baseline = meanLoss(reference.logp, reference.k, loss, calib.labels, reference.logp);
  const delta = new Map<string, number>();
  const scored = items.filter((i) => i.kind !== 'keep');
  for (const i of items) if (i.kind === 'keep') delta.set(i.id, 0);
  let done = 0;
  for (const item of scored) {
    const { model } = linearize(folded, structure, [item], options.padding ?? 'push');
    const r = await calibrationLogProbs(model, calib, run);
    delta.set(item.id, meanLoss(r.logp, r.k, loss, calib.labels, reference.logp) - baseline);
    options.onItem?.(++done, scored.length);
  }
  return { loss, baseline, delta };
}

/** Seeded N(0, 1)-like calibration inputs for a model without data (structure-only latency work). */
export function randomCalibration(shape: readonly number[], count: number, seed = 1): Calibration {
  let state = seed >>> 0 || 1;
  const uniform = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 4294967296;
  };
  const per = shape.reduce((a, b) => a * b, 1);
  const images = new Float32Array(count * per);
  for (let i = 0; i < images.length; i++) images[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return { images, count, shape };
}

import type { Model } from '../ir/graph.js';
import { dataOrigin, requireLabels, skippedFiles, streamBatches, type Data, type SkippedFile } from '../data/source.js';
import { encodeModel } from '../onnx/encode.js';
import { Session, type Backend } from '../runtime/session.js';
import { RebirthError } from '../errors.js';

export interface EvalOptions {
  backend?: Backend;
  threads?: number;
  /** Default: 256 for small inputs, fewer for large ones (see defaultEvalBatch). */
  batchSize?: number;
  /** The model output holding class scores (logits or probabilities); default: the first output. */
  output?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface ClassAccuracy {
  index: number;
  name: string;
  accuracy: number;
  /** Share of this class's images whose label is among the 5 highest scores. */
  top5: number;
  count: number;
}

export interface EvalResult {
  top1: number;
  top5: number;
  /** Images evaluated (files skipped as undecodable are not counted). */
  samples: number;
  perClass: ClassAccuracy[];
  /** Mean softmax cross-entropy of the scores (as logits) against the labels. */
  loss: number;
  /**
   * confusion[label][predicted]: images of class `label` (rows: the data's classes) whose top score was
   * output `predicted` (columns: every model output, which may be more than the data's classes).
   */
  confusion: number[][];
  /** Files left out because they could not be decoded (each warned about once). */
  skipped: { count: number; files: SkippedFile[] };
}

/** Classification accuracy of a model on labeled data, run on ONNX Runtime. */
export async function evaluate(model: Model, data: Data, options: EvalOptions = {}): Promise<EvalResult> {
  const input = model.graph.inputs.find((v) => !model.graph.initializers.has(v.name));
  if (!input) throw new RebirthError('model has no data input');
  const output = options.output ?? model.graph.outputs[0]?.name;
  if (!output) throw new RebirthError('model has no outputs');
  requireLabels(data, 'evaluation');
  const fixedBatch = typeof input.shape?.[0] === 'number' ? input.shape[0] : undefined;
  const batchSize = fixedBatch ?? options.batchSize ?? defaultEvalBatch(data.shape);
  const session = await Session.create(encodeModel(model), { backend: options.backend ?? 'node', threads: options.threads ?? 2 });
  const [c, h, w] = data.shape;
  const classes = data.classes;
  const correct = new Float64Array(classes);
  const correct5 = new Float64Array(classes);
  const counts = new Float64Array(classes);
  let confusion: Float64Array[] | undefined;
  let top1 = 0;
  let top5 = 0;
  let lossSum = 0;
  let done = 0;
  let k = 0;
  try {
    for await (const batch of streamBatches(data, { batchSize })) {
      if (batch.size === 0) continue; // every file of this batch was undecodable
      // A fixed-batch model gets its last partial batch padded with zeros; padded rows are ignored.
      const n = fixedBatch ?? batch.size;
      const x = n === batch.size ? batch.x : padBatch(batch.x, n * c * h * w);
      const result = await session.run({ [input.name]: { type: 'float32', dims: [n, c, h, w], data: x } }, [output]);
      const scores = result[output];
      if (!scores || scores.type !== 'float32') throw new RebirthError(`output '${output}' is not a float32 tensor`);
      k = scores.data.length / n;
      if (classes > k) {
        throw new RebirthError(`${dataOrigin(data)} has ${classes} classes but output '${output}' has ${k} per sample; evaluate with data of at most ${k} classes`);
      }
      confusion ??= Array.from({ length: classes }, () => new Float64Array(k));
      for (let i = 0; i < batch.size; i++) {
        const row = scores.data.subarray(i * k, (i + 1) * k);
        const label = batch.y[i] as number;
        const target = row[label] as number;
        let above = 0;
        let max = -Infinity;
        let arg = 0;
        for (let j = 0; j < k; j++) {
          const v = row[j] as number;
          if (v > target || (v === target && j < label)) above++;
          if (v > max) {
            max = v;
            arg = j;
          }
        }
        let sumExp = 0;
        for (let j = 0; j < k; j++) sumExp += Math.exp((row[j] as number) - max);
        lossSum += Math.log(sumExp) + max - target;
        counts[label] = (counts[label] ?? 0) + 1;
        const cm = confusion[label];
        if (cm) cm[arg] = (cm[arg] ?? 0) + 1;
        if (above === 0) {
          top1++;
          correct[label] = (correct[label] ?? 0) + 1;
        }
        if (above < 5) {
          top5++;
          correct5[label] = (correct5[label] ?? 0) + 1;
        }
      }
      done += batch.size;
      options.onProgress?.(done, data.count);
    }
  } finally {
    await session.release();
  }
  const names = 'classNames' in data ? data.classNames : undefined;
  const skipped = skippedFiles(data);
  return {
    top1: done ? top1 / done : 0,
    top5: done ? top5 / done : 0,
    samples: done,
    loss: done ? lossSum / done : NaN,
    perClass: Array.from(counts, (count, index) => ({
      index, name: names?.[index] ?? String(index), count,
      accuracy: count ? (correct[index] ?? 0) / count : 0, top5: count ? (correct5[index] ?? 0) / count : 0,
    })),
    confusion: (confusion ?? Array.from({ length: classes }, () => new Float64Array(k))).map((r) => Array.from(r)),
    skipped: { count: skipped.length, files: [...skipped] },
  };
}

/**
 * 256 images per run for Fashion-MNIST-sized inputs; for large ones, batches of about 4 Mi input values
 * (27 at 3x224x224): an ImageNet convnet's activations are ~100x its input, so 256 such images would
 * take ORT's memory into gigabytes, while 27 keep it near 1 GB at the same throughput per image.
 */
export function defaultEvalBatch(shape: readonly number[]): number {
  const per = shape.reduce((a, b) => a * b, 1);
  return Math.max(1, Math.min(256, Math.floor(4_194_304 / Math.max(1, per))));
}

function padBatch(x: Float32Array, length: number): Float32Array {
  const out = new Float32Array(length);
  out.set(x);
  return out;
}

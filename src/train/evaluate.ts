import type { Model } from '../ir/graph.js';
import type { Dataset } from '../data/dataset.js';
import { batches } from '../data/dataset.js';
import { encodeModel } from '../onnx/encode.js';
import { Session, type Backend } from '../runtime/session.js';
import { RebirthError } from '../errors.js';

export interface EvalOptions {
  backend?: Backend;
  threads?: number;
  batchSize?: number;
  /** The model output holding class scores (logits or probabilities); default: the first output. */
  output?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface ClassAccuracy {
  index: number;
  name: string;
  accuracy: number;
  count: number;
}

export interface EvalResult {
  top1: number;
  top5: number;
  samples: number;
  perClass: ClassAccuracy[];
  /** Mean softmax cross-entropy of the scores (as logits) against the labels. */
  loss: number;
}

/** Classification accuracy of a model on a dataset, run on ONNX Runtime. */
export async function evaluate(model: Model, data: Dataset, options: EvalOptions = {}): Promise<EvalResult> {
  const input = model.graph.inputs.find((v) => !model.graph.initializers.has(v.name));
  if (!input) throw new RebirthError('model has no data input');
  const output = options.output ?? model.graph.outputs[0]?.name;
  if (!output) throw new RebirthError('model has no outputs');
  const fixedBatch = typeof input.shape?.[0] === 'number' ? input.shape[0] : undefined;
  const batchSize = fixedBatch ?? options.batchSize ?? 256;
  const session = await Session.create(encodeModel(model), { backend: options.backend ?? 'node', threads: options.threads ?? 2 });
  const [c, h, w] = data.shape;
  const correct = new Float64Array(data.classes);
  const counts = new Float64Array(data.classes);
  let top1 = 0;
  let top5 = 0;
  let lossSum = 0;
  let done = 0;
  try {
    for (const batch of batches(data, { batchSize })) {
      // A fixed-batch model gets its last partial batch padded with zeros; padded rows are ignored.
      const n = fixedBatch ?? batch.size;
      const x = n === batch.size ? batch.x : padBatch(batch.x, n * c * h * w);
      const result = await session.run({ [input.name]: { type: 'float32', dims: [n, c, h, w], data: x } }, [output]);
      const scores = result[output];
      if (!scores || scores.type !== 'float32') throw new RebirthError(`output '${output}' is not a float32 tensor`);
      const k = scores.data.length / n;
      if (k !== data.classes) {
        throw new RebirthError(`output '${output}' has ${k} classes per sample, the dataset has ${data.classes}`);
      }
      for (let i = 0; i < batch.size; i++) {
        const row = scores.data.subarray(i * k, (i + 1) * k);
        const label = batch.y[i] as number;
        const target = row[label] as number;
        let above = 0;
        let max = -Infinity;
        for (let j = 0; j < k; j++) {
          const v = row[j] as number;
          if (v > target || (v === target && j < label)) above++;
          if (v > max) max = v;
        }
        let sumExp = 0;
        for (let j = 0; j < k; j++) sumExp += Math.exp((row[j] as number) - max);
        lossSum += Math.log(sumExp) + max - target;
        counts[label] = (counts[label] ?? 0) + 1;
        if (above === 0) {
          top1++;
          correct[label] = (correct[label] ?? 0) + 1;
        }
        if (above < 5) top5++;
      }
      done += batch.size;
      options.onProgress?.(done, data.count);
    }
  } finally {
    await session.release();
  }
  return {
    top1: top1 / data.count,
    top5: top5 / data.count,
    samples: data.count,
    loss: lossSum / data.count,
    perClass: Array.from(counts, (count, index) => ({
      index, name: data.classNames?.[index] ?? String(index), count, accuracy: count ? (correct[index] ?? 0) / count : 0,
    })),
  };
}

function padBatch(x: Float32Array, length: number): Float32Array {
  const out = new Float32Array(length);
  out.set(x);
  return out;
}

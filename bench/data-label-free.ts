/**
 * Label-free distillation at the demo's scale: googlenet-mini merged as the demo merges it (conv1, conv2
 * streamline; 3a, 3b, 4a branch) and retrained by distillation from Fashion-MNIST's 60,000 training images
 * as an UNLABELED folder, evaluated on the 10,000 test images as a labeled folder. Target: within 0.7
 * points of the teacher after 8 epochs. Prints the test top-1 after every epoch, with the load average.
 * The teacher's logits go to the on-disk cache (a second run computes none).
 *
 * usage: npx tsx bench/data-label-free.ts --unlabeled DIR --test DIR [--epochs 8]
 *   make the folders with: npx tsx scripts/export-fashion-mnist.ts OUT, then link OUT/train/*\/*.png into one folder.
 */
import { parseArgs } from 'node:util';
import { load } from './data-common.js';
import { openTrainEval } from '../src/data/open.js';
import { mergeAndRetrain } from '../src/pipeline/merge-retrain.js';
import { loadModel } from '../src/onnx/file.js';
import { teacherPath } from '../src/util/paths.js';

const { values } = parseArgs({ options: { unlabeled: { type: 'string' }, test: { type: 'string' }, epochs: { type: 'string' } } });
if (!values.unlabeled || !values.test) throw new Error('usage: npx tsx bench/data-label-free.ts --unlabeled DIR --test DIR [--epochs 8]');
const teacher = loadModel(teacherPath());
const { train, test } = openTrainEval(values.unlabeled, values.test, { model: teacher });
process.stdout.write(`training images ${train.data.count} (${train.kind}), test images ${test.data.count}; load ${load()}\n`);
const started = performance.now();
const r = await mergeAndRetrain(teacher, {
  mode: 'distill', init: 'inherit', merge: {}, train: train.data, test: test.data, epochs: Number(values.epochs ?? 8), threads: 2,
  onEpoch: (s) => process.stdout.write(`epoch ${s.epoch}: test top-1 ${((s.eval?.top1 ?? NaN) * 100).toFixed(2)}%, loss ${s.loss.toFixed(4)}, ` +
    `${s.imagesPerSecond.toFixed(0)} img/s; load ${load()}\n`),
});
process.stdout.write(`teacher ${(100 * r.accuracy.before).toFixed(2)}%, merged (${r.merges.map((m) => m.name).join(', ')}) ${(100 * r.accuracy.after).toFixed(2)}% ` +
  `(${(100 * (r.accuracy.after - r.accuracy.before)).toFixed(2)} points; target > -0.7) in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);

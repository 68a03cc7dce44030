/**
 * Init 'fit' vs 'inherit' on the committed googlenet-mini teacher: per rebirth conv, the block-output
 * relative squared error and the weight norm, and test top-1 before any retraining, for one or more
 * ridge values and iterate counts. The figures of docs/deeprebirth.md section 3.
 *
 * usage: npx tsx bench/fit-init.ts [--images 1024] [--iterations 3] [--ridge 1e-2,1e-4] [--refine 0,4096] [--test 2000]
 *   --refine  images of the gradient refinement after the solves (0: least squares only)
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import type { Model } from '../src/ir/graph.js';
import { loadModel } from '../src/onnx/file.js';
import { tensorToFloat32 } from '../src/ir/tensor.js';
import { applyMerges } from '../src/merge/plan.js';
import { fitRebirthLayers } from '../src/merge/fit.js';
import { loadFashionMnist } from '../src/data/fashion-mnist.js';
import { evaluate } from '../src/train/evaluate.js';
import { teacherPath } from '../src/util/paths.js';
import { formatTable } from '../src/util/format.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '1024' }, iterations: { type: 'string', default: '3' },
    ridge: { type: 'string', default: '1e-2' }, test: { type: 'string', default: '2000' },
    refine: { type: 'string', default: '0,4096' },
  },
});
const teacher = loadModel(teacherPath());
const train = loadFashionMnist({ split: 'train' });
const test = loadFashionMnist({ split: 'test', limit: Number(values.test) });

function weightNorm(m: Model, node: string): number {
  const n = m.graph.nodes.find((x) => x.name === node);
  const w = n ? m.graph.initializers.get(n.inputs[1] ?? '') : undefined;
  return w ? Math.sqrt(tensorToFloat32(w).reduce((a, b) => a + b * b, 0)) : NaN;
}

const inherit = applyMerges(teacher, { init: 'inherit' });
const inheritTop1 = (await evaluate(inherit.model, test, { threads: 2 })).top1;
for (const [ridge, refineImages] of values.ridge.split(',').map(Number).flatMap((rd) => values.refine.split(',').map((rf) => [rd, Number(rf)] as const))) {
  const r = applyMerges(teacher, { init: 'inherit' });
  const started = performance.now();
  const { layers: fits, refined } = await fitRebirthLayers(r.model, teacher, r.rebirthLayers, {
    data: train, images: Number(values.images), iterations: Number(values.iterations), ridge, refineImages, progress: false,
  });
  const seconds = (performance.now() - started) / 1000;
  const top1 = (await evaluate(r.model, test, { threads: 2 })).top1;
  process.stdout.write(`\nridge ${ridge}, ${values.iterations} iterates, ${values.images} images, refinement on ${refineImages} images` +
    `${refined ? ` (mean block MSE ${refined.meanLoss.toFixed(4)})` : ''}: fit ${seconds.toFixed(1)} s; errors below are after the least squares\n`);
  process.stdout.write(`${formatTable(['layer', 'error inherit', 'error fit', 'norm inherit', 'norm fit', 'note'], fits.map((f) => [
    f.node, f.errorBefore.toFixed(3), f.errorAfter.toFixed(3), weightNorm(inherit.model, f.node).toFixed(2), weightNorm(r.model, f.node).toFixed(2), f.reason ?? '',
  ]))}\n`);
  process.stdout.write(`test top-1 before retraining (first ${test.count} test images): inherit ${(100 * inheritTop1).toFixed(2)}%, fit ${(100 * top1).toFixed(2)}%\n`);
}

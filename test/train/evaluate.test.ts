// Evaluation: top-1/top-5/per class/confusion on any data; Fashion-MNIST as a PNG folder gives exactly the
// IDX accuracy; undecodable files are counted; the HTML report carries the confusion table.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { evaluate } from '../../src/train/evaluate.js';
import { evalReport } from '../../src/train/evaluate-report.js';
import { loadFashionMnist, FASHION_MNIST_DEFAULT_DIR } from '../../src/data/fashion-mnist.js';
import { writeImageFolder } from '../../src/data/export.js';
import { openData } from '../../src/data/open.js';
import { PRESETS } from '../../src/data/preprocess.js';
import type { Dataset } from '../../src/data/dataset.js';
import { loadModel } from '../../src/onnx/file.js';
import { teacherPath } from '../../src/util/paths.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import type { Model } from '../../src/ir/graph.js';
import { RebirthError } from '../../src/errors.js';
import { brokenJpeg, imageFolder, tempDir, writeImage } from '../data/images.js';

const haveFashionMnist = fs.existsSync(FASHION_MNIST_DEFAULT_DIR);

/** Scores = the flattened 1x1x`k` input itself: the data decides every prediction. */
function identity(k: number): Model {
  const b = new GraphBuilder('id');
  const x = b.input('data', ['N', 1, 1, k]);
  b.output(b.op('Flatten', [x]), ['N', k]);
  return modelOf(b.graph);
}

function rows(scores: number[][], labels: number[], classes: number, names?: string[]): Dataset {
  const k = scores[0]?.length ?? 0;
  return {
    images: Float32Array.from(scores.flat()), labels: Int32Array.from(labels), count: labels.length, shape: [1, 1, k], classes,
    ...(names ? { classNames: names } : {}),
  };
}

void describe('evaluate', () => {
  void test('top-1, top-5, per class and the confusion table', async () => {
    const scores = [
      [9, 1, 0, 0, 0, 0, 0], // label 0, predicted 0
      [1, 9, 0, 0, 0, 0, 0], // label 0, predicted 1; label at rank 2 (top-5 hit)
      [0, 9, 1, 2, 3, 4, 5], // label 2, predicted 1; label at rank 6: top-5 miss
      [0, 0, 9, 0, 0, 0, 0], // label 2, predicted 2
    ];
    const r = await evaluate(identity(7), rows(scores, [0, 0, 2, 2], 3, ['a', 'b', 'c']), { threads: 1 });
    assert.equal(r.top1, 0.5);
    assert.equal(r.top5, 0.75);
    assert.equal(r.samples, 4);
    assert.deepEqual(r.perClass.map((c) => [c.name, c.count, c.accuracy, c.top5]), [['a', 2, 0.5, 1], ['b', 0, 0, 0], ['c', 2, 0.5, 0.5]]);
    assert.deepEqual(r.confusion, [[1, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0, 0]], 'rows: 3 data classes; columns: 7 model outputs');
    assert.deepEqual(r.skipped, { count: 0, files: [] });
    const html = evalReport(r, 'test');
    assert.match(html, /Confusion table/);
    assert.match(html, /<th[^>]*>other<\/th>/, 'predictions beyond the data\'s classes are one "other" column');
  });

  void test('more classes in the data than the model outputs, and unlabeled data: one-line errors', async () => {
    await assert.rejects(evaluate(identity(2), rows([[1, 0]], [0], 3), { threads: 1 }), (e: unknown) => e instanceof RebirthError && /has 3 classes but output .* has 2 per sample/.test(e.message));
    const flat = tempDir();
    await writeImage(path.join(flat, 'a.png'), 4, 4, 'grey-png');
    const { data } = openData(flat, { split: 'test', shape: [1, 1, 2], preprocess: PRESETS.unit });
    await assert.rejects(evaluate(identity(2), data, { threads: 1 }), (e: unknown) => e instanceof RebirthError && /is unlabeled \(no class folders\): evaluation needs labels/.test(e.message));
  });

  void test('undecodable files are left out and counted in the result', async () => {
    const dir = await imageFolder(tempDir(), ['a', 'b'], 55, 'grey-png', [3, 1]);
    await brokenJpeg(path.join(dir, 'b', 'broken.jpg'));
    const { data } = openData(dir, { split: 'test', shape: [1, 1, 3], preprocess: PRESETS.unit, onWarning: () => undefined });
    const r = await evaluate(identity(3), data, { threads: 1 });
    assert.equal(r.samples, 110);
    assert.equal(r.skipped.count, 1);
    assert.match(r.skipped.files[0]?.file ?? '', /b\/broken\.jpg$/);
  });

  void test('Fashion-MNIST written as a PNG folder evaluates exactly like the IDX files', { skip: !haveFashionMnist }, async () => {
    const n = 400;
    const idx = loadFashionMnist({ split: 'test', limit: n });
    const dir = path.join(tempDir(), 'fmnist');
    await writeImageFolder(idx, dir);
    const model = loadModel(teacherPath());
    const folder = openData(dir, { split: 'test', model, preprocess: PRESETS.unit });
    const a = await evaluate(model, idx, { threads: 1 });
    const b = await evaluate(model, folder.data, { threads: 1 });
    assert.equal(b.samples, n);
    assert.equal(b.top1, a.top1, 'same top-1');
    assert.deepEqual(b.confusion, a.confusion, 'same prediction for every image of every class');
    assert.deepEqual(b.perClass.map((c) => c.accuracy), a.perClass.map((c) => c.accuracy));
    assert.ok(Math.abs(b.loss - a.loss) < 1e-9, 'same logits (only the summation order differs)');
    assert.deepEqual(b.perClass.map((c) => c.name).slice(0, 2), ['0_T-shirt-top', '1_Trouser']);
  });
});

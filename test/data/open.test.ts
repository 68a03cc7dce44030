// --data SPEC to data: Fashion-MNIST, image folders (classes, splits, flat), .npy arrays; what the model
// records (input size, preprocessing, class names) fills in what the options leave out.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openData, openTrainEval, modelOutputClasses } from '../../src/data/open.js';
import { PRESETS, recordDataInfo, resolvePreprocess } from '../../src/data/preprocess.js';
import { writeNpy } from '../../src/data/npy.js';
import { firstImages, headData, isSource, streamBatches, type Data } from '../../src/data/source.js';
import { batches, type Dataset } from '../../src/data/dataset.js';
import { FASHION_MNIST_DEFAULT_DIR } from '../../src/data/fashion-mnist.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { floatTensor } from '../../src/ir/tensor.js';
import type { Model } from '../../src/ir/graph.js';
import { RebirthError } from '../../src/errors.js';
import { imageFolder, tempDir, writeImage } from './images.js';

const rebirthError = (re: RegExp) => (e: unknown): boolean => e instanceof RebirthError && re.test(e.message) && !e.message.includes('\n');
const haveFashionMnist = fs.existsSync(FASHION_MNIST_DEFAULT_DIR);

/** A classifier of [N, c, h, w] images into `classes` outputs (global average pool + Gemm). */
function classifier(c: number, h: number, w: number, classes: number): Model {
  const b = new GraphBuilder('clf');
  const x = b.input('data', ['N', c, h, w]);
  const pooled = b.op('Flatten', [b.op('GlobalAveragePool', [x])]);
  const wt = b.initializer(floatTensor('w', [classes, c], Array.from({ length: classes * c }, (_, i) => (i % 7) - 3)));
  const bias = b.initializer(floatTensor('b', [classes], Array.from({ length: classes }, () => 0)));
  b.output(b.op('Gemm', [pooled, wt, bias], { transB: 1 }), ['N', classes]);
  return modelOf(b.graph);
}

async function labelsOf(data: Data): Promise<number[]> {
  const out: number[] = [];
  for await (const b of streamBatches(data, { batchSize: 64 })) out.push(...b.y);
  return out;
}

void describe('openData', () => {
  void test('Fashion-MNIST by name or folder, with the unit preprocessing recorded', { skip: !haveFashionMnist }, () => {
    const a = openData('fashion-mnist', { split: 'test', limit: 5 });
    const b = openData(FASHION_MNIST_DEFAULT_DIR, { split: 'test', limit: 5 });
    assert.equal(a.kind, 'fashion-mnist');
    assert.equal(b.kind, 'fashion-mnist');
    assert.equal(a.data.count, 5);
    assert.equal(a.preprocess?.divide, 255);
    assert.throws(() => openData('fashion-mnist', { split: 'test', model: classifier(3, 8, 8, 10) }), rebirthError(/Fashion-MNIST images are 1x28x28 but the model takes 3x8x8/));
  });

  void test('a folder takes the model\'s input size; train/ + val/ are the splits', async () => {
    const root = tempDir();
    await imageFolder(path.join(root, 'train'), ['a', 'b'], 3, 'jpeg', [16, 12]);
    await imageFolder(path.join(root, 'val'), ['a', 'b'], 2, 'jpeg', [16, 12]);
    const model = classifier(3, 8, 8, 4);
    const train = openData(root, { split: 'train', model });
    const test = openData(root, { split: 'test', model });
    assert.equal(train.kind, 'split-folder');
    assert.equal(train.data.count, 6);
    assert.equal(test.data.count, 4);
    assert.equal(test.folder, path.join(root, 'val'));
    assert.deepEqual(train.data.shape, [3, 8, 8]);
    assert.deepEqual(await labelsOf(test.data), [0, 0, 1, 1]);
  });

  void test('class folders that differ between train and val: one-line error naming both', async () => {
    const root = tempDir();
    await imageFolder(path.join(root, 'train'), ['a', 'b'], 1);
    await imageFolder(path.join(root, 'test'), ['a', 'c'], 1);
    assert.throws(() => openData(root, { split: 'train', shape: [3, 8, 8] }), rebirthError(/train and .*test have different class folders \('b' only in .*train; 'c' only in .*test\); give both splits the same class folders/));
  });

  void test('more classes than the model outputs: one-line error', async () => {
    const dir = await imageFolder(tempDir(), ['a', 'b', 'c'], 1);
    assert.equal(modelOutputClasses(classifier(3, 8, 8, 2)), 2);
    assert.throws(() => openData(dir, { split: 'test', model: classifier(3, 8, 8, 2) }), rebirthError(/has 3 classes but the model outputs 2/));
  });

  void test('the model\'s recorded preprocessing and class names are used when no option is given', async () => {
    const dir = await imageFolder(tempDir(), ['dog', 'cat'], 1, 'png', [8, 8]);
    const model = classifier(3, 8, 8, 3);
    recordDataInfo(model, { preprocess: resolvePreprocess(PRESETS.caffe, [3, 8, 8]), classNames: ['bird', 'cat', 'dog'] });
    const opened = openData(dir, { split: 'test', model });
    assert.equal(opened.preprocess?.channelOrder, 'bgr');
    assert.deepEqual(opened.classNames, ['bird', 'cat', 'dog']);
    assert.deepEqual(await labelsOf(opened.data), [1, 2], 'labels follow the model\'s classes, not the folder order');
    const [first] = (await firstImages(opened.data, 1)).data;
    assert.ok((first ?? 0) < 0, 'caffe: mean pixel subtracted');
    const explicit = openData(dir, { split: 'test', model, preprocess: PRESETS.unit });
    assert.ok(((await firstImages(explicit.data, 1)).data[0] ?? -1) >= 0, 'the option wins over the metadata');
  });

  void test('--eval-data labels follow the training classes; a flat training folder is unlabeled', async () => {
    const root = tempDir();
    for (let i = 0; i < 4; i++) await writeImage(path.join(root, 'unlabeled', `${i}.png`), 10, 10, 'png', i);
    await imageFolder(path.join(root, 'labeled'), ['x', 'y'], 1, 'png', [10, 10]);
    const warnings: string[] = [];
    const { train, test } = openTrainEval(path.join(root, 'unlabeled'), path.join(root, 'labeled'), { shape: [3, 8, 8], onWarning: (l) => warnings.push(l) });
    assert.equal(train.kind, 'flat-folder');
    assert.equal(isSource(train.data) && train.data.labeled, false);
    assert.equal(test.data.classes, 2);
    assert.equal(warnings.length, 0);
    openTrainEval(path.join(root, 'labeled'), undefined, { shape: [3, 8, 8], onWarning: (l) => warnings.push(l) });
    assert.match(warnings[0] ?? '', /no train\/ and val\/ split and no --eval-data was given: accuracy is measured on the training images/);
  });

  void test('--limit on a class-sorted folder spreads over every class', async () => {
    const dir = await imageFolder(tempDir(), ['a', 'b', 'c', 'd'], 5, 'png', [8, 8]);
    const opened = openData(dir, { split: 'test', shape: [3, 8, 8], limit: 8 });
    assert.deepEqual(await labelsOf(opened.data), [0, 0, 1, 1, 2, 2, 3, 3]);
    assert.equal(headData(opened.data, 100).count, 8);
  });

  void test('missing path and a plain file: one-line errors', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'x.txt'), 'x');
    assert.throws(() => openData(path.join(dir, 'nope'), { split: 'test', shape: [3, 8, 8] }), rebirthError(/nope does not exist: .*; pass an image folder, X\.npy\[,Y\.npy\], or fashion-mnist/));
    assert.throws(() => openData(path.join(dir, 'x.txt'), { split: 'test', shape: [3, 8, 8] }), rebirthError(/is a file; pass a folder of images/));
  });
});

void describe('.npy arrays', () => {
  void test('X.npy,Y.npy stream from the file; float values as stored, uint8 through the preprocessing', async () => {
    const dir = tempDir();
    const x = Float32Array.from({ length: 5 * 3 * 2 * 2 }, (_, i) => i / 10);
    writeNpy(path.join(dir, 'x.npy'), { dtype: 'float32', shape: [5, 3, 2, 2], data: x });
    writeNpy(path.join(dir, 'y.npy'), { dtype: 'int64', shape: [5], data: BigInt64Array.from([0n, 1n, 2n, 1n, 0n]) });
    const opened = openData(`${path.join(dir, 'x.npy')},${path.join(dir, 'y.npy')}`, { split: 'train', model: classifier(3, 2, 2, 3) });
    assert.equal(opened.kind, 'npy');
    const batches = [];
    for await (const b of streamBatches(opened.data, { batchSize: 2, shuffle: true, seed: 1 })) batches.push(b);
    const seen = batches.flatMap((b) => [...b.samples]);
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4]);
    const b0 = batches[0];
    const s0 = b0?.samples[0] ?? 0;
    assert.deepEqual([...(b0?.x.subarray(0, 12) ?? [])], [...x.subarray(s0 * 12, s0 * 12 + 12)]);
    assert.equal(b0?.y[0], [0, 1, 2, 1, 0][s0]);

    writeNpy(path.join(dir, 'u.npy'), { dtype: 'uint8', shape: [2, 1, 2, 2], data: Uint8Array.of(0, 51, 102, 255, 1, 2, 3, 4) });
    const u = openData(path.join(dir, 'u.npy'), { split: 'train', shape: [1, 2, 2], preprocess: PRESETS.unit });
    assert.equal(isSource(u.data) && u.data.labeled, false);
    assert.deepEqual([...(await firstImages(u.data, 1)).data], [0, 0.2, 0.4, 1].map(Math.fround));
  });

  void test('augmented batches from X.npy equal those of the same images in memory (same crops and mirrors)', async () => {
    const dir = tempDir();
    const x = Float32Array.from({ length: 6 * 1 * 4 * 4 }, (_, i) => 1 + i);
    const labels = Int32Array.from([0, 1, 2, 1, 0, 2]);
    writeNpy(path.join(dir, 'x.npy'), { dtype: 'float32', shape: [6, 1, 4, 4], data: x });
    writeNpy(path.join(dir, 'y.npy'), { dtype: 'int32', shape: [6], data: labels });
    const opened = openData(`${path.join(dir, 'x.npy')},${path.join(dir, 'y.npy')}`, { split: 'train', shape: [1, 4, 4] });
    const memory: Dataset = { images: x, labels, count: 6, shape: [1, 4, 4], classes: 3 };
    const options = { batchSize: 4, shuffle: true, seed: 5, epoch: 2, augment: { pad: 1, flip: true } };
    const fromFile = [];
    for await (const b of streamBatches(opened.data, options)) fromFile.push(b);
    const inMemory = [...batches(memory, options)];
    assert.equal(fromFile.length, inMemory.length);
    fromFile.forEach((b, i) => {
      assert.deepEqual([...b.x], [...(inMemory[i]?.x ?? [])]);
      assert.deepEqual([...b.y], [...(inMemory[i]?.y ?? [])]);
    });
    // The crops and mirrors did change the images (zeros shifted in, or rows reversed).
    assert.ok(fromFile.some((b) => b.x.some((v, j) => v !== x[(b.samples[Math.floor(j / 16)] ?? 0) * 16 + (j % 16)])));
  });

  void test('shape and label mismatches: one-line errors', () => {
    const dir = tempDir();
    writeNpy(path.join(dir, 'x.npy'), { dtype: 'float32', shape: [2, 3, 4, 4], data: new Float32Array(96) });
    writeNpy(path.join(dir, 'y.npy'), { dtype: 'int32', shape: [3], data: new Int32Array(3) });
    assert.throws(() => openData(path.join(dir, 'x.npy'), { split: 'train', shape: [1, 28, 28] }), rebirthError(/holds 3x4x4 samples but the model takes 1x28x28/));
    assert.throws(() => openData(`${path.join(dir, 'x.npy')},${path.join(dir, 'y.npy')}`, { split: 'train', shape: [3, 4, 4] }), rebirthError(/y\.npy has shape \(3\) but .*x\.npy holds 2 samples/));
  });
});

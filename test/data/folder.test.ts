// Image folders as streaming sources: layouts, labels, decoding of every colour kind, bad files, and the
// determinism contract of batches (order, augmentation, resume) with bounded prefetch.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { encode as encodeBmp } from 'bmp-ts';
import { folderSource, scanImageFolder, type Decoder } from '../../src/data/folder.js';
import { PRESETS, resolvePreprocess } from '../../src/data/preprocess.js';
import { epochOrder, type Batch } from '../../src/data/dataset.js';
import { sharedPool } from '../../src/data/decode-pool.js';
import { holdOut, type DataSource } from '../../src/data/source.js';
import { RebirthError } from '../../src/errors.js';
import { brokenJpeg, imageFolder, tempDir, writeImage } from './images.js';

const rebirthError = (re: RegExp) => (e: unknown): boolean => e instanceof RebirthError && re.test(e.message) && !e.message.includes('\n');

function open(dir: string, shape: [number, number, number] = [3, 8, 8], extra: Partial<Parameters<typeof folderSource>[1]> = {}): DataSource {
  return folderSource(scanImageFolder(dir), { shape, preprocess: resolvePreprocess(PRESETS.unit, shape), onWarning: () => undefined, ...extra });
}

async function all(src: DataSource, options: Parameters<DataSource['batches']>[0]): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of src.batches(options)) out.push(b);
  return out;
}

void describe('layouts', () => {
  void test('class folders give labels in sorted folder order; hidden entries are ignored', async () => {
    const dir = await imageFolder(tempDir(), ['zebra', 'ant', 'Moth'], 2);
    fs.mkdirSync(path.join(dir, '.ipynb_checkpoints'));
    fs.writeFileSync(path.join(dir, 'ant', 'notes.txt'), 'not an image');
    await writeImage(path.join(dir, 'ant', 'nested', 'deep.PNG'), 9, 9, 'png'); // recursive, extension case-insensitive
    const scan = scanImageFolder(dir);
    assert.deepEqual(scan.classes, ['Moth', 'ant', 'zebra'], 'code-point order, as Python sorted()');
    assert.equal(scan.files.length, 7);
    const src = open(dir);
    assert.equal(src.labeled, true);
    assert.deepEqual(src.classNames, ['Moth', 'ant', 'zebra']);
    const [batch] = await all(src, { batchSize: 16 });
    assert.deepEqual([...(batch?.y ?? [])], [0, 0, 1, 1, 1, 2, 2]);
    assert.equal(batch?.x.length, 7 * 3 * 8 * 8);
  });

  void test('--classes order maps folder names to labels; unknown folders are an error', async () => {
    const dir = await imageFolder(tempDir(), ['cat', 'dog'], 1);
    const src = open(dir, [3, 8, 8], { classNames: ['dog', 'bird', 'cat'] });
    assert.equal(src.classes, 3);
    const [batch] = await all(src, { batchSize: 4 });
    assert.deepEqual([...(batch?.y ?? [])], [2, 0]);
    assert.throws(() => open(dir, [3, 8, 8], { classNames: ['dog'] }), rebirthError(/class folder 'cat' not among the 1 classes of the --classes file; add them there or remove the folders/));
  });

  void test('a flat folder is unlabeled: labels -1', async () => {
    const dir = tempDir();
    for (let i = 0; i < 3; i++) await writeImage(path.join(dir, `${i}.jpg`), 20, 16, 'jpeg', i);
    const src = open(dir);
    assert.equal(src.labeled, false);
    assert.equal(src.classes, 0);
    const [batch] = await all(src, { batchSize: 8 });
    assert.deepEqual([...(batch?.y ?? [])], [-1, -1, -1]);
  });

  void test('empty folder, folder without images, empty class folder, missing folder: one-line errors', async () => {
    const empty = tempDir();
    assert.throws(() => scanImageFolder(empty), rebirthError(/--data .* is empty: put images in .*<class>/));
    const texts = tempDir();
    fs.writeFileSync(path.join(texts, 'a.txt'), 'x');
    assert.throws(() => scanImageFolder(texts), rebirthError(/holds no images \(\.jpg, \.jpeg, \.png, \.webp, \.bmp\)/));
    const classes = await imageFolder(tempDir(), ['a'], 1);
    fs.mkdirSync(path.join(classes, 'b'));
    assert.throws(() => scanImageFolder(classes), rebirthError(/\/b holds no images .*add images to the class folder or remove it/));
    assert.throws(() => scanImageFolder(path.join(empty, 'nope')), rebirthError(/no such folder/));
  });
});

void describe('decoding', () => {
  void test('grey, RGBA, 16-bit, CMYK, WebP, JPEG and BMP all decode to the model\'s channels', async () => {
    const dir = tempDir();
    const kinds = ['grey-png', 'grey16-png', 'rgba-png', 'png16', 'cmyk-jpeg', 'webp', 'jpeg'] as const;
    for (const [i, k] of kinds.entries()) await writeImage(path.join(dir, `${i}-${k}.${k.includes('jpeg') ? 'jpg' : k === 'webp' ? 'webp' : 'png'}`), 14, 11, k, i + 1);
    const bmp = encodeBmp({ width: 3, height: 2, data: Buffer.from(Array.from({ length: 24 }, (_, i) => (i * 37) % 256)) });
    fs.writeFileSync(path.join(dir, '9.bmp'), bmp.data);
    for (const channels of [1, 3]) {
      const src = open(dir, [channels, 8, 8]);
      const [batch] = await all(src, { batchSize: 16 });
      assert.equal(batch?.size, 8, `every file decodes for a ${channels}-channel model`);
      assert.equal(src.skipped().length, 0);
      assert.ok(batch?.x.every((v) => v >= 0 && v <= 1));
    }
  });

  void test('a grey PNG of the model\'s size reaches the model unchanged (pixel / 255)', async () => {
    const dir = tempDir();
    const px = Buffer.from(Array.from({ length: 28 * 28 }, (_, i) => (i * 7) % 256));
    await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).toColourspace('b-w').png().toFile(path.join(dir, 'a.png'));
    const [batch] = await all(open(dir, [1, 28, 28]), { batchSize: 1 });
    assert.deepEqual([...(batch?.x ?? [])], [...px].map((p) => Math.fround(p / 255)));
    const [rgb] = await all(open(dir, [3, 28, 28]), { batchSize: 1 });
    assert.deepEqual([...(rgb?.x.subarray(28 * 28, 2 * 28 * 28) ?? [])], [...px].map((p) => Math.fround(p / 255)), 'grey repeated into G');
  });

  void test('a broken JPEG is skipped with one warning naming it, and counted', async () => {
    const dir = await imageFolder(tempDir(), ['a', 'b'], 60, 'png', [6, 6]);
    await brokenJpeg(path.join(dir, 'a', 'broken.jpg'));
    const warnings: string[] = [];
    const src = open(dir, [3, 6, 6], { onWarning: (l) => warnings.push(l) });
    for (let epoch = 0; epoch < 2; epoch++) {
      const batches = await all(src, { batchSize: 32, shuffle: true, seed: 1, epoch });
      assert.equal(batches.reduce((n, b) => n + b.size, 0), 120, 'all but the broken file');
    }
    assert.equal(warnings.length, 1, 'one warning over two epochs');
    assert.match(warnings[0] ?? '', /^warning: skipped .*\/a\/broken\.jpg: cannot decode it \(.*\)$/);
    assert.deepEqual(src.skipped().map((s) => path.basename(s.file)), ['broken.jpg']);
  });

  void test('more than 1% undecodable stops with an error naming the first few', async () => {
    const dir = await imageFolder(tempDir(), ['a'], 20, 'png', [6, 6]);
    for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(dir, 'a', `bad${i}.png`), 'not a png');
    await assert.rejects(all(open(dir, [3, 6, 6]), { batchSize: 8 }), rebirthError(/of 23 images in .* cannot be decoded, more than 1%: .*bad0\.png \(.*\).*; repair or remove them/));
  });

  void test('an unreadable file (a broken link) is an error naming it', async () => {
    const dir = await imageFolder(tempDir(), ['a'], 3, 'png', [6, 6]);
    fs.symlinkSync('/nonexistent/image.png', path.join(dir, 'a', 'link.png'));
    await assert.rejects(all(open(dir, [3, 6, 6]), { batchSize: 8 }), rebirthError(/cannot read .*\/a\/link\.png: no such file \(a broken link\?\); fix its permissions or remove it/));
  });
});

void describe('batches', () => {
  void test('shuffled order is epochOrder; startBatch resumes with the same batches; augmentation is reproducible', async () => {
    const dir = await imageFolder(tempDir(), ['a', 'b', 'c'], 7, 'jpeg', [20, 14]);
    const shape: [number, number, number] = [3, 8, 8];
    const src = folderSource(scanImageFolder(dir), { shape, preprocess: resolvePreprocess(PRESETS.imagenet, shape), onWarning: () => undefined });
    const opts = { batchSize: 5, shuffle: true, seed: 4, epoch: 2, augment: {} };
    const full = await all(src, opts);
    assert.deepEqual(full.flatMap((b) => [...b.samples]), [...epochOrder(21, opts)]);
    const resumed = await all(src, { ...opts, startBatch: 2 });
    assert.deepEqual(resumed.map((b) => b.index), [2, 3, 4]);
    for (const r of resumed) assert.deepEqual(r.x, full[r.index]?.x, 'same pixels, same labels');
    const again = await all(src, opts);
    assert.deepEqual(again.map((b) => [...b.x]), full.map((b) => [...b.x]));
    const other = await all(src, { ...opts, epoch: 3 });
    assert.notDeepEqual(other[0]?.x, full[0]?.x);
    const plain = await all(src, { batchSize: 5 });
    assert.notDeepEqual(plain.flatMap((b) => [...b.x]), (await all(src, { batchSize: 5, augment: {} })).flatMap((b) => [...b.x]), 'augmentation changes the crops');
  });

  void test('decoding runs at most prefetch + 1 batches ahead of the consumer', async () => {
    const dir = await imageFolder(tempDir(), ['a'], 40, 'png', [6, 6]);
    let calls = 0;
    const pool = sharedPool();
    const decoder: Decoder = { decode: (...a) => { calls++; return pool.decode(...a); } };
    const src = open(dir, [3, 6, 6], { decoder, prefetch: 1 });
    for await (const b of src.batches({ batchSize: 4 })) {
      assert.equal(b.index, 0);
      await new Promise((r) => setTimeout(r, 50)); // let any eager decoding happen
      assert.equal(calls, 8, 'the first batch and one ahead, not all 10');
      break;
    }
  });

  void test('select: a subset in the given order, samples indexing into it', async () => {
    const dir = await imageFolder(tempDir(), ['a', 'b'], 3, 'png', [6, 6]);
    const src = open(dir, [3, 6, 6]);
    const sub = src.select(Uint32Array.of(5, 0, 3));
    const [batch] = await all(sub, { batchSize: 8 });
    assert.deepEqual([...(batch?.samples ?? [])], [0, 1, 2]);
    assert.deepEqual([...(batch?.y ?? [])], [1, 0, 1]);
    const [whole] = await all(src, { batchSize: 8 });
    assert.deepEqual(batch?.x.subarray(0, 108), whole?.x.subarray(5 * 108, 6 * 108));
  });

  void test('holdOut: every k-th file for validation, the rest for training, disjoint, both classes in each', async () => {
    const dir = await imageFolder(tempDir(), ['a', 'b'], 4, 'png', [6, 6]);
    const src = open(dir, [3, 6, 6]);
    const { train, validation } = holdOut(src, 2);
    assert.equal(train.count, 6);
    assert.equal(validation.count, 2);
    const [whole] = await all(src, { batchSize: 8 });
    const [v] = await all(validation as DataSource, { batchSize: 8 });
    const [t] = await all(train as DataSource, { batchSize: 8 });
    // stridedIndices(8, 2) = 0, 4: the first file of each class.
    assert.deepEqual([...(v?.y ?? [])], [0, 1]);
    assert.deepEqual(v?.x.subarray(108, 216), whole?.x.subarray(4 * 108, 5 * 108));
    assert.deepEqual([...(t?.y ?? [])], [0, 0, 0, 1, 1, 1]);
    assert.deepEqual(t?.x.subarray(0, 108), whole?.x.subarray(108, 216));
    assert.throws(() => holdOut(src, 8), rebirthError(/validation split of 8 images needs at least 1 and fewer than the 8/));
    assert.throws(() => holdOut(src, 0), rebirthError(/validation split/));
  });
});

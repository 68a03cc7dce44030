import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { RebirthError } from '../../src/errors.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DEFAULT_DIR, loadFashionMnist } from '../../src/data/fashion-mnist.js';
import { encodeIdx, parseIdxImages, parseIdxLabels, readIdxImages, readIdxLabels } from '../../src/data/idx.js';

const tmp = mkdtempSync(join(tmpdir(), 'rebirth-idx-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function pixels(count: number, side: number): Uint8Array {
  return Uint8Array.from({ length: count * side * side }, (_, i) => (i * 7) % 256);
}

/** A tiny Fashion-MNIST-shaped folder; `gz` chooses the published .gz names or raw files. */
function fakeFashion(name: string, count: number, gz: boolean): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const write = (base: string, bytes: Uint8Array): void =>
    writeFileSync(join(dir, gz ? `${base}.gz` : base), gz ? gzipSync(bytes) : bytes);
  for (const prefix of ['train', 't10k']) {
    write(`${prefix}-images-idx3-ubyte`, encodeIdx([count, 28, 28], pixels(count, 28)));
    write(`${prefix}-labels-idx1-ubyte`, encodeIdx([count], Uint8Array.from({ length: count }, (_, i) => i % 10)));
  }
  return dir;
}

const rebirthError = (pattern: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof RebirthError, `expected RebirthError, got ${String(e)}`);
  assert.match(e.message, pattern);
  assert.ok(!e.message.includes('\n'), 'message must be one line');
  return true;
};

void describe('IDX parsing', () => {
  void test('images and labels, raw and gzip', () => {
    const img = encodeIdx([2, 3, 4], Uint8Array.from({ length: 24 }, (_, i) => i));
    const raw = join(tmp, 'a-idx3-ubyte');
    const gz = join(tmp, 'a-idx3-ubyte.gz');
    writeFileSync(raw, img);
    writeFileSync(gz, gzipSync(img));
    for (const file of [raw, gz]) {
      const r = readIdxImages(file);
      assert.equal(r.count, 2);
      assert.equal(r.rows, 3);
      assert.equal(r.cols, 4);
      assert.deepEqual([...r.pixels], Array.from({ length: 24 }, (_, i) => i));
    }
    const lab = join(tmp, 'l.gz');
    writeFileSync(lab, gzipSync(encodeIdx([3], Uint8Array.from([9, 0, 4]))));
    assert.deepEqual([...readIdxLabels(lab).labels], [9, 0, 4]);
  });

  void test('the header is big-endian', () => {
    const bytes = encodeIdx([258], new Uint8Array(258));
    assert.deepEqual([...bytes.subarray(0, 8)], [0, 0, 8, 1, 0, 0, 1, 2]);
  });

  void test('wrong magic: labels file given as images', () => {
    const labels = encodeIdx([3], new Uint8Array(3));
    assert.throws(() => parseIdxImages(labels, 'x.idx'), rebirthError(/x\.idx is not an IDX image .*0x00000801, expected 0x00000803/));
  });

  void test('truncated data and header name the file', () => {
    const img = encodeIdx([2, 2, 2], new Uint8Array(8));
    assert.throws(() => parseIdxImages(img.subarray(0, img.length - 1), 'im'), rebirthError(/im is truncated: header says 2x2x2 \(8 data bytes\) but only 7/));
    const lab = encodeIdx([2], new Uint8Array(2));
    assert.throws(() => parseIdxLabels(lab.subarray(0, 5), 'lb'), rebirthError(/lb is truncated: 5 bytes/));
  });

  void test('extra bytes are corruption', () => {
    const lab = encodeIdx([2], new Uint8Array(2));
    const longer = new Uint8Array(lab.length + 1);
    longer.set(lab);
    assert.throws(() => parseIdxLabels(longer, 'lb'), rebirthError(/lb is corrupt/));
  });

  void test('a truncated gzip stream names the file', () => {
    const gz = gzipSync(encodeIdx([50, 28, 28], pixels(50, 28)));
    const file = join(tmp, 'cut.gz');
    writeFileSync(file, gz.subarray(0, Math.floor(gz.length / 2)));
    assert.throws(() => readIdxImages(file), rebirthError(/cut\.gz is a corrupt or truncated gzip file/));
  });

  void test('missing file', () => {
    assert.throws(() => readIdxLabels(join(tmp, 'none')), rebirthError(/cannot read .*none/));
  });
});

void describe('loadFashionMnist', () => {
  void test('class names', () => {
    assert.equal(FASHION_MNIST_CLASSES.length, 10);
    assert.equal(FASHION_MNIST_CLASSES[0], 'T-shirt/top');
    assert.equal(FASHION_MNIST_CLASSES[9], 'Ankle boot');
  });

  for (const gz of [true, false]) {
    void test(`small synthetic set (${gz ? 'gzip' : 'raw'} files): NCHW floats pixel/255, labels, limit`, () => {
      const dir = fakeFashion(gz ? 'gz' : 'raw', 12, gz);
      const ds = loadFashionMnist({ dir, split: 'test' });
      assert.equal(ds.count, 12);
      assert.deepEqual(ds.shape, [1, 28, 28]);
      assert.equal(ds.classes, 10);
      assert.equal(ds.images.length, 12 * 784);
      assert.ok(ds.labels instanceof Int32Array);
      assert.deepEqual([...ds.labels], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
      const src = pixels(12, 28);
      for (const i of [0, 1, 500, 12 * 784 - 1]) assert.equal(ds.images[i], Math.fround((src[i] ?? 0) / 255));
      assert.ok(ds.images.every((v) => v >= 0 && v <= 1));

      const few = loadFashionMnist({ dir, split: 'train', limit: 5 });
      assert.equal(few.count, 5);
      assert.equal(few.images.length, 5 * 784);
      assert.deepEqual(few.images, ds.images.subarray(0, 5 * 784));
    });
  }

  void test('a missing data set says how to install it', () => {
    const dir = join(tmp, 'empty');
    mkdirSync(dir);
    assert.throws(
      () => loadFashionMnist({ dir, split: 'train' }),
      rebirthError(new RegExp(`^Fashion-MNIST not found in ${dir}: install it with \`apt-get install dataset-fashion-mnist\` or pass --data DIR$`)),
    );
  });

  void test('label/image count mismatch', () => {
    const dir = fakeFashion('mismatch', 4, false);
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), encodeIdx([3], new Uint8Array(3)));
    assert.throws(() => loadFashionMnist({ dir, split: 'test' }), rebirthError(/3 labels but .* has 4 images/));
  });

  void test('label out of range', () => {
    const dir = fakeFashion('badlabel', 2, false);
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), encodeIdx([2], Uint8Array.from([1, 10])));
    assert.throws(() => loadFashionMnist({ dir, split: 'test' }), rebirthError(/label 10 at index 1/));
  });

  void test('wrong image size (e.g. --data pointing at another set)', () => {
    const dir = fakeFashion('size', 2, false);
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), encodeIdx([2, 32, 32], new Uint8Array(2 * 32 * 32)));
    assert.throws(() => loadFashionMnist({ dir, split: 'test' }), rebirthError(/32x32 images, Fashion-MNIST's are 28x28/));
  });

  void test('bad limit', () => {
    assert.throws(() => loadFashionMnist({ dir: tmp, split: 'test', limit: 0 }), rebirthError(/limit must be an integer >= 1/));
  });

  const installed = existsSync(join(FASHION_MNIST_DEFAULT_DIR, 't10k-labels-idx1-ubyte.gz'));
  void test('the installed data set', { skip: installed ? false : 'dataset-fashion-mnist not installed' }, () => {
    const ds = loadFashionMnist({ split: 'test' });
    assert.equal(ds.count, 10_000);
    // The test split is balanced: 1000 images per class.
    const perClass = new Array<number>(10).fill(0);
    for (const l of ds.labels) perClass[l] = (perClass[l] ?? 0) + 1;
    assert.deepEqual(perClass, new Array<number>(10).fill(1000));
    // Published first test label is 9 (Ankle boot).
    assert.equal(ds.labels[0], 9);
    let max = 0;
    for (const v of ds.images) if (v > max) max = v;
    assert.equal(max, 1);
  });
});

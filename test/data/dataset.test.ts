import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RebirthError } from '../../src/errors.js';
import { batchCount, batches, epochOrder, sliceDataset, validateDataset, type Batch, type Dataset } from '../../src/data/dataset.js';

/** count images of c x h x w whose every pixel encodes (sample, channel, y, x), so moves are traceable. */
function synthetic(count: number, c = 1, h = 4, w = 4): Dataset {
  const images = new Float32Array(count * c * h * w);
  for (let n = 0; n < count; n++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) images[((n * c + ch) * h + y) * w + x] = 1 + n * 1000 + ch * 100 + y * 10 + x;
  const labels = Int32Array.from({ length: count }, (_, i) => i % 3);
  return { images, labels, count, shape: [c, h, w], classes: 3 };
}

const all = (ds: Dataset, opts: Parameters<typeof batches>[1]): Batch[] => [...batches(ds, opts)];

/** Sample index of a batch row, recovered from the pixel encoding (pixel 0 of an unaugmented image). */
const sampleOf = (b: Batch, i: number, size: number): number => Math.round(((b.x[i * size] ?? 0) - 1) / 1000);

void describe('batches', () => {
  void test('no shuffle: dataset order, last partial batch, labels follow images', () => {
    const ds = synthetic(10);
    const out = all(ds, { batchSize: 4 });
    assert.deepEqual(out.map((b) => b.size), [4, 4, 2]);
    assert.deepEqual(out.map((b) => b.index), [0, 1, 2]);
    assert.equal(out[2]?.x.length, 2 * 16);
    assert.deepEqual([...(out[0]?.x ?? [])], [...ds.images.subarray(0, 64)]);
    assert.deepEqual([...(out[2]?.y ?? [])], [8 % 3, 9 % 3]);
    assert.equal(batchCount(10, 4), 3);
  });

  void test('dropLast', () => {
    const out = all(synthetic(10), { batchSize: 4, dropLast: true });
    assert.deepEqual(out.map((b) => b.size), [4, 4]);
    assert.equal(batchCount(10, 4, true), 2);
  });

  void test('shuffle: a permutation, the same for (seed, epoch), different across epochs and seeds', () => {
    const ds = synthetic(50);
    const order = (seed: number, epoch: number): number[] =>
      all(ds, { batchSize: 8, shuffle: true, seed, epoch }).flatMap((b) => Array.from({ length: b.size }, (_, i) => sampleOf(b, i, 16)));
    const a = order(1, 0);
    assert.deepEqual([...a].sort((p, q) => p - q), Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual(order(1, 0), a);
    assert.notDeepEqual(order(1, 1), a);
    assert.notDeepEqual(order(2, 0), a);
    assert.deepEqual(a, [...epochOrder(50, { shuffle: true, seed: 1, epoch: 0 })]);
    // Labels travel with their images.
    for (const b of all(ds, { batchSize: 8, shuffle: true, seed: 1 })) {
      for (let i = 0; i < b.size; i++) assert.equal(b.y[i], sampleOf(b, i, 16) % 3);
    }
  });

  void test('resume: startBatch gives bit-identical remaining batches, augmentation included', () => {
    const ds = synthetic(37, 2, 6, 6);
    const opts = { batchSize: 5, shuffle: true, seed: 42, epoch: 3, augment: { pad: 2, flip: true } };
    const full = all(ds, opts);
    const resumed = all(ds, { ...opts, startBatch: 4 });
    assert.equal(resumed.length, full.length - 4);
    assert.deepEqual(resumed, full.slice(4));
    // And a second run from scratch is identical too.
    assert.deepEqual(all(ds, opts), full);
  });

  void test('augment: each image is a zero-padded shift of its source, maybe mirrored', () => {
    const [c, h, w] = [2, 5, 6];
    const ds = synthetic(40, c, h, w);
    const pad = 2;
    const seen = { flipped: 0, plain: 0, shifts: new Set<string>() };
    for (const b of batches(ds, { batchSize: 16, shuffle: true, seed: 7, augment: { pad, flip: true } })) {
      for (let i = 0; i < b.size; i++) {
        const img = b.x.subarray(i * c * h * w, (i + 1) * c * h * w);
        const match = findTransform(ds, img, b.y[i] ?? -1, pad);
        assert.ok(match, `batch ${b.index} row ${i} is not a shifted/flipped dataset image`);
        if (match.mirror) seen.flipped++;
        else seen.plain++;
        seen.shifts.add(`${match.dy},${match.dx}`);
      }
    }
    assert.ok(seen.flipped > 5 && seen.plain > 5, `flip should be ~50/50, got ${seen.flipped}/${seen.plain}`);
    assert.ok(seen.shifts.size > 10, `expected varied shifts, got ${seen.shifts.size}`);
  });

  void test('augment off gives the exact images; pad 0 with flip only mirrors', () => {
    const ds = synthetic(6, 1, 3, 3);
    const [b] = all(ds, { batchSize: 6, augment: { pad: 0, flip: true }, seed: 3 });
    assert.ok(b);
    for (let i = 0; i < 6; i++) {
      const row = [...b.x.subarray(i * 9, i * 9 + 3)];
      const src = [...ds.images.subarray(i * 9, i * 9 + 3)];
      assert.ok(row.join() === src.join() || row.join() === [...src].reverse().join());
    }
  });

  void test('invalid options and datasets are RebirthErrors', () => {
    const ds = synthetic(4);
    assert.throws(() => all(ds, { batchSize: 0 }), RebirthError);
    assert.throws(() => all(ds, { batchSize: 2, augment: { pad: -1 } }), RebirthError);
    assert.throws(() => all(ds, { batchSize: 2, startBatch: 1.5 }), RebirthError);
    assert.throws(() => validateDataset({ ...ds, count: 5 }), /needs 80/);
  });

  void test('sliceDataset shares memory and keeps metadata', () => {
    const ds = { ...synthetic(10), classNames: ['a', 'b', 'c'] };
    const s = sliceDataset(ds, 8);
    assert.equal(s.count, 2);
    assert.equal(s.images.buffer, ds.images.buffer);
    assert.deepEqual([...s.labels], [8 % 3, 9 % 3]);
    assert.deepEqual(s.classNames, ['a', 'b', 'c']);
    assert.equal(sliceDataset(ds, 3, 1).count, 0);
  });
});

/** Search all (sample, shift, mirror) for one that reproduces `img`; pixels encode their origin. */
function findTransform(ds: Dataset, img: Float32Array, label: number, pad: number): { dy: number; dx: number; mirror: boolean } | undefined {
  const [c, h, w] = ds.shape;
  for (let n = 0; n < ds.count; n++) {
    if (ds.labels[n] !== label) continue;
    for (const mirror of [false, true])
      for (let dy = -pad; dy <= pad; dy++)
        for (let dx = -pad; dx <= pad; dx++) {
          let ok = true;
          for (let ch = 0; ch < c && ok; ch++)
            for (let y = 0; y < h && ok; y++)
              for (let x = 0; x < w && ok; x++) {
                const sx = (mirror ? w - 1 - x : x) + dx;
                const sy = y + dy;
                const want = sy >= 0 && sy < h && sx >= 0 && sx < w ? ds.images[((n * c + ch) * h + sy) * w + sx] : 0;
                ok = img[(ch * h + y) * w + x] === want;
              }
          if (ok) return { dy, dx, mirror };
        }
  }
  return undefined;
}

// Shared by the data benchmarks: synthetic photo-like JPEG folders, a timing wrapper around a source, load.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { Random } from '../src/util/random.js';
import { batches, type Batch, type BatchOptions, type Dataset } from '../src/data/dataset.js';
import type { DataSource } from '../src/data/source.js';

/**
 * `count` colour JPEGs of mixed sizes (shorter side 180-600 px, aspect 3:4 to 16:9, both orientations) in
 * `classes` class folders. Each is a smooth upscale of a small random image plus fine noise, so it
 * compresses like a photo (tens of KB) instead of like noise, and decodes at photo cost.
 */
export async function jpegFolder(dir: string, count: number, classes = 10, seed = 1): Promise<void> {
  const rng = new Random(seed);
  const names = Array.from({ length: classes }, (_, i) => `class${String(i).padStart(2, '0')}`);
  for (const n of names) fs.mkdirSync(path.join(dir, n), { recursive: true });
  const one = async (i: number): Promise<void> => {
    const short = 180 + rng.nextInt(421);
    const aspect = [4 / 3, 3 / 2, 16 / 9, 1][rng.nextInt(4)] ?? 1;
    const long = Math.round(short * aspect);
    const [w, h] = rng.nextInt(2) === 0 ? [long, short] : [short, long];
    const small = Buffer.from(Array.from({ length: 12 * 9 * 3 }, () => rng.nextInt(256)));
    const base = await sharp(small, { raw: { width: 12, height: 9, channels: 3 } }).resize(w, h, { kernel: 'cubic', fit: 'fill' }).raw().toBuffer();
    for (let k = 0; k < base.length; k += 7) base[k] = Math.min(255, (base[k] ?? 0) + rng.nextInt(24));
    await sharp(base, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 85 }).toFile(path.join(dir, names[i % classes] ?? 'x', `${String(i).padStart(6, '0')}.jpg`));
  };
  for (let i = 0; i < count; i += 16) await Promise.all(Array.from({ length: Math.min(16, count - i) }, (_, j) => one(i + j)));
}

/** The load average, printed with each figure (the machine is shared). */
export function load(): string {
  return os.loadavg().map((v) => v.toFixed(2)).join(' ');
}

export interface WaitStats {
  /** Time the consumer spent waiting for the next batch, ms. */
  waitMs: number;
  /** Of which waiting for the first batch of the epoch (the pipeline filling up), ms. */
  firstMs: number;
  /** From the first batch request to the end of the epoch, ms. */
  totalMs: number;
  batches: number;
}

/** An in-memory data set seen as a source (so it can be timed like a folder). */
export function memorySource(ds: Dataset): DataSource {
  return {
    count: ds.count, shape: ds.shape, classes: ds.classes, labeled: true, origin: 'memory', skipped: () => [],
    select: () => { throw new Error('memorySource.select is not used by the benchmarks'); },
    async *batches(options: BatchOptions): AsyncGenerator<Batch, void, undefined> {
      await Promise.resolve();
      yield* batches(ds, options);
    },
  };
}

/** A source whose batches() records how long its consumer waited for each batch. */
export function timedSource(src: DataSource, stats: WaitStats): DataSource {
  const wrap = (s: DataSource): DataSource => ({
    count: s.count, shape: s.shape, classes: s.classes, labeled: s.labeled, origin: s.origin,
    ...(s.classNames ? { classNames: s.classNames } : {}), ...(s.preprocessKey ? { preprocessKey: s.preprocessKey } : {}),
    skipped: () => s.skipped(),
    select: (i) => wrap(s.select(i)),
    async *batches(options: BatchOptions): AsyncGenerator<Batch, void, undefined> {
      const it = s.batches(options);
      const started = performance.now();
      for (;;) {
        const t = performance.now();
        const r = await it.next();
        if (r.done) break;
        const waited = performance.now() - t;
        stats.waitMs += waited;
        if (stats.batches === 0) stats.firstMs += waited;
        stats.batches++;
        yield r.value;
      }
      stats.totalMs += performance.now() - started;
    },
  });
  return wrap(src);
}

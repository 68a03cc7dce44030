/**
 * Writing an in-memory data set as an image folder (ImageFolder layout, PNG): the reference for the
 * exactness test (the same images through the folder path must give the same accuracy as through the
 * IDX path) and a way to hand data to other tools.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import type { Dataset } from './dataset.js';
import { RebirthError } from '../errors.js';

export interface ExportOptions {
  /** Images to write at once (default 64): bounds memory and open files. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Folder names for class names: `<label>_<name>` with characters unsafe in file names replaced, so the
 * sorted folder order (torchvision's label order) is the label order for up to 10 classes, and
 * zero-padded beyond.
 */
export function classFolderNames(names: readonly string[]): string[] {
  const width = String(Math.max(0, names.length - 1)).length;
  return names.map((n, i) => `${String(i).padStart(width, '0')}_${n.replace(/[^\w.-]+/g, '-')}`);
}

/**
 * Write `ds` (values in [0, 1], 1 or 3 channels) as `dir/<class>/<index>.png`, 8-bit, pixel =
 * round(value * 255): exact for data that came from 8-bit pixels divided by 255 (Fashion-MNIST).
 * Written into `dir.tmp-<pid>` and renamed, so `dir` never holds half a data set.
 */
export async function writeImageFolder(ds: Dataset, dir: string, options: ExportOptions = {}): Promise<void> {
  if (fs.existsSync(dir)) throw new RebirthError(`${dir} exists; choose a new folder (nothing is overwritten)`);
  const [c, h, w] = ds.shape;
  if (c !== 1 && c !== 3) throw new RebirthError(`cannot write ${c}-channel images as PNG; only 1 or 3 channels`);
  const names = classFolderNames(ds.classNames ?? Array.from({ length: ds.classes }, (_, i) => String(i)));
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const n of names) fs.mkdirSync(path.join(tmp, n), { recursive: true });
  const digits = String(Math.max(0, ds.count - 1)).length;
  const per = c * h * w;
  const write = async (i: number): Promise<void> => {
    const img = ds.images.subarray(i * per, (i + 1) * per);
    const hwc = Buffer.alloc(per);
    for (let k = 0; k < c; k++) for (let p = 0; p < h * w; p++) hwc[p * c + k] = Math.round(Math.min(1, Math.max(0, img[k * h * w + p] ?? 0)) * 255);
    const file = path.join(tmp, names[ds.labels[i] ?? 0] ?? '0', `${String(i).padStart(digits, '0')}.png`);
    let s = sharp(hwc, { raw: { width: w, height: h, channels: c } });
    // A 1-channel raw input would be written as RGB unless told it is grey.
    if (c === 1) s = s.toColourspace('b-w');
    await s.png().toFile(file);
  };
  try {
    const step = options.concurrency ?? 64;
    for (let i = 0; i < ds.count; i += step) {
      await Promise.all(Array.from({ length: Math.min(step, ds.count - i) }, (_, j) => write(i + j)));
      options.onProgress?.(Math.min(ds.count, i + step), ds.count);
    }
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * `--data X.npy[,Y.npy]`: samples in a .npy array, read batch by batch from the file (only the header
 * and the labels are held in memory). X is [N, C, H, W] (or [N, H, W] for one channel) of the model's
 * input size: float32/float64 values are fed as they are (already preprocessed), uint8 values are
 * pixels and go through the preprocessing's divide/mean/std. Y holds N integer class labels; without
 * it the data is unlabeled.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AUGMENT_STREAM, augmentSample, batchCount, checkStartBatch, epochOrder, type Batch, type BatchOptions } from './dataset.js';
import { checkNpyLength, parseNpyHeader, readNpy, type NpyHeader } from './npy.js';
import { pixelsToTensor, type ResolvedPreprocess } from './preprocess.js';
import type { DataSource, SkippedFile } from './source.js';
import { RebirthError, errorMessage, firstLine } from '../errors.js';
import { Random } from '../util/random.js';

export interface NpySourceOptions {
  /** [channels, height, width] the model takes (checked against X's shape). */
  shape?: [number, number, number];
  /** For uint8 pixels: divide/mean/std/channel order (sizes must already match). */
  preprocess?: ResolvedPreprocess;
  classNames?: readonly string[];
  what?: string;
}

interface NpyBase {
  file: string;
  header: NpyHeader;
  sample: [number, number, number];
  labels?: Int32Array;
  classes: number;
  classNames?: readonly string[];
  preprocess?: ResolvedPreprocess;
  key: string;
}

function readHead(file: string, what: string): { header: NpyHeader; size: number; mtimeMs: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new RebirthError(`${what} ${file}: cannot read it (${firstLine(errorMessage(e))}); check the path`, { cause: e });
  }
  try {
    const st = fs.fstatSync(fd);
    // The header is padded to a multiple of 64 bytes and is small; 64 KiB covers any shape numpy writes.
    const head = Buffer.alloc(Math.min(st.size, 65536));
    fs.readSync(fd, head, 0, head.length, 0);
    const header = parseNpyHeader(head, file);
    checkNpyLength(st.size, header, file);
    return { header, size: st.size, mtimeMs: st.mtimeMs };
  } finally {
    fs.closeSync(fd);
  }
}

/** Open X.npy (and Y.npy) as a streaming source. */
export function npySource(xFile: string, yFile: string | undefined, options: NpySourceOptions = {}): DataSource {
  const what = options.what ?? '--data';
  const { header, size, mtimeMs } = readHead(xFile, what);
  const dims = header.shape;
  let sample: [number, number, number];
  if (dims.length === 4) sample = [dims[1] ?? 0, dims[2] ?? 0, dims[3] ?? 0];
  else if (dims.length === 3) sample = [1, dims[1] ?? 0, dims[2] ?? 0];
  else throw new RebirthError(`${xFile} has shape (${dims.join(', ')}); expected [N, C, H, W] or [N, H, W] images`);
  if (!['float32', 'float64', 'uint8'].includes(header.dtype)) {
    throw new RebirthError(`${xFile} holds ${header.dtype}; images must be float32/float64 (preprocessed) or uint8 (pixels): convert with arr.astype('<f4')`);
  }
  const count = dims[0] ?? 0;
  if (count === 0) throw new RebirthError(`${what} ${xFile} holds no samples; save a non-empty array`);
  if (options.shape && sample.join('x') !== options.shape.join('x')) {
    throw new RebirthError(`${xFile} holds ${sample.join('x')} samples but the model takes ${options.shape.join('x')}; save arrays of the model's input size`);
  }
  if (header.dtype === 'uint8' && !options.preprocess) {
    throw new RebirthError(`${xFile} holds uint8 pixels: pass --preprocess (e.g. unit) to say how to scale them`);
  }
  let labels: Int32Array | undefined;
  let classes = 0;
  if (yFile) {
    const y = readNpy(yFile);
    if (y.shape.length !== 1 || y.shape[0] !== count) {
      throw new RebirthError(`${yFile} has shape (${y.shape.join(', ')}) but ${xFile} holds ${count} samples; save one label per sample`);
    }
    if (y.dtype === 'float32' || y.dtype === 'float64' || y.dtype === 'bool') {
      throw new RebirthError(`${yFile} holds ${y.dtype}; labels must be integers: convert with arr.astype('<i8')`);
    }
    labels = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const v = Number(y.data[i] ?? 0);
      if (!Number.isInteger(v) || v < 0) throw new RebirthError(`${yFile}: label ${v} at index ${i} is not a class index >= 0; fix the labels`);
      labels[i] = v;
      classes = Math.max(classes, v + 1);
    }
    if (options.classNames) {
      if (classes > options.classNames.length) {
        throw new RebirthError(`${yFile} has label ${classes - 1} but only ${options.classNames.length} class names are given; fix the labels or the --classes file`);
      }
      classes = options.classNames.length;
    }
  }
  const base: NpyBase = {
    file: xFile, header, sample, classes, key: `${path.resolve(xFile)}\t${size}\t${mtimeMs}`,
    ...(labels ? { labels } : {}), ...(options.classNames && labels ? { classNames: options.classNames } : {}),
    ...(options.preprocess ? { preprocess: options.preprocess } : {}),
  };
  return new NpySource(base, undefined);
}

class NpySource implements DataSource {
  readonly count: number;
  readonly shape: [number, number, number];
  readonly classes: number;
  readonly classNames?: readonly string[];
  readonly labeled: boolean;
  readonly origin: string;
  readonly preprocessKey: string;

  constructor(private readonly base: NpyBase, private readonly indices: Uint32Array | undefined) {
    this.count = indices ? indices.length : (base.header.shape[0] ?? 0);
    this.shape = [...base.sample];
    this.classes = base.classes;
    if (base.classNames) this.classNames = base.classNames;
    this.labeled = base.labels !== undefined;
    this.origin = base.file;
    this.preprocessKey = base.header.dtype === 'uint8' ? JSON.stringify(base.preprocess ?? {}) : 'as stored';
  }

  skipped(): readonly SkippedFile[] {
    return [];
  }

  select(indices: Uint32Array): DataSource {
    const n = this.base.header.shape[0] ?? 0;
    const mapped = this.indices ? indices.map((i) => this.indices?.[i] ?? 0) : Uint32Array.from(indices);
    for (const i of mapped) if (i >= n) throw new RangeError(`select: index ${i} out of range`);
    return new NpySource(this.base, mapped);
  }

  sampleKey(index: number): string {
    return `${this.base.key}\t${this.indices ? (this.indices[index] ?? 0) : index}`;
  }

  async *batches(options: BatchOptions): AsyncGenerator<Batch, void, undefined> {
    const total = batchCount(this.count, options.batchSize, options.dropLast);
    const start = options.startBatch ?? 0;
    checkStartBatch(start);
    const order = epochOrder(this.count, { shuffle: options.shuffle ?? false, seed: options.seed ?? 0, epoch: options.epoch ?? 0 });
    const per = this.shape[0] * this.shape[1] * this.shape[2];
    const { header } = this.base;
    const rowBytes = per * header.itemSize;
    const pad = options.augment?.pad ?? 0;
    const flip = options.augment?.flip ?? false;
    // Decoded into a scratch row first when augmenting: the crop reads neighbouring pixels of the same image.
    const scratch = pad > 0 || flip ? new Float32Array(per) : undefined;
    const fd = await fs.promises.open(this.base.file, 'r');
    try {
      const row = Buffer.alloc(rowBytes);
      for (let b = start; b < total; b++) {
        const first = b * options.batchSize;
        const size = Math.min(options.batchSize, this.count - first);
        const x = new Float32Array(size * per);
        const y = new Int32Array(size);
        const samples = order.slice(first, first + size);
        const rng = scratch ? new Random(options.seed ?? 0, AUGMENT_STREAM, options.epoch ?? 0, b) : undefined;
        for (let i = 0; i < size; i++) {
          const s = samples[i] ?? 0;
          const r = this.indices ? (this.indices[s] ?? 0) : s;
          await fd.read(row, 0, rowBytes, header.dataStart + r * rowBytes);
          const out = x.subarray(i * per, (i + 1) * per);
          const dest = scratch ?? out;
          if (header.dtype === 'float32') dest.set(new Float32Array(row.buffer.slice(row.byteOffset, row.byteOffset + rowBytes)));
          else if (header.dtype === 'float64') dest.set(new Float64Array(row.buffer.slice(row.byteOffset, row.byteOffset + rowBytes)));
          else if (this.base.preprocess) pixelsToTensor(hwcOf(row, this.shape), this.shape[0], this.base.preprocess, dest);
          if (scratch && rng) augmentSample(rng, scratch, out, this.shape, pad, flip);
          y[i] = this.base.labels ? (this.base.labels[r] ?? 0) : -1;
        }
        yield { x, y, size, index: b, samples };
      }
    } finally {
      await fd.close();
    }
  }
}

/** CHW bytes as HWC (what pixelsToTensor reads), so uint8 arrays share the image path's arithmetic. */
function hwcOf(chw: Uint8Array, [c, h, w]: [number, number, number]): Uint8Array {
  if (c === 1) return chw;
  const out = new Uint8Array(c * h * w);
  for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) out[i * c + k] = chw[k * h * w + i] ?? 0;
  return out;
}

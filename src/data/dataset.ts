/**
 * In-memory image classification data and a deterministic mini-batch iterator.
 *
 * Determinism contract: the batches of epoch e are a pure function of (dataset, options, seed, e).
 * The sample order comes from a generator seeded with (seed, ORDER_STREAM, epoch) and the
 * augmentation of batch b from one seeded with (seed, AUGMENT_STREAM, epoch, b). Because batch b's
 * augmentation does not depend on batches before it, a run restored from a checkpoint taken after
 * batch k sees exactly the batches it would have seen (`startBatch: k + 1`), without replaying.
 */
import { RebirthError } from '../errors.js';
import { Random } from '../util/random.js';
import type { ResolvedPreprocess } from './preprocess.js';

export interface Dataset {
  /** count * c * h * w values, NCHW, usually in [0, 1]. */
  images: Float32Array;
  /** count class indices in [0, classes). */
  labels: Int32Array;
  count: number;
  /** [channels, height, width] of one image. */
  shape: [number, number, number];
  classes: number;
  /** Human-readable class names, when known (length === classes). */
  classNames?: readonly string[];
  /** How the images were made from pixels, when known (recorded in the models trained on them). */
  preprocess?: ResolvedPreprocess;
}

export interface AugmentOptions {
  /** Random crop: pad each side with `pad` zeros, then crop a random HxW window back out. 0 = off. */
  pad?: number;
  /** Mirror left-right with probability 1/2. */
  flip?: boolean;
}

export interface BatchOptions {
  batchSize: number;
  /** Reshuffle each epoch (default false: dataset order, e.g. for evaluation). */
  shuffle?: boolean;
  /** Default 0. */
  seed?: number;
  /** Default 0; a different epoch gives a different order and different augmentation. */
  epoch?: number;
  /** Omit the final smaller batch (keeps batch statistics and static-shape models happy). */
  dropLast?: boolean;
  augment?: AugmentOptions;
  /** Resume mid-epoch: skip batches before this index at no cost. Default 0. */
  startBatch?: number;
}

export interface Batch {
  /** size * c * h * w values, NCHW. A fresh array per batch: safe to keep or hand to a runtime. */
  x: Float32Array;
  y: Int32Array;
  size: number;
  /** Index of this batch within the epoch (for checkpoints and startBatch). */
  index: number;
  /** Index in the dataset of each sample (for per-sample data computed once, e.g. teacher logits). */
  samples: Uint32Array;
}

const ORDER_STREAM = 1;
/** Stream key of the per-batch augmentation generator (sources that augment elsewhere use it too). */
export const AUGMENT_STREAM = 2;

/** Throw if the arrays disagree with count/shape: such a dataset would give garbage batches. */
export function validateDataset(ds: Dataset, name = 'dataset'): void {
  const [c, h, w] = ds.shape;
  if (![c, h, w, ds.count, ds.classes].every((v) => Number.isInteger(v) && v >= 0)) {
    throw new RebirthError(`${name}: shape ${ds.shape.join('x')}, count ${ds.count} and classes ${ds.classes} must be non-negative integers`);
  }
  if (ds.images.length !== ds.count * c * h * w) {
    throw new RebirthError(
      `${name}: images has ${ds.images.length} values but count ${ds.count} x ${c}x${h}x${w} needs ${ds.count * c * h * w}`,
    );
  }
  if (ds.labels.length !== ds.count) {
    throw new RebirthError(`${name}: labels has ${ds.labels.length} entries but count is ${ds.count}`);
  }
  if (ds.classNames && ds.classNames.length !== ds.classes) {
    throw new RebirthError(`${name}: ${ds.classNames.length} class names for ${ds.classes} classes`);
  }
}

/** Throw unless `startBatch` is an integer >= 0 (shared by every kind of data). */
export function checkStartBatch(startBatch: number): void {
  if (!Number.isInteger(startBatch) || startBatch < 0) {
    throw new RebirthError(`batches: startBatch must be an integer >= 0, got ${startBatch}`);
  }
}

/** Number of batches one epoch yields. */
export function batchCount(count: number, batchSize: number, dropLast = false): number {
  checkBatchSize(batchSize);
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/** The sample order of one epoch: identity without shuffle, else a seeded permutation. */
export function epochOrder(count: number, options: { shuffle?: boolean; seed?: number; epoch?: number } = {}): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (options.shuffle) new Random(options.seed ?? 0, ORDER_STREAM, options.epoch ?? 0).shuffleInPlace(order);
  return order;
}

/** Consecutive samples [start, end) as a dataset sharing memory with the original (e.g. a validation split). */
export function sliceDataset(ds: Dataset, start: number, end = ds.count): Dataset {
  const s = Math.max(0, Math.min(ds.count, Math.trunc(start)));
  const e = Math.max(s, Math.min(ds.count, Math.trunc(end)));
  const size = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const out: Dataset = {
    images: ds.images.subarray(s * size, e * size),
    labels: ds.labels.subarray(s, e),
    count: e - s,
    shape: [...ds.shape],
    classes: ds.classes,
  };
  if (ds.classNames) out.classNames = ds.classNames;
  if (ds.preprocess) out.preprocess = ds.preprocess;
  return out;
}

/** Mini-batches of one epoch; see the module comment for the determinism contract. */
export function* batches(ds: Dataset, options: BatchOptions): Generator<Batch, void, undefined> {
  validateDataset(ds);
  const { batchSize } = options;
  const seed = options.seed ?? 0;
  const epoch = options.epoch ?? 0;
  const total = batchCount(ds.count, batchSize, options.dropLast);
  const startBatch = options.startBatch ?? 0;
  checkStartBatch(startBatch);
  const pad = options.augment?.pad ?? 0;
  const flip = options.augment?.flip ?? false;
  if (!Number.isInteger(pad) || pad < 0) {
    throw new RebirthError(`batches: augment.pad must be an integer >= 0, got ${pad}`);
  }
  const augmenting = pad > 0 || flip;

  const order = epochOrder(ds.count, { shuffle: options.shuffle ?? false, seed, epoch });
  const [c, h, w] = ds.shape;
  const sampleSize = c * h * w;

  for (let b = startBatch; b < total; b++) {
    const first = b * batchSize;
    const size = Math.min(batchSize, ds.count - first);
    const x = new Float32Array(size * sampleSize);
    const y = new Int32Array(size);
    const rng = augmenting ? new Random(seed, AUGMENT_STREAM, epoch, b) : undefined;
    for (let i = 0; i < size; i++) {
      const src = order[first + i] ?? 0;
      y[i] = ds.labels[src] ?? 0;
      const image = ds.images.subarray(src * sampleSize, (src + 1) * sampleSize);
      const dest = x.subarray(i * sampleSize, (i + 1) * sampleSize);
      if (rng) augmentSample(rng, image, dest, ds.shape, pad, flip);
      else dest.set(image);
    }
    yield { x, y, size, index: b, samples: order.slice(first, first + size) };
  }
}

/**
 * The crops and mirrors `--augment` means for images `height` pixels tall: zero padding of 1/14 of the
 * height on each side, at least 2 pixels (2 at 28x28, as the zoo's teachers were trained; 16 at 224), and
 * a left-right mirror with probability 1/2.
 */
export function defaultAugment(height: number): AugmentOptions {
  return { pad: Math.max(2, Math.round(height / 14)), flip: true };
}

/**
 * One sample's random crop (a shift by up to `pad` pixels, zeros outside) and mirror, drawn from `rng` in a
 * fixed order per sample (dy, dx, flip) so a sample's augmentation is reproducible. In-memory sets and
 * .npy sources share it.
 */
export function augmentSample(rng: Random, image: Float32Array, dest: Float32Array, shape: readonly [number, number, number], pad: number, flip: boolean): void {
  const [c, h, w] = shape;
  const dy = pad > 0 ? rng.nextInt(2 * pad + 1) - pad : 0;
  const dx = pad > 0 ? rng.nextInt(2 * pad + 1) - pad : 0;
  const mirror = flip ? rng.nextUint32() >>> 31 === 1 : false;
  shiftFlip(image, dest, c, h, w, dy, dx, mirror);
}

/**
 * dest(ch, y, x) = src(ch, y + dy, x' + dx) with x' = mirrored x when `mirror`, zero outside.
 * Padding by p and cropping at offset (p + dy, p + dx) is exactly this shift, without building the
 * padded image. The flip is applied after the crop, as torchvision's RandomCrop then RandomHorizontalFlip.
 */
function shiftFlip(
  src: Float32Array,
  dest: Float32Array,
  c: number,
  h: number,
  w: number,
  dy: number,
  dx: number,
  mirror: boolean,
): void {
  for (let ch = 0; ch < c; ch++) {
    const plane = ch * h * w;
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      const row = plane + y * w;
      if (sy < 0 || sy >= h) continue; // dest is freshly zeroed
      const srow = plane + sy * w;
      for (let x = 0; x < w; x++) {
        const cx = mirror ? w - 1 - x : x;
        const sx = cx + dx;
        if (sx >= 0 && sx < w) dest[row + x] = src[srow + sx] ?? 0;
      }
    }
  }
}

function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RebirthError(`batch size must be an integer >= 1, got ${batchSize}: pass e.g. --batch-size 64`);
  }
}

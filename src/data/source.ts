/**
 * Data that streams: a source yields the mini-batches of an epoch without holding the data set in
 * memory (an image folder decodes its files as the batches are asked for). An in-memory `Dataset`
 * (Fashion-MNIST, tests) is one kind of source; consumers take `Data` (either) and read it through
 * `streamBatches`, which keeps the determinism contract of `batches` in src/data/dataset.ts: the
 * batches of epoch e are a function of (data, options, seed, e), and `startBatch` resumes mid-epoch.
 */
import { batches, sliceDataset, type Batch, type BatchOptions, type Dataset } from './dataset.js';
import { RebirthError } from '../errors.js';

/** A file that could not be decoded and was left out. */
export interface SkippedFile {
  file: string;
  reason: string;
}

export interface DataSource {
  /** Samples (files) in the source; batches may hold fewer when a file is skipped as undecodable. */
  readonly count: number;
  /** [channels, height, width] of one sample as fed to the model. */
  readonly shape: [number, number, number];
  /** Number of classes (labels in [0, classes)); 0 for unlabeled data. */
  readonly classes: number;
  readonly classNames?: readonly string[];
  /** False for an unlabeled source (a flat folder of images): its batches' labels are -1. */
  readonly labeled: boolean;
  /** Where the data comes from (a path), for messages. */
  readonly origin: string;
  /** Mini-batches of one epoch (see the module comment); at most a few are decoded ahead. */
  batches(options: BatchOptions): AsyncGenerator<Batch, void, undefined>;
  /** The samples `indices` (in that order) as a source of their own; batch.samples index into `indices`. */
  select(indices: Uint32Array): DataSource;
  /**
   * A stable identity of sample i for on-disk caches (file path, size, modification time), or
   * undefined when samples are not files.
   */
  sampleKey?(index: number): string | undefined;
  /** Identity of the preprocessing (part of every cache key). */
  readonly preprocessKey?: string;
  /** Files skipped so far (undecodable), in the order met. */
  skipped(): readonly SkippedFile[];
}

/** What training, evaluation and fitting consume. */
export type Data = Dataset | DataSource;

export function isSource(data: Data): data is DataSource {
  return typeof (data as Partial<DataSource>).batches === 'function';
}

/** Whether the data has labels (every in-memory dataset has). */
export function isLabeled(data: Data): boolean {
  return isSource(data) ? data.labeled : true;
}

/** Where the data comes from, for messages. */
export function dataOrigin(data: Data): string {
  return isSource(data) ? data.origin : 'the in-memory data set';
}

/** Undecodable files skipped so far (none for in-memory data). */
export function skippedFiles(data: Data): readonly SkippedFile[] {
  return isSource(data) ? data.skipped() : [];
}

/** Mini-batches of one epoch of either kind of data. */
export async function* streamBatches(data: Data, options: BatchOptions): AsyncGenerator<Batch, void, undefined> {
  if (isSource(data)) {
    yield* data.batches(options);
    return;
  }
  yield* batches(data, options);
}

/**
 * `n` samples standing for the whole (calibration images, a fraction of an epoch): the first n of an
 * in-memory set (Fashion-MNIST's files are already in random order), every (count/n)-th sample of a
 * source, whose files are sorted by class, so that all classes are represented.
 */
export function headData(data: Data, n: number): Data {
  const count = Math.max(0, Math.min(data.count, Math.trunc(n)));
  if (!isSource(data)) return sliceDataset(data, 0, count);
  if (count === data.count) return data;
  return data.select(stridedIndices(data.count, count));
}

/**
 * Split off `n` samples for choosing among epochs (a validation split), disjoint from the rest, which is
 * what trains: the last n of an in-memory set (already in random order, as Fashion-MNIST's files are;
 * no copy), every (count/n)-th sample of a source (files sorted by class, so every class is in both).
 */
export function holdOut(data: Data, n: number): { train: Data; validation: Data } {
  const k = Math.trunc(n);
  if (!(k >= 1) || k >= data.count) {
    throw new RebirthError(`${dataOrigin(data)}: a validation split of ${n} images needs at least 1 and fewer than the ${data.count} there are`);
  }
  if (!isSource(data)) return { train: sliceDataset(data, 0, data.count - k), validation: sliceDataset(data, data.count - k) };
  const held = stridedIndices(data.count, k);
  const rest = new Uint32Array(data.count - k);
  for (let i = 0, j = 0, h = 0; i < data.count; i++) {
    if (h < held.length && held[h] === i) h++;
    else rest[j++] = i;
  }
  return { train: data.select(rest), validation: data.select(held) };
}

/** `n` indices spread evenly over [0, count): floor(i * count / n). */
export function stridedIndices(count: number, n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor((i * count) / n);
  return out;
}

/** The first `n` samples' images, concatenated NCHW (e.g. inputs for measuring output errors). */
export async function firstImages(data: Data, n: number): Promise<{ data: Float32Array; count: number }> {
  const per = data.shape[0] * data.shape[1] * data.shape[2];
  const want = Math.max(0, Math.min(n, data.count));
  if (!isSource(data)) return { data: data.images.slice(0, want * per), count: want };
  const out = new Float32Array(want * per);
  let count = 0;
  for await (const b of data.batches({ batchSize: Math.max(1, Math.min(want, 64)) })) {
    const take = Math.min(b.size, want - count);
    out.set(b.x.subarray(0, take * per), count * per);
    count += take;
    if (count >= want) break;
  }
  return { data: count === want ? out : out.slice(0, count * per), count };
}

/** Throw unless the data is labeled: `what` says who needs the labels. */
export function requireLabels(data: Data, what: string): void {
  if (!isLabeled(data)) {
    throw new RebirthError(`${dataOrigin(data)} is unlabeled (no class folders): ${what} needs labels; evaluate on a folder with one subfolder per class (--eval-data DIR)`);
  }
}

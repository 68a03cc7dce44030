/**
 * Image folders: torchvision's ImageFolder layout (DIR/<class>/**.jpg|jpeg|png|webp|bmp, labels by
 * sorted class folder name) or a flat folder of images (unlabeled), read as a streaming DataSource.
 *
 * Only the file list lives in memory (a path and a label per image); a batch's images are decoded by
 * the worker pool when the batch is about to be needed, at most `prefetch` batches ahead, so memory
 * is bounded by the batch size and not by the folder's size.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AUGMENT_STREAM, batchCount, checkStartBatch, epochOrder, type Batch, type BatchOptions } from './dataset.js';
import { preprocessKey, type ResolvedPreprocess, type SampleDraw } from './preprocess.js';
import { sharedPool, type DecodePool, type DecodeResult } from './decode-pool.js';
import type { DataSource, SkippedFile } from './source.js';
import { RebirthError, errorMessage, firstLine } from '../errors.js';
import { Random } from '../util/random.js';

/** File name endings read as images (case-insensitive), torchvision's list minus what libvips cannot read. */
export const IMAGE_EXTENSIONS: readonly string[] = Object.freeze(['.jpg', '.jpeg', '.png', '.webp', '.bmp']);

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase());
}

/** What a folder holds: files relative to `root`, and labels by class when it has class folders. */
export interface FolderScan {
  root: string;
  files: string[];
  /** Class folder names, sorted (torchvision's order); undefined for a flat (unlabeled) folder. */
  classes?: string[];
  /** Per file, the index of its class folder in `classes`. */
  folderLabels?: Int32Array;
  /** Images lying directly in a folder that has class folders (ignored, as torchvision does). */
  ignoredLoose: number;
}

interface Entry {
  name: string;
  dir: boolean;
}

function listDir(dir: string, what: string): Entry[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RebirthError(`${what} ${dir}: no such folder; check the path`, { cause: e });
    if (code === 'ENOTDIR') throw new RebirthError(`${what} ${dir} is a file, not a folder of images; pass the folder`, { cause: e });
    throw new RebirthError(`${what} ${dir}: cannot list it (${firstLine(errorMessage(e))}); fix its permissions`, { cause: e });
  }
  const out: Entry[] = [];
  for (const e of entries) {
    // Hidden entries (.DS_Store, .ipynb_checkpoints, .cache) are never data.
    if (e.name.startsWith('.')) continue;
    let isDir = e.isDirectory();
    if (e.isSymbolicLink()) {
      try {
        isDir = fs.statSync(path.join(dir, e.name)).isDirectory();
      } catch {
        isDir = false; // a broken link: listed as a file, reported as unreadable if it is an image name
      }
    }
    out.push({ name: e.name, dir: isDir });
  }
  // Code-point order, as Python's sorted() (torchvision's class order).
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Image files under `dir` (recursively, sorted), relative to `root`. */
function walkImages(root: string, rel: string, out: string[]): void {
  const dir = path.join(root, rel);
  for (const e of listDir(dir, 'folder')) {
    const child = rel ? `${rel}/${e.name}` : e.name;
    if (e.dir) walkImages(root, child, out);
    else if (isImageFile(e.name)) out.push(child);
  }
}

/** Scan one folder: class folders (labeled) or images directly inside (unlabeled). */
export function scanImageFolder(root: string, what = '--data'): FolderScan {
  const entries = listDir(root, what);
  const dirs = entries.filter((e) => e.dir);
  const loose = entries.filter((e) => !e.dir && isImageFile(e.name));
  if (entries.length === 0) {
    throw new RebirthError(`${what} ${root} is empty: put images in ${root}/<class>/ (labeled) or directly in ${root} (unlabeled)`);
  }
  if (dirs.length === 0) {
    if (loose.length === 0) {
      throw new RebirthError(`${what} ${root} holds no images (${IMAGE_EXTENSIONS.join(', ')}): point it at a folder of images`);
    }
    return { root, files: loose.map((e) => e.name), ignoredLoose: 0 };
  }
  const files: string[] = [];
  const labels: number[] = [];
  const classes = dirs.map((d) => d.name);
  for (const [i, cls] of classes.entries()) {
    const before = files.length;
    walkImages(root, cls, files);
    if (files.length === before) {
      throw new RebirthError(`${what} ${root}/${cls} holds no images (${IMAGE_EXTENSIONS.join(', ')}): add images to the class folder or remove it`);
    }
    for (let k = before; k < files.length; k++) labels.push(i);
  }
  return { root, files, classes, folderLabels: Int32Array.from(labels), ignoredLoose: loose.length };
}

/** The class folder names of `dir` (its non-hidden subfolders, sorted), without walking them. */
export function classFolders(dir: string): string[] {
  return listDir(dir, 'folder').filter((e) => e.dir).map((e) => e.name);
}

/** Split folders of a DIR holding train/ and val/ (or test/): torchvision's ImageNet layout. */
export function splitFolders(root: string): { train: string; test: string } | undefined {
  const isDir = (p: string): boolean => {
    try {
      return fs.statSync(p).isDirectory();
    } catch {
      return false;
    }
  };
  const train = path.join(root, 'train');
  if (!isDir(train)) return undefined;
  for (const name of ['val', 'test']) {
    const p = path.join(root, name);
    if (isDir(p)) return { train, test: p };
  }
  return undefined;
}

export interface FolderSourceOptions {
  /** [channels, height, width] the model takes. */
  shape: [number, number, number];
  preprocess: ResolvedPreprocess;
  /**
   * Class names in label order (--classes FILE, or the model's recorded names); every class folder
   * must be among them. Default: the sorted class folder names.
   */
  classNames?: readonly string[];
  /** Decoding workers (default one per core). */
  workers?: number;
  /** Batches decoded ahead of the one being consumed (default 2). */
  prefetch?: number;
  /** Share of undecodable files tolerated before stopping (default 0.01). */
  maxBadFraction?: number;
  /** Where warnings go (default stderr, one line each). */
  onWarning?: (line: string) => void;
  /** Name of the option that gave the folder, for messages (default '--data'). */
  what?: string;
  /** Where `classNames` came from, for messages (default 'the --classes file'). */
  classesFrom?: string;
  /** The decoder (default the shared worker pool); tests count its calls. */
  decoder?: Decoder;
}

/** What a folder source needs of the worker pool. */
export type Decoder = Pick<DecodePool, 'decode'> & Partial<Pick<DecodePool, 'warm'>>;

/** State shared by a folder source and its selections: the undecodable files met so far. */
interface BadFiles {
  list: SkippedFile[];
  seen: Set<string>;
}

interface FolderBase {
  root: string;
  files: string[];
  labels?: Int32Array;
  classNames?: readonly string[];
  options: FolderSourceOptions;
  bad: BadFiles;
  pool: Decoder;
  key: string;
}

/** Open a scanned folder as a DataSource; labels follow `classNames` when given (see FolderSourceOptions). */
export function folderSource(scan: FolderScan, options: FolderSourceOptions): DataSource {
  const what = options.what ?? '--data';
  let labels: Int32Array | undefined;
  let classNames: readonly string[] | undefined;
  if (scan.classes && scan.folderLabels) {
    if (options.classNames) {
      const index = new Map(options.classNames.map((n, i) => [n, i]));
      const missing = scan.classes.filter((c) => !index.has(c));
      if (missing.length > 0) {
        const from = options.classesFrom ?? 'the --classes file';
        throw new RebirthError(`${what} ${scan.root}: class folder${missing.length > 1 ? 's' : ''} ${missing.slice(0, 5).map((m) => `'${m}'`).join(', ')} not among the ${options.classNames.length} classes of ${from}; add them there or remove the folders`);
      }
      const map = scan.classes.map((c) => index.get(c) ?? 0);
      labels = scan.folderLabels.map((l) => map[l] ?? 0);
      classNames = options.classNames;
    } else {
      labels = scan.folderLabels;
      classNames = scan.classes;
    }
  }
  if (scan.ignoredLoose > 0) {
    (options.onWarning ?? warnStderr)(`warning: ignoring ${scan.ignoredLoose} image(s) directly in ${scan.root}: with class folders present, only images inside them are read`);
  }
  const base: FolderBase = {
    root: scan.root, files: scan.files, options, bad: { list: [], seen: new Set() }, pool: options.decoder ?? sharedPool(options.workers),
    key: preprocessKey(options.preprocess),
    ...(labels ? { labels } : {}), ...(classNames ? { classNames } : {}),
  };
  base.pool.warm?.();
  return new FolderSource(base, undefined);
}

function warnStderr(line: string): void {
  process.stderr.write(`${line}\n`);
}

class FolderSource implements DataSource {
  readonly count: number;
  readonly shape: [number, number, number];
  readonly classes: number;
  readonly classNames?: readonly string[];
  readonly labeled: boolean;
  readonly origin: string;
  readonly preprocessKey: string;
  readonly preprocess: ResolvedPreprocess;

  constructor(private readonly base: FolderBase, private readonly indices: Uint32Array | undefined) {
    this.count = indices ? indices.length : base.files.length;
    this.shape = [...base.options.shape];
    this.labeled = base.labels !== undefined;
    this.classes = base.classNames?.length ?? 0;
    if (base.classNames) this.classNames = base.classNames;
    this.origin = base.root;
    this.preprocessKey = base.key;
    this.preprocess = base.options.preprocess;
  }

  skipped(): readonly SkippedFile[] {
    return this.base.bad.list;
  }

  select(indices: Uint32Array): DataSource {
    const mapped = this.indices ? indices.map((i) => this.indices?.[i] ?? 0) : Uint32Array.from(indices);
    for (const i of mapped) if (i >= this.base.files.length) throw new RangeError(`select: index ${i} out of range`);
    return new FolderSource(this.base, mapped);
  }

  sampleKey(index: number): string | undefined {
    const file = this.file(index);
    const st = fs.statSync(file);
    return `${path.resolve(file)}\t${st.size}\t${st.mtimeMs}`;
  }

  private fileIndex(sample: number): number {
    return this.indices ? (this.indices[sample] ?? 0) : sample;
  }

  private file(sample: number): string {
    return path.join(this.base.root, this.base.files[this.fileIndex(sample)] ?? '');
  }

  async *batches(options: BatchOptions): AsyncGenerator<Batch, void, undefined> {
    const { batchSize } = options;
    const total = batchCount(this.count, batchSize, options.dropLast);
    const startBatch = options.startBatch ?? 0;
    checkStartBatch(startBatch);
    const prefetch = this.base.options.prefetch ?? 2;
    if (!Number.isInteger(prefetch) || prefetch < 0) throw new RebirthError(`prefetch must be an integer >= 0, got ${prefetch}`);
    const seed = options.seed ?? 0;
    const epoch = options.epoch ?? 0;
    const order = epochOrder(this.count, { shuffle: options.shuffle ?? false, seed, epoch });
    const inflight: Array<Promise<Batch>> = [];
    let next = startBatch;
    const launch = (): void => {
      const p = this.load(next++, order, options);
      // Rejections are seen when the batch's turn comes; until then (or if the consumer stops early)
      // they must not count as unhandled.
      p.catch(() => undefined);
      inflight.push(p);
    };
    try {
      // While the consumer holds batch b, batches b+1 .. b+prefetch are being decoded, no more.
      while (next < total && inflight.length < prefetch + 1) launch();
      while (inflight.length > 0) {
        const batch = await (inflight.shift() as Promise<Batch>);
        // A batch whose files were all undecodable is left out: no consumer can use an empty batch.
        if (batch.size > 0) yield batch;
        if (next < total) launch();
      }
    } finally {
      await Promise.allSettled(inflight);
    }
  }

  private async load(b: number, order: Uint32Array, options: BatchOptions): Promise<Batch> {
    const first = b * options.batchSize;
    const size = Math.min(options.batchSize, this.count - first);
    const p = this.base.options.preprocess;
    const rng = options.augment ? new Random(options.seed ?? 0, AUGMENT_STREAM, options.epoch ?? 0, b) : undefined;
    const flips = (options.augment?.flip ?? false) || (p.train?.flip ?? false);
    const samples = order.slice(first, first + size);
    const results: Array<Promise<DecodeResult>> = [];
    for (const s of samples) {
      let draw: SampleDraw | undefined;
      // Fixed draw order per sample (seed, then the flip coin) so a sample's augmentation is reproducible.
      if (rng) draw = { seed: rng.nextUint32(), flip: flips && rng.nextUint32() >>> 31 === 1 };
      results.push(this.base.pool.decode(this.file(s), p, draw));
    }
    const decoded = await Promise.all(results);
    const per = this.shape[0] * this.shape[1] * this.shape[2];
    const good: number[] = [];
    for (const [i, r] of decoded.entries()) {
      const file = this.file(samples[i] ?? 0);
      if (r.ok) good.push(i);
      else if (r.kind === 'unreadable') throw new RebirthError(`cannot read ${file}: ${r.message}; fix its permissions or remove it`);
      else this.reportBad(file, r.message);
    }
    const x = new Float32Array(good.length * per);
    const y = new Int32Array(good.length);
    const kept = new Uint32Array(good.length);
    for (const [j, i] of good.entries()) {
      const r = decoded[i];
      if (r?.ok) x.set(r.data, j * per);
      const s = samples[i] ?? 0;
      kept[j] = s;
      y[j] = this.base.labels ? (this.base.labels[this.fileIndex(s)] ?? 0) : -1;
    }
    return { x, y, size: good.length, index: b, samples: kept };
  }

  /** Record an undecodable file (once), warn, and stop when more than the tolerated share are bad. */
  private reportBad(file: string, reason: string): void {
    const bad = this.base.bad;
    if (bad.seen.has(file)) return;
    bad.seen.add(file);
    bad.list.push({ file, reason });
    const all = this.base.files.length;
    const limit = this.base.options.maxBadFraction ?? 0.01;
    if (bad.list.length > limit * all) {
      const names = bad.list.slice(0, 3).map((f) => `${f.file} (${f.reason})`).join(', ');
      throw new RebirthError(`${bad.list.length} of ${all} images in ${this.base.root} cannot be decoded, more than ${+(limit * 100).toFixed(2)}%: ${names}${bad.list.length > 3 ? ', ...' : ''}; repair or remove them`);
    }
    (this.base.options.onWarning ?? warnStderr)(`warning: skipped ${file}: cannot decode it (${reason})`);
  }
}

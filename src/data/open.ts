/**
 * `--data SPEC` to data: Fashion-MNIST (the name, or a folder of its IDX files), an image folder
 * (ImageFolder classes, train/ + val/ splits, or a flat unlabeled folder), or `X.npy[,Y.npy]`.
 * The model being fed fixes the image size and channels, and supplies the preprocessing and class
 * names it recorded when the caller gives none.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Model } from '../ir/graph.js';
import { inferTypes } from '../shapes/infer.js';
import { FASHION_MNIST_CLASSES, loadFashionMnist } from './fashion-mnist.js';
import { classFolders, folderSource, scanImageFolder, splitFolders, type FolderScan } from './folder.js';
import { npySource } from './npy-source.js';
import { PRESETS, modelInputShape, preprocessKey, readDataInfo, resolvePreprocess, type PreprocessSpec, type ResolvedPreprocess } from './preprocess.js';
import { headData, type Data } from './source.js';
import { RebirthError } from '../errors.js';

export type Split = 'train' | 'test';

export interface OpenDataOptions {
  split: Split;
  /** The model to feed: its input size, and its recorded preprocessing and class names. */
  model?: Model;
  /** [channels, height, width] when there is no model (or to override its input). */
  shape?: [number, number, number];
  /** Preprocessing (default: the model's recorded one, else the 'unit' preset). */
  preprocess?: PreprocessSpec;
  /** Class names in label order (--classes FILE); default the model's recorded names when they cover the folders. */
  classNames?: readonly string[];
  /** Keep `limit` samples (Fashion-MNIST: the first; a folder: evenly spread, every class represented). */
  limit?: number;
  workers?: number;
  prefetch?: number;
  maxBadFraction?: number;
  onWarning?: (line: string) => void;
  /** The option naming the data, for messages (default '--data'). */
  what?: string;
  /** Where `classNames` came from, for messages (default 'the --classes file'). */
  classesFrom?: string;
}

/** What `openData` decided, beside the data itself: recorded in models trained on it. */
export interface OpenedData {
  data: Data;
  /** The preprocessing the samples went through (undefined for float .npy arrays: unknown). */
  preprocess?: ResolvedPreprocess;
  classNames?: readonly string[];
  /** 'fashion-mnist', 'folder', 'split-folder', 'flat-folder', 'npy'. */
  kind: string;
  /** The split folder read, for split layouts. */
  folder?: string;
}

const IDX_NAMES = ['train-images-idx3-ubyte', 't10k-images-idx3-ubyte'];

function hasIdx(dir: string): boolean {
  return IDX_NAMES.some((n) => fs.existsSync(path.join(dir, n)) || fs.existsSync(path.join(dir, `${n}.gz`)));
}

/** The number of classes a model outputs (last dim of its first output), when known. */
export function modelOutputClasses(model: Model): number | undefined {
  const out = model.graph.outputs[0];
  if (!out) return undefined;
  const declared = out.shape?.[out.shape.length - 1];
  if (typeof declared === 'number') return declared;
  const inferred = inferTypes(model, { strict: false, batch: 1 }).types.get(out.name)?.shape;
  const last = inferred?.[inferred.length - 1];
  return typeof last === 'number' ? last : undefined;
}

/** The preprocessing to use: given, else recorded in the model, else 'unit'. */
export function choosePreprocess(options: Pick<OpenDataOptions, 'model' | 'preprocess'>): PreprocessSpec {
  if (options.preprocess) return options.preprocess;
  const recorded = options.model ? readDataInfo(options.model).preprocess : undefined;
  return recorded ?? structuredClone(PRESETS.unit);
}

/** Open one split of `spec` (undefined: Fashion-MNIST). */
export function openData(spec: string | undefined, options: OpenDataOptions): OpenedData {
  const what = options.what ?? '--data';
  const limit = options.limit;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new RebirthError(`--limit must be an integer >= 1, got ${limit}`);
  const shape = options.shape ?? (options.model ? modelInputShape(options.model) : undefined);
  const recorded = options.model ? readDataInfo(options.model) : {};

  if (spec === undefined || spec === 'fashion-mnist' || (isDir(spec) && hasIdx(spec))) {
    const dir = spec === undefined || spec === 'fashion-mnist' ? undefined : spec;
    const ds = loadFashionMnist({ split: options.split, ...(dir ? { dir } : {}), ...(limit ? { limit } : {}) });
    if (options.preprocess && ds.preprocess && !sameAs(options.preprocess, ds.preprocess)) {
      (options.onWarning ?? ((l: string) => process.stderr.write(`${l}\n`)))(`warning: --preprocess does not apply to Fashion-MNIST's IDX files (always pixel / 255); it applies to image folders and uint8 .npy arrays`);
    }
    if (shape && shape.join('x') !== ds.shape.join('x')) {
      throw new RebirthError(`${what} ${spec ?? 'fashion-mnist'}: Fashion-MNIST images are 1x28x28 but the model takes ${shape.join('x')}; pass --data with images for this model`);
    }
    checkClasses(ds.classes, options.model, `${what} ${spec ?? 'fashion-mnist'}`);
    return { data: ds, kind: 'fashion-mnist', ...(ds.preprocess ? { preprocess: ds.preprocess } : {}), classNames: FASHION_MNIST_CLASSES };
  }

  if (/\.npy(,|$)/i.test(spec)) {
    const [x, y, extra] = spec.split(',');
    if (extra !== undefined || !x) throw new RebirthError(`${what} ${spec}: expected X.npy or X.npy,Y.npy`);
    const pre = shape ? preprocessFor(options, shape, what) : undefined;
    const data = npySource(x, y, { ...(shape ? { shape } : {}), ...(pre ? { preprocess: pre } : {}), ...(options.classNames ? { classNames: options.classNames } : {}), what });
    checkClasses(data.classes, options.model, `${what} ${y ?? x}`);
    return { data: limit ? headData(data, limit) : data, kind: 'npy', ...(data.classNames ? { classNames: data.classNames } : {}) };
  }

  if (!fs.existsSync(spec)) {
    throw new RebirthError(`${what} ${spec} does not exist: Fashion-MNIST not found in ${spec}, nor images or .npy arrays; pass an image folder, X.npy[,Y.npy], or fashion-mnist after \`apt-get install dataset-fashion-mnist\``);
  }
  if (!isDir(spec)) {
    throw new RebirthError(`${what} ${spec} is a file; pass a folder of images, X.npy[,Y.npy] or fashion-mnist`);
  }
  const splits = splitFolders(spec);
  const folder = splits ? splits[options.split] : spec;
  const scan = scanImageFolder(folder, what);
  if (splits && scan.classes) {
    // The other split must have the same class folders, or labels would mean different things.
    const other = scanClassesOnly(options.split === 'train' ? splits.test : splits.train);
    if (other) checkSameClasses(splits.train, options.split === 'train' ? scan.classes : other, splits.test, options.split === 'train' ? other : scan.classes);
  }
  if (!shape) throw new RebirthError(`${what} ${spec}: the model's input size is not fixed ([N, C, H, W] with numbers); images need it`);
  const pre = preprocessFor(options, shape, what);
  const classNames = options.classNames ?? matchingNames(scan, recorded.classNames);
  const data = folderSource(scan, {
    shape, preprocess: pre, what,
    ...(classNames ? { classNames } : {}),
    ...(options.classNames ? { classesFrom: options.classesFrom ?? 'the --classes file' } : classNames ? { classesFrom: 'the model\'s recorded class names' } : {}),
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
    ...(options.prefetch !== undefined ? { prefetch: options.prefetch } : {}),
    ...(options.maxBadFraction !== undefined ? { maxBadFraction: options.maxBadFraction } : {}),
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
  });
  checkClasses(data.classes, options.model, `${what} ${folder}`);
  return {
    data: limit ? headData(data, limit) : data, preprocess: pre, kind: splits ? 'split-folder' : scan.classes ? 'folder' : 'flat-folder', folder,
    ...(data.classNames ? { classNames: data.classNames } : {}),
  };
}

/**
 * Training and evaluation data together: `evalSpec` (--eval-data) when given, else the same SPEC's
 * test split. Labels of the evaluation data follow the training data's class names, so the two agree
 * on what label i means.
 */
export function openTrainEval(spec: string | undefined, evalSpec: string | undefined, options: Omit<OpenDataOptions, 'split'>): { train: OpenedData; test: OpenedData } {
  const train = openData(spec, { ...options, split: 'train' });
  const fromTraining = !options.classNames && train.kind !== 'fashion-mnist' && train.classNames !== undefined;
  const classNames = options.classNames ?? (fromTraining ? train.classNames : undefined);
  const test = openData(evalSpec ?? spec, {
    ...options, split: 'test', ...(evalSpec ? { what: '--eval-data' } : {}), ...(classNames ? { classNames } : {}),
    ...(fromTraining ? { classesFrom: `the training data (${train.folder ?? spec})` } : {}),
  });
  const onWarning = options.onWarning ?? ((l: string) => process.stderr.write(`${l}\n`));
  if (!evalSpec && (train.kind === 'folder' || train.kind === 'flat-folder' || train.kind === 'npy')) {
    onWarning(`warning: ${spec} has no train/ and val/ split and no --eval-data was given: accuracy is measured on the training images`);
  }
  return { train, test };
}

/** Whether `spec` resolves to `resolved` (a spec that cannot resolve for its shape is not the same). */
function sameAs(spec: PreprocessSpec, resolved: ResolvedPreprocess): boolean {
  try {
    return preprocessKey(resolvePreprocess(spec, [resolved.channels, ...resolved.crop])) === preprocessKey(resolved);
  } catch {
    return false;
  }
}

/** The preprocessing resolved for `shape` (which must be known for images). */
function preprocessFor(options: OpenDataOptions, shape: [number, number, number], what: string): ResolvedPreprocess {
  const spec = choosePreprocess(options);
  return resolvePreprocess(spec, shape, options.preprocess ? '--preprocess' : `the preprocessing recorded in the model (${what})`);
}

/** The model's recorded class names when every class folder is one of them (else the folders' own order). */
function matchingNames(scan: FolderScan, recorded: readonly string[] | undefined): readonly string[] | undefined {
  if (!recorded || !scan.classes) return undefined;
  const known = new Set(recorded);
  return scan.classes.every((c) => known.has(c)) ? recorded : undefined;
}

function checkClasses(classes: number, model: Model | undefined, where: string): void {
  if (!model || classes === 0) return;
  const outputs = modelOutputClasses(model);
  if (outputs !== undefined && classes > outputs) {
    throw new RebirthError(`${where} has ${classes} classes but the model outputs ${outputs}; use data with at most ${outputs} classes or a --classes file that maps them`);
  }
}

function checkSameClasses(trainDir: string, train: readonly string[], testDir: string, test: readonly string[]): void {
  const a = new Set(train);
  const b = new Set(test);
  const onlyTrain = train.filter((c) => !b.has(c));
  const onlyTest = test.filter((c) => !a.has(c));
  if (onlyTrain.length > 0 || onlyTest.length > 0) {
    const list = (xs: string[]): string => xs.slice(0, 5).map((x) => `'${x}'`).join(', ') + (xs.length > 5 ? ', ...' : '');
    const parts = [onlyTrain.length ? `${list(onlyTrain)} only in ${trainDir}` : '', onlyTest.length ? `${list(onlyTest)} only in ${testDir}` : ''].filter(Boolean);
    throw new RebirthError(`${trainDir} and ${testDir} have different class folders (${parts.join('; ')}); give both splits the same class folders`);
  }
}

/** Class folder names of a split folder (its subfolders, sorted), or undefined when it has none (flat). */
function scanClassesOnly(dir: string): string[] | undefined {
  const names = classFolders(dir);
  return names.length > 0 ? names : undefined;
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

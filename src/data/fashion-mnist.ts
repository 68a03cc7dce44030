/** Fashion-MNIST (Xiao et al. 2017): 70,000 28x28 grey images of clothes in 10 classes. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RebirthError } from '../errors.js';
import type { Dataset } from './dataset.js';
import { readIdxImages, readIdxLabels } from './idx.js';
import { PRESETS, resolvePreprocess } from './preprocess.js';

/** Where Debian's dataset-fashion-mnist package puts the files. */
export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';

/** Class names in label order, as published with the data set. */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]);

const SIDE = 28;

const FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
} as const;

export interface FashionMnistOptions {
  /** Folder holding the four IDX files (.gz or already gunzipped). Default FASHION_MNIST_DEFAULT_DIR. */
  dir?: string;
  split: 'train' | 'test';
  /** Keep only the first `limit` samples (quick runs, tests). */
  limit?: number;
}

/** The file for `base`, preferring the published .gz name and accepting an already gunzipped copy. */
function locate(dir: string, base: string): string {
  for (const name of [`${base}.gz`, base]) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new RebirthError(
    `Fashion-MNIST not found in ${dir}: install it with \`apt-get install dataset-fashion-mnist\` or pass --data DIR`,
  );
}

/** Load one split as NCHW 1x28x28 float images in [0, 1] (pixel / 255). */
export function loadFashionMnist(options: FashionMnistOptions): Dataset {
  const dir = options.dir ?? FASHION_MNIST_DEFAULT_DIR;
  const files = FILES[options.split];
  if (!files) throw new RebirthError(`Fashion-MNIST split must be 'train' or 'test', got '${String(options.split)}'`);
  const { limit } = options;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new RebirthError(`Fashion-MNIST limit must be an integer >= 1, got ${limit}: pass e.g. --limit 1000`);
  }
  const imagesFile = locate(dir, files.images);
  const labelsFile = locate(dir, files.labels);

  const images = readIdxImages(imagesFile);
  if (images.rows !== SIDE || images.cols !== SIDE) {
    throw new RebirthError(
      `${imagesFile} holds ${images.rows}x${images.cols} images, Fashion-MNIST's are ${SIDE}x${SIDE}: check --data points at Fashion-MNIST`,
    );
  }
  const labels = readIdxLabels(labelsFile);
  if (labels.count !== images.count) {
    throw new RebirthError(
      `${labelsFile} has ${labels.count} labels but ${imagesFile} has ${images.count} images: the two files come from different sets; download them again`,
    );
  }

  const count = Math.min(images.count, limit ?? images.count);
  const classes = FASHION_MNIST_CLASSES.length;
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = labels.labels[i] ?? 0;
    if (label >= classes) {
      throw new RebirthError(`${labelsFile} is corrupt: label ${label} at index ${i}, expected 0..${classes - 1}; download it again`);
    }
    y[i] = label;
  }
  const n = count * SIDE * SIDE;
  const x = new Float32Array(n);
  // Multiplying by 1/255 would differ from pixel / 255 in the last bit for some pixels; divide to match
  // what other frameworks feed the same model.
  for (let i = 0; i < n; i++) x[i] = (images.pixels[i] ?? 0) / 255;

  return {
    images: x, labels: y, count, shape: [1, SIDE, SIDE], classes, classNames: FASHION_MNIST_CLASSES,
    preprocess: resolvePreprocess(PRESETS.unit, [1, SIDE, SIDE]),
  };
}

/**
 * Does decoding keep up with training? The share of each training step's wall time spent waiting for the
 * next batch (target < 5%), for googlenet-mini on Fashion-MNIST written as PNG files (unit preprocessing)
 * and for GoogLeNet 224x224 on colour JPEGs of mixed sizes (imagenet preprocessing with its training
 * augmentation: random resized crop + flip). The trainer is rebirth's own (src/train/trainer.ts), fed by
 * an image folder source through a wrapper that times each wait.
 *
 * usage: npx tsx bench/data-throughput.ts [--mini-images 2048] [--big-images 96] [--big-batch 16] [--skip-big] [--keep DIR]
 */
import { parseArgs } from 'node:util';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { jpegFolder, load, memorySource, timedSource, type WaitStats } from './data-common.js';
import { loadFashionMnist } from '../src/data/fashion-mnist.js';
import { writeImageFolder } from '../src/data/export.js';
import { openData } from '../src/data/open.js';
import { PRESETS, type PreprocessSpec } from '../src/data/preprocess.js';
import { isSource } from '../src/data/source.js';
import { buildZooModel } from '../src/zoo/index.js';
import { loadModel } from '../src/onnx/file.js';
import { teacherPath } from '../src/util/paths.js';
import { train } from '../src/train/trainer.js';
import type { Model } from '../src/ir/graph.js';

const { values } = parseArgs({
  options: { 'mini-images': { type: 'string' }, 'big-images': { type: 'string' }, 'big-batch': { type: 'string' }, 'skip-big': { type: 'boolean' }, keep: { type: 'string' } },
});
const work = values.keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-bench-wait-'));
fs.mkdirSync(work, { recursive: true });

async function measure(label: string, model: Model, dir: string, preprocess: PreprocessSpec, batchSize: number, augment: boolean): Promise<number> {
  const { data } = openData(dir, { split: 'train', model, preprocess });
  if (!isSource(data)) throw new Error('expected a folder source');
  // Decoding alone (no training), after a warm-up batch: the rate the pipeline can feed at.
  for await (const _ of data.batches({ batchSize, shuffle: true, seed: 9, ...(augment ? { augment: {} } : {}) })) break;
  const t0 = performance.now();
  let decoded = 0;
  for await (const b of data.batches({ batchSize, shuffle: true, seed: 1, ...(augment ? { augment: {} } : {}) })) decoded += b.size;
  const rate = decoded / ((performance.now() - t0) / 1000);
  process.stdout.write(`${label}: decoding alone ${rate.toFixed(0)} img/s (${(1000 * batchSize / rate).toFixed(0)} ms per batch of ${batchSize}); load ${load()}\n`);
  const stats: WaitStats = { waitMs: 0, firstMs: 0, totalMs: 0, batches: 0 };
  const before = load();
  await train(model, timedSource(data, stats), {
    epochs: 1, batchSize, lr: 0.001, seed: 1, threads: 2, progress: false,
    optimizer: { kind: 'sgd', momentum: 0.9 }, schedule: { config: { kind: 'constant' }, warmupSteps: 0 },
    ...(augment ? { augment: {} } : {}),
  });
  const share = stats.waitMs / stats.totalMs;
  process.stdout.write(`${label}: ${stats.batches} steps of ${batchSize}, ${(stats.totalMs / stats.batches).toFixed(0)} ms/step, ` +
    `waiting for data ${(stats.waitMs / stats.batches).toFixed(1)} ms/step = ${(100 * share).toFixed(2)}% (target < 5%; ` +
    `first batch ${stats.firstMs.toFixed(0)} ms, the rest ${(100 * (stats.waitMs - stats.firstMs) / stats.totalMs).toFixed(2)}%); load ${before} -> ${load()}\n`);
  return stats.totalMs / stats.batches;
}

/** The peer: the same images from memory (Fashion-MNIST's IDX files), timed the same way, decoding nothing. */
async function inMemory(model: Model, images: number, batchSize: number): Promise<number> {
  const stats: WaitStats = { waitMs: 0, firstMs: 0, totalMs: 0, batches: 0 };
  await train(model, timedSource(memorySource(loadFashionMnist({ split: 'train', limit: images })), stats), {
    epochs: 1, batchSize, lr: 0.001, seed: 1, threads: 2, progress: false,
    optimizer: { kind: 'sgd', momentum: 0.9 }, schedule: { config: { kind: 'constant' }, warmupSteps: 0 },
  });
  return stats.totalMs / stats.batches;
}

const miniDir = path.join(work, 'fmnist-png');
if (!fs.existsSync(miniDir)) await writeImageFolder(loadFashionMnist({ split: 'train', limit: Number(values['mini-images'] ?? 2048) }), miniDir);
// (The folder must hold the first mini-images training images for the in-memory peer to match it.)
const miniImages = Number(values['mini-images'] ?? 2048);
const folderStep = await measure('googlenet-mini, Fashion-MNIST PNGs (28x28 grey), unit', loadModel(teacherPath()), miniDir, PRESETS.unit, 64, false);
const memoryStep = await inMemory(loadModel(teacherPath()), miniImages, 64);
process.stdout.write(`googlenet-mini, the same images from memory (IDX): ${memoryStep.toFixed(0)} ms/step; folder / memory step time ${(folderStep / memoryStep).toFixed(2)}x; load ${load()}\n`);

if (!values['skip-big']) {
  const bigDir = path.join(work, 'jpegs');
  if (!fs.existsSync(bigDir)) {
    await jpegFolder(`${bigDir}.tmp`, Number(values['big-images'] ?? 96));
    fs.renameSync(`${bigDir}.tmp`, bigDir);
  }
  await measure('GoogLeNet 224x224, mixed-size colour JPEGs, imagenet + random resized crop + flip', buildZooModel('googlenet', { classes: 10, seed: 1 }), bigDir,
    PRESETS.imagenet, Number(values['big-batch'] ?? 16), true);
}
if (!values.keep) fs.rmSync(work, { recursive: true, force: true });

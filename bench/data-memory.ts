/**
 * Peak memory of `rebirth eval` over an image folder: a 224x224 model over N colour JPEGs of mixed sizes
 * and over 2N. Streaming means the peak should not depend on N (targets: < 1.5 GB, and 2N within 15% of N).
 * Each evaluation runs in a fresh process (its peak RSS, ru_maxrss, includes the decoding workers).
 *
 * usage: npx tsx bench/data-memory.ts [--images 1000] [--model zoo:googlenet|tiny|FILE] [--keep DIR]
 *   --model tiny: a 224x224 model of one strided conv (decoding dominates; quick on a busy machine).
 */
import { parseArgs } from 'node:util';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { jpegFolder, load } from './data-common.js';
import { buildZooModel } from '../src/zoo/index.js';
import { loadModel, saveModel } from '../src/onnx/file.js';
import { GraphBuilder, modelOf } from '../src/ir/builder.js';
import { floatTensor } from '../src/ir/tensor.js';
import type { Model } from '../src/ir/graph.js';
import { openData } from '../src/data/open.js';
import { PRESETS } from '../src/data/preprocess.js';
import { evaluate } from '../src/train/evaluate.js';

const { values } = parseArgs({ options: { images: { type: 'string' }, model: { type: 'string' }, keep: { type: 'string' }, child: { type: 'string' }, data: { type: 'string' } } });

function tiny(): Model {
  const b = new GraphBuilder('tiny224');
  const x = b.input('data', ['N', 3, 224, 224]);
  const w = b.initializer(floatTensor('w', [16, 3, 8, 8], Array.from({ length: 16 * 3 * 64 }, (_, i) => ((i * 7919) % 97) / 970 - 0.05)));
  const pooled = b.op('Flatten', [b.op('GlobalAveragePool', [b.op('Relu', [b.op('Conv', [x, w], { strides: [8, 8] })])])]);
  const g = b.initializer(floatTensor('g', [10, 16], Array.from({ length: 160 }, (_, i) => ((i * 31) % 13) / 13 - 0.5)));
  b.output(b.op('Gemm', [pooled, g], { transB: 1 }), ['N', 10]);
  return modelOf(b.graph);
}

if (values.child) {
  // Child: evaluate one folder and report this process's peak RSS.
  const model = loadModel(values.child);
  const started = performance.now();
  const { data } = openData(values.data, { split: 'test', model, preprocess: PRESETS.imagenet });
  const r = await evaluate(model, data, { threads: 2 });
  process.stdout.write(`${JSON.stringify({ maxRssMiB: process.resourceUsage().maxRSS / 1024, seconds: (performance.now() - started) / 1000, samples: r.samples })}\n`);
  process.exit(0);
}

const n = Number(values.images ?? 1000);
const work = values.keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-bench-data-'));
fs.mkdirSync(work, { recursive: true });
const spec = values.model ?? 'zoo:googlenet';
const modelFile = path.join(work, 'model.onnx');
if (!fs.existsSync(modelFile)) {
  const model = spec === 'tiny' ? tiny() : spec.startsWith('zoo:') ? buildZooModel(spec.slice(4), { classes: 10 }) : loadModel(spec);
  saveModel(model, modelFile);
}
const small = path.join(work, `jpegs-${n}`);
const large = path.join(work, `jpegs-${2 * n}`);
for (const [dir, count] of [[small, n], [large, 2 * n]] as const) {
  if (fs.existsSync(dir)) continue;
  const t = performance.now();
  await jpegFolder(`${dir}.tmp`, count);
  fs.renameSync(`${dir}.tmp`, dir);
  process.stdout.write(`generated ${count} JPEGs in ${((performance.now() - t) / 1000).toFixed(0)} s -> ${dir}\n`);
}
const self = fileURLToPath(import.meta.url);
const run = (dir: string): { maxRssMiB: number; seconds: number; samples: number } => {
  const r = spawnSync(process.execPath, [...process.execArgv, self, '--child', modelFile, '--data', dir], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { maxRssMiB: number; seconds: number; samples: number };
};
process.stdout.write(`model ${spec} (3x224x224), preprocess imagenet, 2 ORT threads, default workers/prefetch; load before: ${load()}\n`);
const a = run(small);
process.stdout.write(`${a.samples} images: peak RSS ${a.maxRssMiB.toFixed(0)} MiB, ${a.seconds.toFixed(0)} s (${(a.samples / a.seconds).toFixed(1)} img/s); load ${load()}\n`);
const b = run(large);
process.stdout.write(`${b.samples} images: peak RSS ${b.maxRssMiB.toFixed(0)} MiB, ${b.seconds.toFixed(0)} s (${(b.samples / b.seconds).toFixed(1)} img/s); load ${load()}\n`);
const growth = b.maxRssMiB / a.maxRssMiB - 1;
process.stdout.write(`growth from ${n} to ${2 * n} images: ${(100 * growth).toFixed(1)}% (target < 15%); peak ${Math.max(a.maxRssMiB, b.maxRssMiB).toFixed(0)} MiB (target < 1536 MiB)\n`);
if (!values.keep) fs.rmSync(work, { recursive: true, force: true });

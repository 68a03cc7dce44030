/**
 * Fashion-MNIST (Debian's dataset-fashion-mnist, or --from DIR with the four IDX files) written as PNG
 * image folders in torchvision's ImageFolder layout: OUT/train/<label>_<class>/<index>.png and
 * OUT/test/..., grey 28x28, the IDX pixels unchanged. `rebirth eval models/googlenet-mini.onnx --data
 * OUT/test --preprocess unit` then gives the same top-1 as `--data fashion-mnist` (docs/data.md).
 *
 * usage: npx tsx scripts/export-fashion-mnist.ts OUT [--from DIR] [--limit N]
 */
import { parseArgs } from 'node:util';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadFashionMnist } from '../src/data/fashion-mnist.js';
import { writeImageFolder } from '../src/data/export.js';

const { values, positionals } = parseArgs({ options: { from: { type: 'string' }, limit: { type: 'string' } }, allowPositionals: true });
const out = positionals[0];
if (!out) {
  process.stderr.write('usage: npx tsx scripts/export-fashion-mnist.ts OUT [--from DIR] [--limit N]\n');
  process.exit(2);
}
if (fs.existsSync(out)) {
  process.stderr.write(`${out} exists; choose a new folder (nothing is overwritten)\n`);
  process.exit(1);
}
const limit = values.limit === undefined ? undefined : Number(values.limit);
fs.mkdirSync(out, { recursive: true });
for (const split of ['train', 'test'] as const) {
  const ds = loadFashionMnist({ split, ...(values.from ? { dir: values.from } : {}), ...(limit ? { limit } : {}) });
  const started = performance.now();
  await writeImageFolder(ds, path.join(out, split));
  process.stdout.write(`${split}: ${ds.count} images -> ${path.join(out, split)} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
}

/**
 * Retraining recipes for depth compression, compared on ONE plan: mobilenetv2-mini (or --model FILE) is
 * planned once on --target at --speedup, then the same linearized network is retrained from the same
 * start by each recipe and evaluated. What differs between rows is the recipe only (not the plan, which
 * bench/shrink.ts re-makes per run and which moves with the timing), so a short run answers "which recipe
 * recovers more accuracy" without the hour a full bench/shrink.ts run takes.
 *
 * A recipe is `plain|bn` (without or with a BatchNorm after every changed conv, --batch-norm) and a
 * learning rate, optionally `:anneal=N`; e.g. `plain:0.002,bn:0.002,bn:0.01,plain:0.002:anneal=4`.
 * `--items ID,...` fixes the plan instead (item ids as the output prints them, e.g. `0:3-5`): the same
 * comparison on any machine, whatever its timing would choose.
 * usage: npx tsx bench/shrink-recipes.ts [--recipes LIST] [--limit 8192] [--test-limit 2000] [--epochs 1]
 *          [--target node|wasm] [--speedup 1.4] [--items ID,...] [--model FILE] [--threads 1]
 *          --json FILE, --strict, --max-load L: the load guard (bench/harness.ts)
 */
import { parseArgs } from 'node:util';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../src/onnx/file.js';
import { loadFashionMnist } from '../src/data/fashion-mnist.js';
import { shrinkAndRetrain } from '../src/pipeline/shrink-retrain.js';
import { calibrationFromData, planShrink } from '../src/shrink/shrink.js';
import { formatTable } from '../src/util/format.js';
import { Bench, GUARD_OPTIONS } from './harness.js';

const { values } = parseArgs({
  options: {
    recipes: { type: 'string' }, limit: { type: 'string' }, 'test-limit': { type: 'string' }, epochs: { type: 'string' },
    target: { type: 'string' }, speedup: { type: 'string' }, items: { type: 'string' }, model: { type: 'string' }, threads: { type: 'string' },
    ...GUARD_OPTIONS,
  },
});
const bench = Bench.start('shrink-recipes', values);

interface Recipe { name: string; batchNorm: boolean; lr: number; anneal: number }
function parseRecipe(text: string): Recipe {
  const [kind, lr, ...rest] = text.split(':');
  if (kind !== 'plain' && kind !== 'bn') throw new Error(`--recipes: '${text}' must start with plain or bn`);
  const rate = Number(lr);
  if (!(rate > 0)) throw new Error(`--recipes: '${text}' needs a learning rate > 0 after the colon`);
  let anneal = 0;
  for (const r of rest) {
    const m = /^anneal=(\d+)$/.exec(r);
    if (!m) throw new Error(`--recipes: '${r}' in '${text}' is not anneal=N`);
    anneal = Number(m[1]);
  }
  return { name: text, batchNorm: kind === 'bn', lr: rate, anneal };
}
const recipes = (values.recipes ?? 'plain:0.002,bn:0.002,bn:0.01').split(',').map(parseRecipe);
const limit = Number(values.limit ?? 8192);
const testLimit = Number(values['test-limit'] ?? 2000);
const epochs = Number(values.epochs ?? 1);
const threads = Number(values.threads ?? 1);
const target = values.target ?? 'node';
if (target !== 'node' && target !== 'wasm') throw new Error(`--target: '${target}' is not node or wasm`);
const speedup = Number(values.speedup ?? 1.4);
const file = values.model ?? path.join(import.meta.dirname, '..', 'models', 'mobilenetv2-mini.onnx');
const load = (): string => os.loadavg().map((v) => v.toFixed(2)).join(', ');

process.stdout.write(`bench/shrink-recipes: ${path.basename(file)}, plan on ${target} at ${speedup}x; ${epochs} epoch(s) of ${limit} training images, ` +
  `${testLimit} test images, ${threads} thread(s); load average before: ${load()}\n`);
const model = loadModel(file);
const train = loadFashionMnist({ split: 'train', limit });
const test = loadFashionMnist({ split: 'test', limit: testLimit });
const calibration = await calibrationFromData(train, 512);
const timed = await planShrink(model, { target, speedup, calibration, rounds: 1, runs: 10, threads: 1, log: (m) => process.stderr.write(`  [plan] ${m}\n`) });
let planned = timed;
if (values.items) {
  const ids = values.items.split(',');
  const items = ids.map((id) => {
    const item = timed.candidates.items.find((i) => i.id === id);
    if (!item) throw new Error(`--items: no candidate '${id}'; candidates: ${timed.candidates.items.filter((i) => i.kind !== 'keep').map((i) => i.id).join(', ')}`);
    return item;
  });
  planned = { ...timed, plan: { ...timed.plan, items } };
}
const changed = planned.plan.items.filter((i) => i.kind !== 'keep');
const merges = changed.map((i) => i.label);
process.stdout.write(`plan (${values.items ? 'given by --items' : `measured ${planned.measuredSpeedup.toFixed(2)}x`}): ${changed.map((i) => `${i.label} [${i.id}]`).join('; ')}\n\n`);

const rows: Array<{ recipe: string; before: number; linearized: number; after: number; loss: number; speedup: number; seconds: number }> = [];
for (const r of recipes) {
  const t0 = performance.now();
  const out = await shrinkAndRetrain(model, {
    retrain: 'distill', planned, train, test, epochs, lr: r.lr, anneal: r.anneal, batchNorm: r.batchNorm, threads, progress: false, calibration, runs: 5,
    onEpoch: (h) => process.stderr.write(`  [${r.name}] epoch ${h.epoch}: loss ${h.loss.toFixed(4)}, test top-1 ${h.eval ? `${(100 * h.eval.top1).toFixed(2)}%` : 'n/a'}\n`),
  });
  const a = out.accuracy;
  if (!a) throw new Error('no accuracy: the bench always passes test data');
  const row = { recipe: r.name, before: a.before, linearized: a.linearized, after: a.after, loss: out.history.at(-1)?.loss ?? NaN, speedup: out.latency.speedup, seconds: (performance.now() - t0) / 1000 };
  rows.push(row);
  process.stdout.write(`${r.name}: ${(100 * a.after).toFixed(2)}%, ${out.latency.speedup.toFixed(2)}x on ${target} (teacher ${(100 * a.before).toFixed(2)}%, linearized untrained ${(100 * a.linearized).toFixed(2)}%)${out.diverged ? `; diverged: ${out.diverged}` : ''}\n`);
}
process.stdout.write(`\n${formatTable(['recipe', 'top-1 teacher', 'linearized, untrained', 'after retraining', 'change', 'last epoch loss', 'time'], rows.map((r) => [
  r.recipe, `${(100 * r.before).toFixed(2)}%`, `${(100 * r.linearized).toFixed(2)}%`, `${(100 * r.after).toFixed(2)}%`, `${(100 * (r.after - r.before)).toFixed(2)} pt`,
  r.loss.toFixed(3), `${r.seconds.toFixed(0)} s`,
]))}\n\nload average after: ${load()}\n`);
bench.finish({ target, speedup, limit, testLimit, epochs, plan: merges, items: changed.map((i) => i.id), rows });

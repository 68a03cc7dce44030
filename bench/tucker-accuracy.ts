/**
 * Fashion-MNIST top-1 of the four models of DeepRebirth's Table 3 on googlenet-mini: the trained teacher,
 * Tucker (decomposed, fine-tuned by distillation from the teacher), Merge (mergeAndRetrain: distill, init
 * inherit) and Merge + Tucker (the retrained merged model decomposed, fine-tuned by distillation from the
 * unmerged teacher, with the decomposed layers' and the merged blocks' outputs as targets).
 *
 * Decomposition keeps every layer the rank rule decomposes (measure off by default): the accuracy of
 * the full compression, whatever a backend would keep; --measure applies the per-layer latency filter.
 *
 * usage: npx tsx bench/tucker-accuracy.ts [--ranks vbmf|energy:F|fraction:F] [--epochs N] [--merge-epochs N]
 *          [--limit N] [--test-limit N] [--models tucker,merge,merge-tucker] [--merged FILE] [--out DIR]
 *          (--out, default $TMPDIR/rebirth-tucker-accuracy, receives tucker.onnx, merged.onnx (+ .targets.json,
 *          for --merged) and merge-tucker.onnx)
 *          [--measure] [--threads N]
 *          fraction:F keeps F of every conv's channels in both modes, rounded to multiples of 8: the rule the
 *          planner's Tucker family proposes (1/2 and 1/4 per block), here on every layer at once
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Model } from '../src/ir/graph.js';
import { loadModel, saveModel } from '../src/onnx/file.js';
import { loadFashionMnist } from '../src/data/fashion-mnist.js';
import { evaluate } from '../src/train/evaluate.js';
import { mergeAndRetrain } from '../src/pipeline/merge-retrain.js';
import { tuckerAndRetrain, type TuckerRetrainResult } from '../src/pipeline/tucker-retrain.js';
import type { TuckerRankRule } from '../src/decompose/tucker.js';
import { fractionRanks } from '../src/decompose/ranks.js';
import { inspectModel } from '../src/inspect/inspect.js';

const { values } = parseArgs({
  options: {
    teacher: { type: 'string', default: 'models/googlenet-mini.onnx' },
    ranks: { type: 'string', default: 'vbmf' },
    epochs: { type: 'string', default: '1' },
    'merge-epochs': { type: 'string', default: '1' },
    limit: { type: 'string', default: '0' },
    'test-limit': { type: 'string', default: '0' },
    models: { type: 'string', default: 'tucker,merge,merge-tucker' },
    merged: { type: 'string' },
    out: { type: 'string', default: path.join(os.tmpdir(), 'rebirth-tucker-accuracy') },
    measure: { type: 'boolean', default: false },
    threads: { type: 'string', default: '2' },
  },
});

// Fraction ranks depend on the model's channel counts, so the rule is resolved per decomposed model.
const rule = (m: Model): TuckerRankRule => {
  if (values.ranks === 'vbmf') return 'vbmf';
  if (values.ranks.startsWith('fraction:')) return fractionRanks(m, Number(values.ranks.slice('fraction:'.length)), 8);
  return { energy: Number(values.ranks.replace(/^energy:/, '')) };
};
const epochs = Number(values.epochs);
const threads = Number(values.threads);
const limit = Number(values.limit);
const testLimit = Number(values['test-limit']);
const which = new Set(values.models.split(','));
const train = loadFashionMnist({ split: 'train', ...(limit > 0 ? { limit } : {}) });
const test = loadFashionMnist({ split: 'test', ...(testLimit > 0 ? { limit: testLimit } : {}) });
fs.mkdirSync(values.out, { recursive: true });
const teacher = loadModel(values.teacher);
const started = performance.now();

interface Row {
  model: string;
  decomposedTop1?: number;
  top1: number;
  params: number;
  flops: number;
  note: string;
}
const rows: Row[] = [];
const size = (m: Model): { params: number; flops: number } => {
  const s = inspectModel(m);
  return { params: s.parameters, flops: s.flops };
};
const pct = (x: number | undefined): string => (x === undefined ? '-' : `${(100 * x).toFixed(2)}%`);
const decomposedNote = (r: TuckerRetrainResult): string => {
  const done = r.layers.filter((l) => l.decomposed);
  return `${done.length}/${r.layers.length} layers decomposed, logits rel. error ${r.outputError.toFixed(3)} before fine-tuning${r.diverged ? `; diverged: ${r.diverged}` : ''}`;
};

const teacherTop1 = (await evaluate(teacher, test, { threads })).top1;
rows.push({ model: 'original', top1: teacherTop1, ...size(teacher), note: values.teacher });
const common = { retrain: 'distill' as const, measure: values.measure, train, test, epochs, threads, progress: true };

if (which.has('tucker')) {
  const r = await tuckerAndRetrain(teacher, { ...common, ranks: rule(teacher) });
  saveModel(r.model, path.join(values.out, 'tucker.onnx'));
  rows.push({ model: 'Tucker', decomposedTop1: r.accuracy?.decomposed, top1: r.accuracy?.after ?? NaN, ...size(r.model), note: decomposedNote(r) });
  printRanks('Tucker', r);
}

let merged: { model: Model; targets: string[] } | undefined;
if (values.merged) {
  const m = loadModel(values.merged);
  const targets = fs.existsSync(`${values.merged}.targets.json`) ? (JSON.parse(fs.readFileSync(`${values.merged}.targets.json`, 'utf8')) as string[]) : [];
  merged = { model: m, targets };
  rows.push({ model: 'Merge', top1: (await evaluate(m, test, { threads })).top1, ...size(m), note: `loaded from ${values.merged}` });
} else if (which.has('merge') || which.has('merge-tucker')) {
  const r = await mergeAndRetrain(teacher, { mode: 'distill', init: 'inherit', merge: {}, train, test, epochs: Number(values['merge-epochs']), threads, progress: true });
  const targets = r.rebirthLayers.map((l) => l.target);
  const file = path.join(values.out, 'merged.onnx');
  saveModel(r.model, file);
  fs.writeFileSync(`${file}.targets.json`, `${JSON.stringify(targets)}\n`);
  merged = { model: r.model, targets };
  rows.push({ model: 'Merge', top1: r.accuracy.after, ...size(r.model), note: `${r.merges.map((m) => m.name).join(', ')}${r.diverged ? `; diverged: ${r.diverged}` : ''}` });
}

if (which.has('merge-tucker') && merged) {
  const r = await tuckerAndRetrain(merged.model, { ...common, ranks: rule(merged.model), teacher, targets: merged.targets });
  saveModel(r.model, path.join(values.out, 'merge-tucker.onnx'));
  rows.push({ model: 'Merge+Tucker', decomposedTop1: r.accuracy?.decomposed, top1: r.accuracy?.after ?? NaN, ...size(r.model), note: `${decomposedNote(r)}; ${r.targets.length} distillation targets` });
  printRanks('Merge+Tucker', r);
}

function printRanks(label: string, r: TuckerRetrainResult): void {
  console.log(`\n${label}: ranks (${values.ranks}) and each decomposed layer's output rel. error before fine-tuning`);
  for (const l of r.layers) {
    console.log(`  ${l.name.padEnd(32)} ${l.decomposed ? `${l.method.padEnd(7)} [${l.ranks.join(', ')}] weight err ${l.relError.toFixed(2)} output err ${(r.layerOutputError[l.name] ?? NaN).toFixed(2)}` : `left alone: ${l.reason ?? ''}`}`);
  }
}

console.log(`\ngooglenet-mini on Fashion-MNIST (${test.count} test images; train ${train.count} images, ${epochs} epoch(s) of distillation for the Tucker models, ${values.merged ? `Merge loaded from ${values.merged}` : `${values['merge-epochs']} for Merge`}; ranks ${values.ranks}${values.measure ? ', measured on node' : ''}); ${((performance.now() - started) / 1000).toFixed(0)} s`);
console.log('| model | top-1 before fine-tuning | top-1 after | vs original | params | FLOPs | notes |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.model} | ${pct(r.decomposedTop1)} | ${pct(r.top1)} | ${r.model === 'original' ? '' : `${(100 * (r.top1 - teacherTop1)).toFixed(2)} points`} | ${(r.params / 1e3).toFixed(0)}K | ${(r.flops / 1e6).toFixed(1)}M | ${r.note} |`);
}

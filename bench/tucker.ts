/**
 * Tucker-2 / SVD decomposition of BVLC GoogLeNet 224x224 batch 1: original vs decomposed (only the
 * layers measured faster on the backend are kept), on onnxruntime-node (1 thread, optimizations 'all')
 * and onnxruntime-web wasm in Node (1 thread). The two models of a backend are timed interleaved
 * (A B A B ...), and the ratio is against the original measured in the same run: of the fastest runs
 * (robust to preemption on a loaded machine, see src/decompose/measure.ts) and of the medians. Also prints the
 * end-to-end relative error of the logits (the Softmax input) WITHOUT fine-tuning, and top-1
 * agreement, over a few random inputs.
 *
 * Zoo weights are random (Xavier): their unfoldings look like i.i.d. noise, so VBMF keeps nothing
 * (rank 0) and leaves every layer alone; `energy:F` then stands in for trained-weight ranks as a
 * structural estimate of speed. A trained model is decomposed with VBMF when one exists at
 * models/googlenet-mini.onnx (or --model FILE); with Fashion-MNIST installed its test accuracy before
 * and after is printed too.
 *
 * usage: npx tsx bench/tucker.ts [--runs N] [--backend node|wasm|both] [--ranks vbmf,energy:0.5]
 *                                [--hooi N] [--model FILE] [--limit N]
 *        npx tsx bench/tucker.ts --linalg   (only: time src/linalg on GoogLeNet's largest unfoldings)
 *        npx tsx bench/tucker.ts --table3 [--runs N] [--backend node|wasm|both] [--fraction F] [--multiple M]
 *          [--layer-runs N]  (only: DeepRebirth's Table 3 columns, original / Tucker / Merge / Merge+Tucker,
 *          see src/pipeline/table3.ts; --layer-runs caps the rounds of each per-layer keep/leave decision)
 *        --skip-trained: leave out the trained model (models/googlenet-mini.onnx) in the ranks mode
 *        --json FILE, --strict, --max-load L, --max-spread S: load guard and machine-readable results (bench/harness.ts)
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Model } from '../src/ir/graph.js';
import { tensorToFloat32 } from '../src/ir/tensor.js';
import { loadModel } from '../src/onnx/file.js';
import { tuckerDecompose, type TuckerRankRule } from '../src/decompose/tucker.js';
import { timeModels } from '../src/runtime/timing.js';
import { encodeModel } from '../src/onnx/encode.js';
import { Session, type Backend, type HostTensor } from '../src/runtime/session.js';
import { buildZooModel } from '../src/zoo/index.js';
import { loadFashionMnist } from '../src/data/fashion-mnist.js';
import { Random } from '../src/util/random.js';
import { gram, transpose, type Matrix } from '../src/linalg/matrix.js';
import { symmetricEigen } from '../src/linalg/eig.js';
import { leftSpectrum } from '../src/linalg/svd.js';
import { googlenetTable3 } from '../src/pipeline/table3.js';
import { Bench, GUARD_OPTIONS } from './harness.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    backend: { type: 'string', default: 'both' },
    ranks: { type: 'string', default: 'vbmf,energy:0.5' },
    hooi: { type: 'string', default: '0' },
    model: { type: 'string', default: 'models/googlenet-mini.onnx' },
    limit: { type: 'string', default: '2000' },
    linalg: { type: 'boolean', default: false },
    table3: { type: 'boolean', default: false },
    fraction: { type: 'string', default: '0.5' },
    multiple: { type: 'string', default: '8' },
    'layer-runs': { type: 'string' },
    'skip-trained': { type: 'boolean', default: false },
    ...GUARD_OPTIONS,
  },
});
const bench = Bench.start(values.table3 ? 'tucker-table3' : values.linalg ? 'tucker-linalg' : 'tucker', values);
const runs = Number(values.runs);
const backends: Backend[] = values.backend === 'both' ? ['node', 'wasm'] : [values.backend as Backend];
const hooi = Number(values.hooi);

function parseRule(text: string): TuckerRankRule {
  if (text === 'vbmf') return 'vbmf';
  const [kind, value] = text.split(':');
  if (kind === 'energy') return { energy: Number(value) };
  if (kind === 'latency') return { latency: Number(value) };
  if (kind === 'file') return { file: value ?? '' };
  throw new Error(`--ranks: unknown rule '${text}' (vbmf, energy:F, latency:F, file:PATH)`);
}

/** The model with its Softmax input (the logits) as the only output, when the output is a Softmax. */
function logitsModel(model: Model): Model {
  const out = model.graph.outputs[0]?.name;
  const softmax = model.graph.nodes.find((n) => n.opType === 'Softmax' && n.outputs[0] === out);
  if (!softmax) return model;
  return { ...model, graph: { ...model.graph, outputs: [{ name: softmax.inputs[0] as string, docString: '' }] } };
}

async function outputsOf(model: Model, inputs: Float32Array[], dims: number[]): Promise<Float32Array[]> {
  const s = await Session.create(encodeModel(logitsModel(model)), { backend: 'node', optLevel: 'all' });
  try {
    const out: Float32Array[] = [];
    for (const x of inputs) {
      const feeds: Record<string, HostTensor> = { [s.inputNames[0] as string]: { type: 'float32', dims, data: x } };
      out.push((await s.run(feeds))[s.outputNames[0] as string]?.data as Float32Array);
    }
    return out;
  } finally {
    await s.release();
  }
}

function argmaxRows(v: Float32Array, classes: number): number[] {
  const rows: number[] = [];
  for (let r = 0; r * classes < v.length; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if ((v[r * classes + c] as number) > (v[r * classes + best] as number)) best = c;
    rows.push(best);
  }
  return rows;
}

function compare(a: Float32Array[], b: Float32Array[], classes: number): { relError: number; top1: number } {
  let d = 0, n = 0, agree = 0, total = 0;
  a.forEach((x, k) => {
    const y = b[k] as Float32Array;
    for (let i = 0; i < x.length; i++) {
      d += ((x[i] as number) - (y[i] as number)) ** 2;
      n += (x[i] as number) ** 2;
    }
    const ta = argmaxRows(x, classes), tb = argmaxRows(y, classes);
    ta.forEach((t, i) => {
      total++;
      if (t === tb[i]) agree++;
    });
  });
  return { relError: Math.sqrt(d / n), top1: agree / total };
}

interface ReportEntry {
  model: string;
  rule: string;
  backend: Backend;
  kept: number;
  layers: number;
  gflopsBefore: number;
  gflopsAfter: number;
  seconds: number;
  whole?: { originalMs: number; decomposedMs: number; speedup: number; interval: [number, number]; originalMedianMs: number; decomposedMedianMs: number };
  logitsRelError?: number;
  top1Agreement?: number;
}
const entries: ReportEntry[] = [];

async function report(label: string, model: Model, inputShape: number[], inputs: Float32Array[], classes: number, rules: TuckerRankRule[]): Promise<Array<{ model: Model; rule: string; backend: Backend }>> {
  const kept: Array<{ model: Model; rule: string; backend: Backend }> = [];
  const reference = await outputsOf(model, inputs, inputShape);
  for (const rule of rules) {
    const ruleText = typeof rule === 'string' ? rule : JSON.stringify(rule);
    for (const backend of backends) {
      const t0 = performance.now();
      const r = await tuckerDecompose(model, { ranks: rule, backend, hooi, runs: backend === 'wasm' ? Math.max(5, Math.round(runs / 2)) : runs });
      const seconds = (performance.now() - t0) / 1000;
      const done = r.layers.filter((l) => l.decomposed);
      const reasons = new Map<string, number>();
      for (const l of r.layers) {
        if (l.decomposed) continue;
        // Group reasons that differ only in numbers.
        const why = (l.reason ?? '').replace(/[\d.]+ ms/g, '# ms').replace(/\[.*?\]/g, '[..]').replace(/\(.*?FLOPs\)/g, '(..)');
        reasons.set(why, (reasons.get(why) ?? 0) + 1);
      }
      const flopsBefore = r.layers.reduce((a, l) => a + (Number.isNaN(l.flopsBefore) ? 0 : l.flopsBefore), 0);
      const flopsAfter = r.layers.reduce((a, l) => a + (Number.isNaN(l.flopsBefore) ? 0 : l.decomposed ? l.flopsAfter : l.flopsBefore), 0);
      console.log(`\n${label}, ranks ${ruleText}, ${backend}: ${done.length}/${r.layers.length} layers decomposed in ${seconds.toFixed(1)} s; tensor-layer GFLOPs ${(flopsBefore / 1e9).toFixed(2)} -> ${(flopsAfter / 1e9).toFixed(2)}`);
      for (const [why, count] of reasons) console.log(`  left alone (${count}): ${why}`);
      const entry: ReportEntry = { model: label, rule: ruleText, backend, kept: done.length, layers: r.layers.length, gflopsBefore: flopsBefore / 1e9, gflopsAfter: flopsAfter / 1e9, seconds };
      entries.push(entry);
      for (const l of done) {
        console.log(`  ${l.name.padEnd(26)} ${l.method.padEnd(7)} ranks [${l.ranks.join(', ')}]  FLOPs x${(l.flopsAfter / l.flopsBefore).toFixed(2)}  weight err ${l.relError.toFixed(3)}  ${l.latencyBefore?.toFixed(3)} -> ${l.latencyAfter?.toFixed(3)} ms`);
      }
      if (done.length === 0) continue;
      const wholeRuns = backend === 'wasm' ? Math.max(5, Math.round(runs / 2)) : runs;
      const timed = await timeModels({ original: encodeModel(model), decomposed: encodeModel(r.model) }, { backend, threads: 1, optLevel: 'all', runs: wholeRuns, warmup: 3 });
      const base = { min: timed.original?.minMs ?? NaN, median: timed.original?.medianMs ?? NaN };
      const after = { min: timed.decomposed?.minMs ?? NaN, median: timed.decomposed?.medianMs ?? NaN };
      const paired = bench.ratio(`${label} ${ruleText} ${backend}`, timed.original?.runs ?? [], timed.decomposed?.runs ?? []);
      const err = compare(reference, await outputsOf(r.model, inputs, inputShape), classes);
      Object.assign(entry, {
        whole: { originalMs: base.min, decomposedMs: after.min, speedup: paired.ratio, interval: paired.interval, originalMedianMs: base.median, decomposedMedianMs: after.median },
        logitsRelError: err.relError, top1Agreement: err.top1,
      });
      console.log(`  whole model on ${backend} (1 thread, 'all', ${wholeRuns} interleaved runs): original ${base.min.toFixed(1)} ms, decomposed ${after.min.toFixed(1)} ms (fastest run); medians ${base.median.toFixed(1)} / ${after.median.toFixed(1)} ms; paired speed-up ${paired.ratio.toFixed(2)}x (95% interval ${paired.interval[0].toFixed(2)}-${paired.interval[1].toFixed(2)})`);
      console.log(`  logits relative error (no fine-tuning) ${err.relError.toFixed(3)}, top-1 agreement ${(100 * err.top1).toFixed(1)}% over ${inputs.length} input(s)`);
      kept.push({ model: r.model, rule: ruleText, backend });
    }
  }
  return kept;
}

/**
 * Times the linear algebra Tucker needs on GoogLeNet's real weight shapes: Gram matrix, eigenvalues
 * only (what VBMF/energy rank selection needs), full eigendecomposition, and leftSpectrum + leading
 * vectors (what tuckerDecompose calls per mode). Median of 3.
 */
function linalgTimes(): void {
  const model = buildZooModel('googlenet', { batch: 1 });
  const unfoldings: Array<[string, string, (w: Matrix) => Matrix]> = [
    ['inception_5b/3x3', 'mode-0 384x1728', (w) => w],
    ['inception_5b/3x3', 'mode-1 192x3456', (w) => modeOne(w, 384, 192, 9)],
    ['conv2/3x3', 'mode-0 192x576', (w) => w],
    ['inception_5b/1x1', 'matrix 384x832', (w) => w],
    ['loss3/classifier', 'matrix 1000x1024', (w) => w],
  ];
  const median3 = (f: () => void): number => {
    const t: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      f();
      t.push(performance.now() - t0);
    }
    return t.sort((a, b) => a - b)[1] as number;
  };
  console.log('src/linalg on GoogLeNet unfoldings (ms, median of 3): gram | eigenvalues only | full eig | leftSpectrum + 1/4 of the vectors');
  for (const [layer, label, unfold] of unfoldings) {
    const t = model.graph.initializers.get(`${layer}_w`);
    if (!t) throw new Error(`no weight ${layer}_w`);
    const rows = t.dims[0] as number;
    const data = Float64Array.from(tensorToFloat32(t));
    const w = unfold({ rows, cols: data.length / rows, data });
    const a = w.rows <= w.cols ? w : transpose(w);
    const g = gram(a);
    const tg = median3(() => gram(a));
    const tv = median3(() => symmetricEigen(g, { vectors: false }));
    const tf = median3(() => symmetricEigen(g));
    const ts = median3(() => leftSpectrum(w).leading(Math.ceil(w.rows / 4)));
    console.log(`  ${layer.padEnd(18)} ${label.padEnd(17)} ${tg.toFixed(0).padStart(6)} ${tv.toFixed(0).padStart(6)} ${tf.toFixed(0).padStart(6)} ${ts.toFixed(0).padStart(6)}`);
  }
}

function modeOne(w: Matrix, cout: number, cin: number, ks: number): Matrix {
  const out = new Float64Array(w.data.length);
  for (let o = 0; o < cout; o++) for (let i = 0; i < cin; i++) out.set(w.data.subarray((o * cin + i) * ks, (o * cin + i + 1) * ks), (i * cout + o) * ks);
  return { rows: cin, cols: cout * ks, data: out };
}

if (values.linalg) {
  linalgTimes();
  bench.finish({ linalg: 'printed only' });
  process.exit(0);
}

if (values.table3) {
  const t0 = performance.now();
  const fraction = Number(values.fraction);
  const multiple = Number(values.multiple);
  const layerRuns = values['layer-runs'] === undefined ? undefined : Number(values['layer-runs']);
  const table = await googlenetTable3({ runs, backends, fraction, multiple, ...(layerRuns !== undefined ? { layerRuns } : {}), onProgress: (m) => console.error(m) });
  const seconds = (performance.now() - t0) / 1000;
  console.log(`BVLC GoogLeNet 224x224, batch 1, 1 thread, ORT 'all'; median ms of interleaved runs (${runs} node / ${Math.max(5, runs)} wasm); ` +
    `Tucker ranks: ${fraction} of each conv's channels rounded to a multiple of ${multiple}, kept where measured faster on the backend; ${seconds.toFixed(0)} s`);
  console.log('| backend | original | Tucker | Merge | Merge+Tucker | layers kept (Tucker / Merge+Tucker) | GFLOPs (original / Tucker / Merge / Merge+Tucker) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const b of backends) {
    const r = table[b];
    if (!r) continue;
    const cell = (ms: number): string => `${ms.toFixed(1)} ms (${(r.original / ms).toFixed(2)}x)`;
    console.log(`| ${b} | ${r.original.toFixed(1)} ms | ${cell(r.tucker)} | ${cell(r.merged)} | ${cell(r.mergedTucker)} | ` +
      `${r.tuckerLayers.kept}/${r.tuckerLayers.candidates} / ${r.mergedTuckerLayers.kept}/${r.mergedTuckerLayers.candidates} | ` +
      `${[r.flops.original, r.flops.tucker, r.flops.merged, r.flops.mergedTucker].map((f) => (f / 1e9).toFixed(2)).join(' / ')} |`);
  }
  const results: Record<string, unknown> = {};
  for (const b of backends) {
    const r = table[b];
    if (!r) continue;
    const speedups: Record<string, { ratio: number; interval: [number, number] }> = {};
    for (const k of ['tucker', 'merged', 'mergedTucker'] as const) {
      const p = bench.ratio(`${b} ${k}`, r.stats?.original.runs ?? [], r.stats?.[k].runs ?? []);
      speedups[k] = { ratio: p.ratio, interval: p.interval };
    }
    const { stats: _stats, ...row } = r;
    results[b] = { ...row, speedups };
  }
  bench.finish({ runs, fraction, multiple, layerRuns: layerRuns ?? null, seconds, backends: results });
  process.exit(0);
}

const rules = values.ranks.split(',').map(parseRule);

// Random-weight GoogLeNet: latency is weight-independent, the error is not meaningful for accuracy.
const googlenet = buildZooModel('googlenet', { batch: 1 });
const rng = new Random(3);
const images = Array.from({ length: 4 }, () => Float32Array.from({ length: 3 * 224 * 224 }, () => rng.nextFloat() * 2 - 1));
await report('googlenet (random weights)', googlenet, [1, 3, 224, 224], images, 1000, rules);

// A trained model, if there is one.
if (values['skip-trained']) {
  console.log('\ntrained model left out (--skip-trained)');
} else if (existsSync(values.model)) {
  const trained = loadModel(values.model);
  const shape = trained.graph.inputs[0]?.shape?.map((d) => (typeof d === 'number' ? d : 1)) ?? [1, 1, 28, 28];
  let inputs: Float32Array[];
  let labels: Int32Array | undefined;
  const classes = 10;
  const data = existsSync('/usr/share/datasets/fashion-mnist') ? loadFashionMnist({ split: 'test', limit: Number(values.limit) }) : undefined;
  const per = shape.slice(1).reduce((a, b) => a * b, 1);
  if (data) {
    inputs = Array.from({ length: data.count }, (_, i) => data.images.slice(i * per, (i + 1) * per));
    labels = data.labels;
  } else {
    inputs = images.map((x) => x.slice(0, per));
  }
  const dims = [1, ...shape.slice(1)];
  const vbmfRules: TuckerRankRule[] = ['vbmf', ...rules.filter((r) => r !== 'vbmf')];
  const kept = await report(`${values.model} (trained)`, trained, dims, inputs, classes, vbmfRules);
  if (labels) {
    const accuracy = (outs: Float32Array[]): number => outs.filter((o, i) => argmaxRows(o, classes)[0] === labels[i]).length / outs.length;
    console.log(`\n${values.model}: Fashion-MNIST test accuracy over ${inputs.length} images (no fine-tuning)`);
    console.log(`  original ${(100 * accuracy(await outputsOf(trained, inputs, dims))).toFixed(2)}%`);
    for (const k of kept) console.log(`  ranks ${k.rule} (${k.backend}) ${(100 * accuracy(await outputsOf(k.model, inputs, dims))).toFixed(2)}%`);
  }
} else {
  console.log(`\nno trained model at ${values.model}: VBMF ranks on trained weights not reported`);
}
bench.finish({ runs, backends, rules: values.ranks.split(','), entries });

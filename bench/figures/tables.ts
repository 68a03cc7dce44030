/**
 * Every generated table of README.md and docs/: which benchmark run produces it (a job: one or more
 * commands that write `--json` records, bench/harness.ts), and how a record becomes Markdown. A job's
 * commands run once for all of its tables. The shapes below mirror what each bench writes in
 * `results`; a record missing a field fails the render with the field's name rather than printing NaN.
 */
import type { BenchRecord } from '../harness.js';
import { DEMO_EPOCHS } from '../../src/pipeline/demo.js';
import { markdownTable } from './markers.js';

export interface FigureCommand {
  /** The script (relative to the repository root) and its arguments, as a person would type them after `npx tsx`. */
  script: string;
  args: string[];
  /** Arguments for `--quick`, a smoke run of the machinery (seconds to minutes, figures meaningless). */
  quick: string[];
  /** Where the JSON record comes from: the bench's `--json FILE`, or the last stdout line (CLI `--json`). */
  output: 'json-file' | 'stdout';
}

export interface FigureTable {
  id: string;
  /** Markdown file (repository-relative) holding the block. */
  file: string;
  render: (records: ReadonlyArray<BenchRecord<unknown>>) => string;
}

export interface FigureJob {
  id: string;
  what: string;
  /** Rough duration of the full run on a quiet 2-core machine. */
  minutes: number;
  commands: FigureCommand[];
  tables: FigureTable[];
}

// --- field access that names what is missing ------------------------------------------------------

function at(value: unknown, path: string): unknown {
  let v = value;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object' || !(key in v)) throw new Error(`bench record lacks '${path}'`);
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

function num(value: unknown, path: string): number {
  const v = at(value, path);
  if (typeof v !== 'number') throw new Error(`bench record field '${path}' is not a number`);
  return v;
}

/** A number field that older records lack or record as null: `fallback` then. */
function numOr(value: unknown, key: string, fallback: number): number {
  const v = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return typeof v === 'number' ? v : fallback;
}

/** How the demo record's epoch was chosen: older records (before the validation split) lack the field. */
function validationNote(summary: unknown): string {
  const n = numOr(at(summary, 'accuracy'), 'validation', 0);
  return n > 0 ? `, the epoch chosen on ${n.toLocaleString('en-US')} training images held out` : ', the best epoch on the test set';
}

function list(value: unknown, path: string): unknown[] {
  const v = at(value, path);
  if (!Array.isArray(v)) throw new Error(`bench record field '${path}' is not a list`);
  return v as unknown[];
}

function str(value: unknown, path: string): string {
  const v = at(value, path);
  if (typeof v !== 'string') throw new Error(`bench record field '${path}' is not a string`);
  return v;
}

function record(records: ReadonlyArray<BenchRecord<unknown>>, i: number): unknown {
  const r = records[i];
  if (!r) throw new Error(`job produced ${records.length} record(s), the table needs #${i + 1}`);
  return r.results;
}

const ms = (v: number, digits = 1): string => `${v.toFixed(digits)} ms`;
const x = (v: number): string => `${v.toFixed(2)}x`;
const pct = (v: number, digits = 1): string => `${(100 * v).toFixed(digits)}%`;
const withInterval = (ratio: number, interval: unknown): string => {
  const [lo, hi] = Array.isArray(interval) ? (interval as number[]) : [NaN, NaN];
  return Number.isFinite(lo) && Number.isFinite(hi) ? `${x(ratio)} [${(lo as number).toFixed(2)}-${(hi as number).toFixed(2)}]` : x(ratio);
};

// --- the paper's own figures (DeepRebirth, Table 3), printed next to ours ---------------------------

const PAPER_S5 = ['paper, Galaxy S5 (Caffe)', '651.4 ms', '614.9 ms (1.06x)', '210.6 ms (3.09x)', '106.3 ms (6.13x)'];
const PAPER_MACBOOK = ['paper, MacBook Pro CPU (Caffe)', '91.77 ms', '78.22 ms (1.17x)', '23.69 ms (3.87x)', '15.18 ms (6.05x)'];

// --- renderers ------------------------------------------------------------------------------------

/** The value after `flag` in a record's command line, if given. */
function argOf(rec: BenchRecord<unknown> | undefined, flag: string): string | undefined {
  const i = rec?.argv.indexOf(flag) ?? -1;
  return i >= 0 ? rec?.argv[i + 1] : undefined;
}

function renderDemo(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const s = record(records, 0);
  const epochs = argOf(records[0], '--epochs');
  const merges = list(s, 'merges').map(String);
  const row = (b: 'node' | 'wasm', label: string): string[] => [
    label, ms(num(s, `latencyMs.${b}.before`), 3),
    `${ms(num(s, `latencyMs.${b}.after`), 3)} (**${x(num(s, `latencyMs.${b}.speedup`))}**)`,
  ];
  return markdownTable(['', 'teacher (googlenet-mini)', `merged (${merges.join(', ')})`], [
    ['Fashion-MNIST test top-1', pct(num(s, 'accuracy.teacher'), 2), `**${pct(num(s, 'accuracy.merged'), 2)}** after ${epochs ?? DEMO_EPOCHS} epochs of distillation${epochs ? '' : ' (the demo default)'}${validationNote(s)}`],
    row('node', 'latency, onnxruntime-node, 1 thread'),
    row('wasm', 'latency, onnxruntime-web WASM, 1 thread'),
    ['non-tensor share of kernel time, node / WASM', `${pct(num(s, 'nonTensorShare.node'), 0)} / ${pct(num(s, 'nonTensorShare.wasm'), 0)}`, ''],
    ['end to end', `${num(s, 'seconds').toFixed(0)} s`, ''],
  ]);
}

function table3Cells(r: unknown, b: string): string[] {
  const cell = (k: string): string => `${ms(num(r, `backends.${b}.${k}`))} (${x(num(r, `backends.${b}.speedups.${k}.ratio`))})`;
  return [ms(num(r, `backends.${b}.original`)), cell('tucker'), cell('merged'), cell('mergedTucker')];
}

function renderReadmeTable3(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const r = record(records, 0);
  const rows: string[][] = [];
  for (const [b, label] of [['node', 'onnxruntime-node'], ['wasm', 'onnxruntime-web WASM']] as const) {
    if (at(r, 'backends') && (at(r, 'backends') as Record<string, unknown>)[b]) rows.push([label, ...table3Cells(r, b)]);
  }
  rows.push(PAPER_S5);
  return markdownTable(['', 'GoogLeNet', 'Tucker', 'Merge', 'Merge + Tucker'], rows);
}

function renderTuckerTable3(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const r = record(records, 0);
  const rows: string[][] = [];
  for (const b of ['node', 'wasm']) {
    if (!(at(r, 'backends') as Record<string, unknown>)[b]) continue;
    const kept = (k: string): string => `${num(r, `backends.${b}.${k}.kept`)}/${num(r, `backends.${b}.${k}.candidates`)}`;
    const cell = (k: string): string => `${ms(num(r, `backends.${b}.${k}`))} (${withInterval(num(r, `backends.${b}.speedups.${k}.ratio`), at(r, `backends.${b}.speedups.${k}.interval`))})`;
    rows.push([
      b, ms(num(r, `backends.${b}.original`)), cell('tucker'), cell('merged'), cell('mergedTucker'),
      `${kept('tuckerLayers')}, ${kept('mergedTuckerLayers')}`,
      ['original', 'tucker', 'merged', 'mergedTucker'].map((k) => (num(r, `backends.${b}.flops.${k}`) / 1e9).toFixed(2)).join(' / '),
    ]);
  }
  rows.push([...PAPER_S5, '', ''], [...PAPER_MACBOOK, '', '']);
  return markdownTable(['backend', 'original', 'Tucker [95% interval]', 'Merge [95% interval]', 'Merge + Tucker [95% interval]', 'layers kept (Tucker, M+T)', 'GFLOPs (orig / Tucker / Merge / M+T)'], rows);
}

/** Which of the issue's targets a planned model is held to (GoogLeNet 224, batch 1, 1 thread). */
const PLAN_TARGETS: Record<string, Record<string, number>> = { node: { merge: 3.1, 'merge+tucker': 6 }, wasm: { merge: 2.0 } };

function renderPlan(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const r = record(records, 0);
  const results = at(r, 'results') as Record<string, unknown>;
  const label: Record<string, string> = { original: 'original', merge: 'merge plan (`--target T`)', 'merge+tucker': 'Merge + Tucker plan (ranks 1/2 or 1/4 per block)' };
  const rows: string[][] = [];
  for (const target of Object.keys(results)) {
    const models = at(results, `${target}.models`) as Record<string, unknown>;
    for (const name of Object.keys(models)) {
      const m = `${target}.models.${name}`;
      const ratio = (clock: string): string => (name === 'original' ? '1' : withInterval(num(results, `${m}.${clock}.ratio`), at(results, `${m}.${clock}.interval`)));
      const goal = PLAN_TARGETS[target]?.[name];
      const wall = name === 'original' ? NaN : num(results, `${m}.wall.ratio`);
      rows.push([
        target, label[name] ?? name, num(results, `${m}.gflops`).toFixed(2), ms(num(results, `${m}.medianMs`)), ratio('wall'), ratio('cpu'),
        goal === undefined ? '' : `>= ${goal}x: ${wall >= goal ? 'met' : 'missed'}`,
      ]);
    }
  }
  return markdownTable(['target', 'model', 'GFLOPs', 'median ms', 'speed-up, paired wall [95%]', 'speed-up, CPU time [95%]', "issue's target"], rows);
}

/** Depth compression retrained (bench/shrink.ts): every row the record holds, with the issue's target. */
function renderShrink(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const rows: string[][] = [];
  for (const rec of records) {
    const r = rec.results;
    for (const row of list(r, 'rows')) {
      const before = num(row, 'before');
      const after = num(row, 'after');
      const speedup = num(row, 'speedup');
      const model = str(row, 'model');
      const goal = model.startsWith('mobilenet') ? 1.4 : 1.3;
      const loss = 100 * (before - after);
      rows.push([
        model, str(row, 'target'), str(row, 'variant'), shrinkRecipe(r), x(num(row, 'wanted')), `**${x(speedup)}**`, x(num(row, 'other')),
        pct(before, 2), pct(num(row, 'linearized'), 2), `**${pct(after, 2)}**`, `${(-loss).toFixed(2)} pt`,
        `>= ${goal}x at <= 1.0 pt: ${speedup >= goal && loss <= 1 ? 'met' : 'missed'}`,
      ]);
    }
  }
  return markdownTable(['model', 'target', 'blocks', 'epochs (lr)', 'wanted', 'speed-up on target', 'on the other backend', 'top-1 teacher', 'linearized, untrained', 'after retraining', 'change', "issue's target"], rows);
}

/**
 * Epochs and learning rate of a shrink record; records from before `--lr` existed used the default, 0.002,
 * and those from before `--batch-norm` trained without.
 */
function shrinkRecipe(results: unknown): string {
  const lr = numOr(results, 'lr', 0.002);
  const anneal = numOr(results, 'anneal', 0);
  const batchNorm = results !== null && typeof results === 'object' && (results as Record<string, unknown>)['batchNorm'] === true;
  return `${num(results, 'epochs')} (${lr}${anneal > 0 ? `, anneal ${anneal}` : ''}${batchNorm ? ', BN' : ''})`;
}

/** MobileNetV2 224 plans (bench/shrink.ts --parts 224): time to a plan per target. */
function renderShrink224(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const rows: string[][] = [];
  for (const rec of records) {
    for (const b of list(rec.results, 'mobilenetv2_224')) {
      const seconds = num(b, 'seconds');
      rows.push([str(b, 'target'), ms(num(b, 'wholeMs'), 2), String(num(b, 'items')), `${seconds.toFixed(1)} s (${seconds < 120 ? 'under' : 'over'} 2 minutes)`, x(num(b, 'measured')), list(b, 'merges').map(String).join('; ')]);
    }
  }
  return markdownTable(['target', 'whole network', 'candidates', 'candidates, importance, latency table and plan', 'plan, measured', 'merges chosen'], rows);
}

const MERGE_VARIANTS = ['original', 'streamline', 'streamline+branch'] as const;

/** Whether a merge-latency record timed `backend` (a quick run times node only). */
function hasBackend(r: unknown, backend: string): boolean {
  const b = at(r, 'backends');
  return typeof b === 'object' && b !== null && backend in b;
}

function renderMerge(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const r = record(records, 0);
  const label: Record<string, string> = { original: 'GoogLeNet', streamline: 'streamline (conv1, conv2)', 'streamline+branch': 'streamline + branch (9 modules)' };
  return markdownTable(['model', 'GFLOPs', 'params', 'onnxruntime-node', 'speed-up [95% interval]', 'wasm (onnxruntime-web)', 'speed-up [95% interval]'], MERGE_VARIANTS.map((v) => [
    label[v] as string, (num(r, `models.${v}.flops`) / 1e9).toFixed(2), `${(num(r, `models.${v}.params`) / 1e6).toFixed(2)} M`,
    ...['node', 'wasm'].flatMap((b) => (hasBackend(r, b) ? [
      ms(num(r, `backends.${b}.variants.${v}.medianMs`)),
      withInterval(num(r, `backends.${b}.variants.${v}.gain`), at(r, `backends.${b}.variants.${v}.gainInterval`)),
    ] : ['-', '-'])),
  ]));
}

function renderMergeVariants(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const labels = ['default: cover kernels, `reducerRatio` 0.5', 'no reducer thinning (`reducerRatio` 1)', 'keep the conv kernels (`kernel: \'keep\'`)', '`layout: \'carry\'`'];
  return markdownTable(['variant', 'GFLOPs (all merged)', 'node streamline / +branch', 'wasm streamline / +branch'], labels.map((l, i) => {
    const r = record(records, i);
    return [l, (num(r, 'models.streamline+branch.flops') / 1e9).toFixed(2),
      ...['node', 'wasm'].map((b) => (hasBackend(r, b) ? `${x(num(r, `backends.${b}.variants.streamline.gain`))} / ${x(num(r, `backends.${b}.variants.streamline+branch.gain`))}` : '-'))];
  }));
}

function renderOptimize(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const r = record(records, 0);
  const variants = ['ort basic', 'ort all', 'rebirth', 'rebirth + ort all'];
  return markdownTable(['model', 'nodes', 'rebirth nodes', 'ORT basic nodes', 'ORT all nodes', 'ORT basic', 'ORT all', 'rebirth (ORT off)', 'rebirth + ORT all', 'rules fired'],
    list(r, 'models').map((m) => [
      str(m, 'model'), String(num(m, 'nodes')), String(num(m, 'rebirthNodes')), String(num(m, 'ortBasicNodes')), String(num(m, 'ortAllNodes')),
      ...variants.map((v) => {
        const cell = (at(m, 'variants') as Record<string, unknown>)[v];
        return `${ms(num(cell, 'medianMs'))} (${x(num(cell, 'speedup'))})`;
      }),
      Object.entries(at(m, 'rulesFired') as Record<string, number>).map(([k, n]) => `${k} ${n}`).join(', ') || '-',
    ]));
}

function renderTable1(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const r = record(records, 0);
  return markdownTable(['network', 'node disabled', 'node all', 'wasm disabled', 'wasm all', 'paper x86', 'paper ARM', 'paper Titan X'], list(r, 'models').map((m) => [
    str(m, 'model'),
    ...list(m, 'configs').map((c) => `${pct(num(c, 'nonTensorShare'))} (${num(c, 'medianMs').toFixed(0)} ms)`),
    ...(['x86', 'arm', 'titan'] as const).map((k) => {
      const paper = at(m, 'paper') as Record<string, string> | undefined;
      return paper?.[k] ?? '';
    }),
  ]));
}

function renderCodec(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const r = record(records, 0);
  const size = num(r, 'fileBytes');
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
  return markdownTable(['operation', 'time', 'peak RSS', 'peak / file size'], [
    ['rebirth load + save', ms(num(r, 'rebirth.ms'), 0), mib(num(r, 'rebirth.peakBytes')), (num(r, 'rebirth.peakBytes') / size).toFixed(2)],
    ['onnxruntime-node creating a session from the same file', ms(num(r, 'ort.ms'), 0), mib(num(r, 'ort.peakBytes')), (num(r, 'ort.peakBytes') / size).toFixed(2)],
    ['ratio rebirth / ORT', x(num(r, 'timeRatio')), x(num(r, 'memoryRatio')), ''],
  ]);
}

function renderTraining(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const r = record(records, 0);
  const torch = list(r, 'torch');
  const faster = str(r, 'fasterTorch');
  return markdownTable(['trainer', 'images/s', 'ms/step'], [
    [`rebirth (ORT node, generated training graph${replicaNote(r)})`, num(r, 'rebirth.imagesPerSecond').toFixed(0), num(r, 'rebirth.msPerStep').toFixed(1)],
    ...torch.map((t) => [`PyTorch ${str(t, 'torch')}, nn layers (\`bench/torch_train.py\`), ${str(t, 'config')}${str(t, 'config') === faster ? ' (the fastest)' : ''}`,
      num(t, 'imagesPerSecond').toFixed(0), num(t, 'msPerStep').toFixed(1)]),
    [`**ratio rebirth / PyTorch (the fastest) [95% interval]**`, `**${withInterval(num(r, 'ratio'), at(r, 'interval'))}**`, ''],
  ]);
}

/** Records before data-parallel training have no `replicas`: one session. */
function replicaNote(r: unknown): string {
  const k = numOr(r, 'replicas', 1);
  return k > 1 ? `, ${k} data-parallel replicas` : '';
}

function renderReadmeTraining(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const r = record(records, 0);
  const faster = list(r, 'torch').find((t) => str(t, 'config') === str(r, 'fasterTorch'));
  return markdownTable(['googlenet-mini, batch 64, 2 threads', 'rebirth (ORT node)', 'PyTorch, nn layers (the fastest configuration)', 'ratio'], [[
    'training images/s', num(r, 'rebirth.imagesPerSecond').toFixed(0), faster ? num(faster, 'imagesPerSecond').toFixed(0) : '', `**${x(num(r, 'ratio'))}**`,
  ]]);
}

function renderTrainingKernels(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const r = record(records, 0);
  return markdownTable(['ORT kernel op (training graph)', 'ms/step', 'share of kernel time'], list(r, 'kernels').slice(0, 10).map((k) => [
    str(k, 'op'), num(k, 'ms').toFixed(1), pct(num(k, 'share')),
  ]));
}

function renderAA(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const r = record(records, 0);
  return markdownTable(['model', 'condition', 'rule', 'false accepts', 'rate (95% interval)', 'ms per decision', 'rounds'], list(r, 'rows').map((row) => {
    const [lo, hi] = list(row, 'rateInterval') as number[];
    const rounds = at(row, 'meanRounds');
    return [
      str(row, 'model'), str(row, 'condition') === 'loaded' ? 'busy loop on the other core' : 'idle',
      str(row, 'rule') === 'new' ? '`decideFaster`' : 'old: one timing, keep if >= 3% faster',
      `${num(row, 'falseAccepts')}/${num(row, 'trials')}`, `${pct(num(row, 'rate'))} (${pct(lo ?? NaN)}-${pct(hi ?? NaN)})`,
      num(row, 'meanMs').toFixed(0), typeof rounds === 'number' ? rounds.toFixed(1) : '',
    ];
  }));
}

function renderTuckerEnergy(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const r = record(records, 0);
  const entries = list(r, 'entries');
  const rules = [...new Set(entries.map((e) => str(e, 'rule')))];
  // bench/tucker.ts labels rules as JSON ({"energy":0.5}); the table says "energy 0.5".
  const label = (rule: string): string => rule.replace(/^\{"(\w+)":([\d.]+)\}$/, '$1 $2');
  return markdownTable(['GoogLeNet, random weights', 'layers kept (node / wasm)', 'tensor GFLOPs (node / wasm)', 'node: orig -> decomposed', 'wasm: orig -> decomposed', 'logits rel. error (node / wasm)'], rules.map((rule) => {
    const of = (b: string): unknown => entries.find((e) => str(e, 'rule') === rule && str(e, 'backend') === b);
    const kept = (b: string): string => (of(b) ? `${num(of(b), 'kept')}/${num(of(b), 'layers')}` : '-');
    const whole = (b: string): string => {
      const e = of(b);
      if (!e || !(e as Record<string, unknown>).whole) return '-';
      return `${num(e, 'whole.originalMedianMs').toFixed(1)} -> ${num(e, 'whole.decomposedMedianMs').toFixed(1)} ms, ${withInterval(num(e, 'whole.speedup'), at(e, 'whole.interval'))}`;
    };
    const err = (b: string): string => {
      const e = of(b) as Record<string, unknown> | undefined;
      return typeof e?.logitsRelError === 'number' ? e.logitsRelError.toFixed(2) : '0';
    };
    const gf = (b: string): string => (of(b) ? num(of(b), 'gflopsAfter').toFixed(2) : '-');
    return [label(rule), `${kept('node')} / ${kept('wasm')}`, `${gf('node')} / ${gf('wasm')}`, whole('node'), whole('wasm'), `${err('node')} / ${err('wasm')}`];
  }));
}

function renderDecidePower(records: ReadonlyArray<BenchRecord<unknown>>): string {
  const r = record(records, 0);
  const gains = list(r, 'gains').map(Number);
  return markdownTable(['run noise', ...gains.map((g) => (g === 0 ? 'A/A (no gain)' : `${100 * g}% gain`))], list(r, 'rows').map((row) => [
    str(row, 'noise'), ...list(row, 'cells').map((c) => `${pct(num(c, 'keepRate'))} kept (${num(c, 'meanRounds').toFixed(0)} rounds)`),
  ]));
}

// --- the jobs --------------------------------------------------------------------------------------

export const JOBS: readonly FigureJob[] = [
  {
    id: 'demo', what: '`rebirth demo`: merge + retrain googlenet-mini, accuracy and latency on node and WASM', minutes: 12,
    commands: [{ script: 'src/cli/bin.ts', args: ['demo', '--no-googlenet', '--json'], quick: ['demo', '--no-googlenet', '--json', '--epochs', '0.02', '--limit', '512', '--runs', '3'], output: 'stdout' }],
    tables: [{ id: 'readme-demo', file: 'README.md', render: renderDemo }],
  },
  {
    id: 'table3', what: 'DeepRebirth Table 3 on BVLC GoogLeNet 224: original, Tucker, Merge, Merge + Tucker, node and WASM', minutes: 8,
    commands: [{ script: 'bench/tucker.ts', args: ['--table3', '--runs', '20', '--backend', 'both'], quick: ['--table3', '--runs', '3', '--backend', 'node', '--layer-runs', '3'], output: 'json-file' }],
    tables: [{ id: 'readme-table3', file: 'README.md', render: renderReadmeTable3 }, { id: 'tucker-table3', file: 'docs/tucker.md', render: renderTuckerTable3 }],
  },
  {
    id: 'training', what: 'training throughput of googlenet-mini vs PyTorch built from nn layers', minutes: 9,
    commands: [{ script: 'bench/train-throughput.ts', args: ['--steps', '15', '--rounds', '12'], quick: ['--steps', '3', '--warmup', '1', '--skip-profile', '--allocators', 'glibc'], output: 'json-file' }],
    tables: [
      { id: 'readme-training', file: 'README.md', render: renderReadmeTraining },
      { id: 'training-throughput', file: 'docs/training.md', render: renderTraining },
      { id: 'training-kernels', file: 'docs/training.md', render: renderTrainingKernels },
    ],
  },
  {
    id: 'merge-latency', what: 'DeepRebirth merges of GoogLeNet 224 and their variants, node and WASM', minutes: 12,
    commands: [
      { script: 'bench/merge-latency.ts', args: ['--runs', '30'], quick: ['--runs', '3', '--backend', 'node'], output: 'json-file' },
      { script: 'bench/merge-latency.ts', args: ['--runs', '30', '--reducer-ratio', '1'], quick: ['--runs', '3', '--backend', 'node', '--reducer-ratio', '1'], output: 'json-file' },
      { script: 'bench/merge-latency.ts', args: ['--runs', '30', '--kernel', 'keep'], quick: ['--runs', '3', '--backend', 'node', '--kernel', 'keep'], output: 'json-file' },
      { script: 'bench/merge-latency.ts', args: ['--runs', '30', '--layout', 'carry'], quick: ['--runs', '3', '--backend', 'node', '--layout', 'carry'], output: 'json-file' },
    ],
    tables: [{ id: 'deeprebirth-merge', file: 'docs/deeprebirth.md', render: renderMerge }, { id: 'deeprebirth-variants', file: 'docs/deeprebirth.md', render: renderMergeVariants }],
  },
  {
    id: 'plan', what: 'runtime-aware plans of GoogLeNet 224 per target: merge, Merge + Tucker, node and WASM', minutes: 20,
    commands: [{ script: 'bench/plan.ts', args: ['--targets', 'node,wasm', '--runs', '30'], quick: ['--targets', 'node', '--runs', '3', '--no-tucker'], output: 'json-file' }],
    tables: [{ id: 'planner-speedups', file: 'docs/planner.md', render: renderPlan }],
  },
  {
    id: 'shrink', what: 'depth compression: mobilenetv2-mini (node, WASM) and resnet-mini retrained 8 epochs, MobileNetV2 224 plans', minutes: 200,
    commands: [{ script: 'bench/shrink.ts', args: ['--parts', 'mobilenet,resnet,224', '--epochs', '8'], quick: ['--quick', '--parts', '224', '--runs', '3'], output: 'json-file' }],
    tables: [{ id: 'shrink-retrained', file: 'docs/shrink.md', render: renderShrink }, { id: 'shrink-224', file: 'docs/shrink.md', render: renderShrink224 }],
  },
  {
    id: 'optimize', what: "rebirth's exact optimizer next to ORT's graph optimizer on zoo models", minutes: 4,
    commands: [{ script: 'bench/optimize.ts', args: ['--runs', '20'], quick: ['--runs', '3', '--models', 'googlenet-mini'], output: 'json-file' }],
    tables: [{ id: 'rewrite-optimize', file: 'docs/rewrite.md', render: renderOptimize }],
  },
  {
    id: 'table1', what: 'DeepRebirth Table 1: non-tensor share of kernel time on ORT', minutes: 6,
    commands: [{ script: 'bench/table1.ts', args: ['--runs', '5'], quick: ['--runs', '2', '--models', 'alexnet'], output: 'json-file' }],
    tables: [{ id: 'table1', file: 'docs/table1.md', render: renderTable1 }],
  },
  {
    id: 'codec', what: 'load + save of resnet152 vs an ORT session, time and peak memory', minutes: 2,
    commands: [{ script: 'bench/codec.ts', args: [], quick: ['--zoo', 'googlenet-mini', '--repeats', '1'], output: 'json-file' }],
    tables: [{ id: 'codec-resnet152', file: 'docs/codec.md', render: renderCodec }],
  },
  {
    id: 'tucker-energy', what: 'Tucker with energy ranks on random-weight GoogLeNet, no fine-tuning, node and WASM', minutes: 10,
    commands: [{ script: 'bench/tucker.ts', args: ['--backend', 'both', '--runs', '20', '--ranks', 'vbmf,energy:0.9,energy:0.5', '--skip-trained'], quick: ['--backend', 'node', '--runs', '3', '--ranks', 'energy:0.5', '--skip-trained'], output: 'json-file' }],
    tables: [{ id: 'tucker-energy', file: 'docs/tucker.md', render: renderTuckerEnergy }],
  },
  {
    id: 'decide-power', what: 'what the decision rule keeps by true gain and run noise, on seeded synthetic rounds', minutes: 2,
    commands: [{ script: 'bench/decide-power.ts', args: ['--trials', '300'], quick: ['--trials', '10'], output: 'json-file' }],
    tables: [{ id: 'decide-power', file: 'docs/figures.md', render: renderDecidePower }],
  },
  {
    id: 'aa-decisions', what: 'false-accept rate of keep/leave decisions on A/A pairs, idle and under load', minutes: 15,
    commands: [{ script: 'bench/aa-decisions.ts', args: ['--trials', '100'], quick: ['--trials', '4', '--models', 'googlenet-mini'], output: 'json-file' }],
    tables: [{ id: 'aa-decisions', file: 'docs/figures.md', render: renderAA }],
  },
];

export function allTables(): Array<FigureTable & { job: FigureJob }> {
  return JOBS.flatMap((job) => job.tables.map((t) => ({ ...t, job })));
}

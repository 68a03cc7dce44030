/**
 * The main job: from the committed Fashion-MNIST teacher (or the user's model and images), profile,
 * merge, retrain, evaluate, measure on node and wasm, export the merged ONNX and write an HTML report
 * with the analogues of the paper's Tables 1-3, the per-layer chart before/after and the confusion table.
 * With a target runtime the merges are planned there first (src/plan, docs/planner.md): only the merges
 * the plan kept are retrained, and the plan's exact fusions are applied to the retrained weights.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Model } from '../ir/graph.js';
import { loadModel, saveModel, writeFileAtomic } from '../onnx/file.js';
import { encodeModel } from '../onnx/encode.js';
import { openTrainEval } from '../data/open.js';
import { recordDataInfo, type PreprocessSpec } from '../data/preprocess.js';
import { firstImages, skippedFiles } from '../data/source.js';
import { evaluate, type EvalResult } from '../train/evaluate.js';
import { evalSections } from '../train/evaluate-report.js';
import { profileLayers, type LayerProfile } from '../profile/layers.js';
import { layerChart } from '../profile/report.js';
import { mergeAndRetrain, type RetrainResult } from './merge-retrain.js';
import { defaultValidation } from '../train/finetune.js';
import { pairedGain, timeModels } from '../runtime/timing.js';
import { googlenetTable3, type Table3Row } from './table3.js';
import { htmlReport, type ReportSection } from '../report/html.js';
import { groupedBarChart, lineChart } from '../report/svg.js';
import { formatPercent } from '../util/format.js';
import { teacherPath } from '../util/paths.js';
import { RebirthError } from '../errors.js';
import { applyPlan, planMergeOptions, planModel, type RuntimePlan, type RuntimePlanOptions, type RuntimePlanReport } from '../plan/plan.js';
import { planTarget } from '../plan/targets.js';
import { explainPlan } from '../plan/explain.js';
import { fmtRatio, type Budget, type MeasureFn } from '../plan/search.js';

/**
 * Distillation epochs of the demo. With the teacher's logits computed once, an epoch of googlenet-mini
 * takes 52-86 s on 2 cores (measured), so 8 epochs keep the whole run at 9-11 minutes, under the
 * 15-minute budget, and reach the teacher within 0.5 points (92.51% vs 92.78%); docs/deeprebirth.md
 * section 7 has the accuracy per epoch count.
 */
export const DEMO_EPOCHS = 8;

export interface DemoOptions {
  outDir: string;
  /** The model to make faster (default the committed googlenet-mini teacher). */
  teacher?: string;
  /**
   * The teacher already loaded, e.g. with input shapes bound (the CLI's --input-shape); `teacher` still
   * names its file, which the report cites and the output never overwrites.
   */
  teacherModel?: Model;
  /** Fashion-MNIST folder (default Debian's). */
  dataDir?: string;
  /**
   * Training data as `--data` takes it: an image folder (with class folders, train/ + val/ splits, or
   * flat and unlabeled: distillation needs no labels), X.npy[,Y.npy] or fashion-mnist. Overrides dataDir.
   */
  data?: string;
  /** Evaluation data (needed when `data` is unlabeled or has no val/ split). */
  evalData?: string;
  /** Preprocessing of images (default: recorded in the model, else 'unit'). */
  preprocess?: PreprocessSpec;
  /** Class names in label order (default: recorded in the model, else the class folders). */
  classNames?: readonly string[];
  /** Image decoding workers (default one per core). */
  workers?: number;
  /** Distillation epochs (fractions train on that share of the training set). */
  epochs?: number;
  /**
   * Training images held out to choose the retraining's epoch (default defaultValidation: 5,000 of
   * Fashion-MNIST's 60,000); 0 chooses on the evaluation data, which makes its top-1 optimistic.
   */
  validation?: number;
  /** Limit train/test images (quick runs). */
  limit?: number;
  threads?: number;
  runs?: number;
  /** Also measure BVLC GoogLeNet 224x224 (random weights): original, Tucker, Merge, Merge+Tucker (Table 3). */
  googlenet?: boolean;
  /**
   * Plan the merges on this runtime ('node', 'wasm', 'browser', or any registered target) and retrain only
   * the ones the plan kept, with the kernel mode and reducer width it chose for each; its fusions are
   * applied after retraining. Without it every merge candidate is applied with the default kernel and width.
   */
  target?: string;
  /** With `target`: stop planning once this speed-up or latency is reached. */
  budget?: Budget;
  /** With `target`: the plan cache (default the user's cache directory; false for none). */
  planCache?: RuntimePlanOptions['cache'];
  /** With `target`: replaces the target's measurement (tests pass a fake timer; real runs leave it out). */
  planMeasure?: MeasureFn;
  log?: (line: string) => void;
}

/** A runtime plan as the summary carries it: everything but the model (that is the output file). */
export type DemoPlan = RuntimePlanReport & Pick<RuntimePlan, 'cache'>;

export interface DemoSummary {
  teacher: string;
  /** The training and evaluation data. */
  data: { train: string; test: string };
  output: string;
  report: string;
  merges: string[];
  /** With a target: where the merges were planned. */
  target?: string;
  /** With a target: every candidate with its measured gain and why it was kept or left. */
  plan?: DemoPlan;
  /** `validation`: training images held out to choose the retraining's epoch (0: chosen on the evaluation data). */
  accuracy: { teacher: number; merged: number; steps: Array<{ step: string; top1: number }>; validation: number };
  latencyMs: Record<'node' | 'wasm', { before: number; after: number; speedup: number }>;
  nonTensorShare: Record<'node' | 'wasm', number>;
  googlenet?: Partial<Record<'node' | 'wasm', Table3Row>>;
  /** Undecodable image files skipped (training and evaluation data). */
  skipped: { count: number; files: string[] };
  seconds: number;
}

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const started = performance.now();
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const threads = options.threads ?? 2;
  const runs = options.runs ?? 30;
  const teacherFile = options.teacher ?? teacherPath();
  if (!options.teacherModel && !fs.existsSync(teacherFile)) throw new RebirthError(`teacher model ${teacherFile} not found; train it with the command in docs/teacher.md`);
  // Checked before the minutes of profiling, so a misspelt target fails at once.
  if (options.target !== undefined) planTarget(options.target);
  else if (options.budget || options.planCache !== undefined || options.planMeasure) {
    throw new RebirthError('demo options budget, planCache and planMeasure need a target (plans are measured on a target runtime)');
  }
  const teacher = options.teacherModel ?? loadModel(teacherFile);
  const name = path.basename(teacherFile).replace(/\.onnx$/i, '');
  const spec = options.data ?? options.dataDir;
  const opened = openTrainEval(spec, options.evalData, {
    model: teacher, onWarning: (l) => log(l),
    ...(options.preprocess ? { preprocess: options.preprocess } : {}), ...(options.classNames ? { classNames: options.classNames } : {}),
    ...(options.limit ? { limit: options.limit } : {}), ...(options.workers ? { workers: options.workers } : {}),
  });
  const train = opened.train.data;
  const test = opened.test.data;
  const dataNames = { train: spec ?? 'fashion-mnist', test: options.evalData ?? opened.test.folder ?? spec ?? 'fashion-mnist' };
  const validation = options.validation ?? defaultValidation(train);
  // Checked here, not when the retraining starts minutes later.
  if (validation >= train.count) throw new RebirthError(`--validation ${validation}: the training data has ${train.count} images; hold out fewer (0 chooses the epoch on the evaluation data)`);
  fs.mkdirSync(options.outDir, { recursive: true });

  log('1/5 profiling the teacher on node and wasm (Table 1)');
  const profiles: Record<'node' | 'wasm', LayerProfile> = {
    node: await profileLayers(teacher, { backend: 'node', threads: 1, optLevel: 'all', runs, name }),
    wasm: await profileLayers(teacher, { backend: 'wasm', threads: 1, optLevel: 'all', runs, name }),
  };

  let plan: RuntimePlan | undefined;
  if (options.target !== undefined) {
    log(`2/5 planning the merges on ${options.target}, then retraining the ones the plan kept against the teacher (Table 2)`);
    // The options `rebirth merge --target` plans with by default (init inherit, seed 1, both kernel modes
    // and reducer widths), so the two commands share a cached plan of the same model.
    plan = await planModel(teacher, {
      target: options.target, families: ['merge', 'fusion'], merge: { streamline: true, branch: true, fire: true, init: 'inherit', seed: 1 }, fold: true,
      ...(options.budget ? { budget: options.budget } : {}), ...(options.planCache !== undefined ? { cache: options.planCache } : {}),
      ...(options.runs !== undefined ? { decide: { maxRounds: Math.max(3, options.runs) } } : {}),
      ...(options.planMeasure ? { measure: options.planMeasure } : {}),
      log: (l) => log(`  ${l}`),
    });
  } else log('2/5 merging (streamline + branch) and retraining against the teacher (Table 2)');
  const retrained: RetrainResult = await mergeAndRetrain(teacher, {
    mode: 'distill', init: 'inherit', merge: plan ? planMergeOptions(plan) : {}, train, test, epochs: options.epochs ?? DEMO_EPOCHS, threads, validation,
    onStep: (s) => log(`  ${s.step}: top-1 ${formatPercent(s.top1, 2)}`),
  });
  // The plan's fusions are exact and read the retrained weights, so they are made after retraining.
  const result: RetrainResult = plan
    ? { ...retrained, model: await applyPlan(retrained.model, plan, { stages: ['fusion'], onWarning: (line) => log(`  ${line}`) }) }
    : retrained;
  const output = path.join(options.outDir, `${name}-rebirth.onnx`);
  const classNames = opened.train.classNames ?? opened.test.classNames;
  const preprocess = opened.train.preprocess ?? opened.test.preprocess;
  recordDataInfo(result.model, { ...(preprocess ? { preprocess } : {}), ...(classNames ? { classNames: [...classNames] } : {}) });
  saveModel(result.model, output, { protect: [teacherFile] });
  // The merged model's confusion table for the report (its top-1 is the best epoch's, reported above).
  const final = await evaluate(result.model, test, { threads });

  log('3/5 measuring latency before/after on node and wasm (1 thread)');
  const latencyMs = {} as DemoSummary['latencyMs'];
  const inputName = teacher.graph.inputs.find((v) => !teacher.graph.initializers.has(v.name))?.name ?? 'data';
  const feeds = { [inputName]: { type: 'float32' as const, dims: [1, ...test.shape], data: (await firstImages(test, 1)).data } };
  for (const backend of ['node', 'wasm'] as const) {
    const t = await timeModels({ before: encodeModel(teacher), after: encodeModel(result.model) }, { backend, threads: 1, runs, feeds });
    const before = t.before;
    const after = t.after;
    if (!before || !after) throw new RebirthError('latency measurement failed');
    latencyMs[backend] = { before: before.medianMs, after: after.medianMs, speedup: pairedGain(before, after) };
  }
  const mergedProfile = await profileLayers(result.model, { backend: 'node', threads: 1, optLevel: 'all', runs, name: `${name} merged` });

  let googlenet: DemoSummary['googlenet'];
  if (options.googlenet ?? true) {
    log('4/5 BVLC GoogLeNet 224x224 (random weights): original, Tucker, Merge, Merge+Tucker (Table 3)');
    googlenet = await googlenetTable3({ runs: Math.max(5, Math.round(runs / 3)), backends: ['node', 'wasm'], onProgress: (m) => log(`  ${m}`) });
  }

  log('5/5 writing the report');
  const skipped = [...new Set([...skippedFiles(train), ...skippedFiles(test)].map((f) => f.file))];
  const summary: DemoSummary = {
    teacher: teacherFile, data: dataNames, output, report: path.join(options.outDir, 'report.html'),
    merges: result.merges.map((m) => m.name),
    ...(plan ? { target: plan.target, plan: withoutModel(plan) } : {}),
    accuracy: { teacher: result.accuracy.before, merged: result.accuracy.after, steps: result.accuracy.steps.map((s) => ({ step: s.step, top1: s.top1 })), validation },
    latencyMs,
    nonTensorShare: { node: profiles.node.nonTensorShare, wasm: profiles.wasm.nonTensorShare },
    ...(googlenet ? { googlenet } : {}),
    skipped: { count: skipped.length, files: skipped },
    seconds: (performance.now() - started) / 1000,
  };
  writeFileAtomic(summary.report, demoReport(summary, profiles, mergedProfile, result, final));
  writeFileAtomic(path.join(options.outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

function withoutModel(plan: RuntimePlan): DemoPlan {
  const { model: _model, ...rest } = plan;
  return rest;
}

/** The plan in the report: every candidate with its measured gain and why it was kept or left. */
function planSection(plan: DemoPlan): ReportSection {
  const [headline = '', ...rest] = explainPlan(plan);
  const phase = (p: string): string => (p === 'backward' ? 'plan without/with it' : p === 'head-to-head' ? 'against another alternative' : p === 'joint' ? 'jointly with other small gains' : 'in context');
  return {
    heading: `Runtime plan for ${plan.target}`,
    paragraphs: [
      headline,
      // explainPlan's note and budget lines; its per-candidate lines are the table below.
      ...rest.filter((l) => l.startsWith('note: ') || l.startsWith('budget ')),
      'The plan chose the structure on the teacher\'s weights (which merges, and the kernel mode or reducer width of each); ' +
        'only the kept merges were retrained, and the kept fusions were applied to the retrained weights afterwards.',
      ...plan.stages.flatMap((st) => st.refused.map((r) => `not a candidate (${st.family}): ${r.site}${r.variant ? ` (${r.variant})` : ''}: ${r.reason}`)),
    ],
    table: {
      headers: ['stage', 'candidate', 'kind', 'exactness', 'retrains', 'measured gain', 'verdict', 'why'],
      rows: plan.stages.flatMap((st) => st.candidates.map((c) => [
        st.family, c.name, c.family, c.exactness, String(c.retrainParams),
        c.gain ? `${fmtRatio(c.gain)} ${phase(c.gain.phase)}` : 'not measured', c.status, c.why,
      ])),
      align: ['left', 'left', 'left', 'left', 'right', 'left', 'left', 'left'],
    },
  };
}

function demoReport(s: DemoSummary, profiles: Record<'node' | 'wasm', LayerProfile>, merged: LayerProfile, r: RetrainResult, final: EvalResult): string {
  const pct = (v: number): string => formatPercent(v, 2);
  const sections: ReportSection[] = [
    {
      heading: 'Summary',
      paragraphs: [
        `Teacher ${path.basename(s.teacher)}: top-1 ${pct(s.accuracy.teacher)} on ${s.data.test}. ` +
          `${s.plan && s.merges.length === 0 ? `The plan for ${s.plan.target} kept no merge` : `After merging ${s.merges.join(', ')}${s.plan ? ` (planned on ${s.plan.target}, ${s.plan.runtime})` : ''} and retraining`}: ${pct(s.accuracy.merged)} ` +
          `(${((s.accuracy.merged - s.accuracy.teacher) * 100).toFixed(2)} points; ` +
          `${s.accuracy.validation > 0 ? `the epoch chosen on ${s.accuracy.validation} training images held out of the retraining` : `the epoch chosen on ${s.data.test} itself`}).`,
        `Latency, batch 1, 1 thread: node ${s.latencyMs.node.before.toFixed(3)} -> ${s.latencyMs.node.after.toFixed(3)} ms (${s.latencyMs.node.speedup.toFixed(2)}x), ` +
          `wasm ${s.latencyMs.wasm.before.toFixed(3)} -> ${s.latencyMs.wasm.after.toFixed(3)} ms (${s.latencyMs.wasm.speedup.toFixed(2)}x). Run time ${s.seconds.toFixed(0)} s.`,
      ],
    },
    {
      heading: 'Table 1 analogue: where the time goes (teacher)',
      table: {
        headers: ['runtime', 'median ms', 'non-tensor share', 'paper (GoogLeNet, Caffe)'],
        rows: [
          ['onnxruntime-node, 1 thread, opt all', profiles.node.latencyMs.median.toFixed(3), pct(profiles.node.nonTensorShare), 'x86 62.03%'],
          ['onnxruntime-web wasm, 1 thread', profiles.wasm.latencyMs.median.toFixed(3), pct(profiles.wasm.nonTensorShare), 'ARM 37.81%'],
        ],
      },
      svg: layerChart(profiles.node, 'teacher: time per layer (node, 1 thread)'),
    },
    { heading: 'After merging: time per layer (node, 1 thread)', svg: layerChart(merged, 'merged: time per layer (node, 1 thread)') },
    {
      heading: 'Table 2 analogue: accuracy after each retraining step',
      table: { headers: ['step', 'top-1'], rows: [['teacher', pct(s.accuracy.teacher)], ...s.accuracy.steps.map((x) => [x.step, pct(x.top1)])] },
      svg: lineChart({
        title: 'test top-1 during retraining',
        series: [{ name: 'merged', points: r.accuracy.steps.flatMap((st) => st.epochs.map((e) => [e.epoch, 100 * (e.eval?.top1 ?? NaN)] as [number, number])) },
          { name: 'teacher', points: [[0, 100 * s.accuracy.teacher], [Math.max(1, r.accuracy.steps[0]?.epochs.length ?? 1), 100 * s.accuracy.teacher]] }],
        xLabel: 'epoch', yLabel: 'top-1 %',
      }),
    },
  ];
  const g = s.googlenet;
  if (g?.node && g.wasm) {
    const { node, wasm } = g;
    const row = (label: string, k: keyof typeof node & ('original' | 'tucker' | 'merged' | 'mergedTucker'), paper: string): string[] => [
      label, (node.flops[k] / 1e9).toFixed(2), node[k].toFixed(1), `${(node.original / node[k]).toFixed(2)}x`, wasm[k].toFixed(1), `${(wasm.original / wasm[k]).toFixed(2)}x`, paper,
    ];
    sections.push({
      heading: 'Table 3 analogue: BVLC GoogLeNet 224x224, batch 1, 1 thread (random weights)',
      paragraphs: [
        'Tucker ranks keep half of each conv\'s channels (rounded to multiples of 8; random weights have no VBMF ranks, docs/tucker.md); ' +
          `a decomposed layer is kept only where it measured faster on that backend (node: ${node.mergedTuckerLayers.kept} of ${node.mergedTuckerLayers.candidates} layers of the merged model, ` +
          `wasm: ${wasm.mergedTuckerLayers.kept} of ${wasm.mergedTuckerLayers.candidates}).`,
      ],
      table: {
        headers: ['model', 'GFLOPs (node)', 'node ms', 'node speed-up', 'wasm ms', 'wasm speed-up', 'paper (Galaxy S5, Caffe)'],
        rows: [
          row('GoogLeNet', 'original', '651.4 ms'),
          row('GoogLeNet-Tucker', 'tucker', '614.9 ms (1.06x)'),
          row('GoogLeNet-Merge', 'merged', '210.6 ms (3.09x)'),
          row('GoogLeNet-Merge-Tucker', 'mergedTucker', '106.3 ms (6.13x)'),
        ],
      },
      svg: groupedBarChart({
        title: 'GoogLeNet latency (ms)', categories: ['original', 'Tucker', 'Merge', 'Merge+Tucker'],
        series: [{ name: 'node', values: [node.original, node.tucker, node.merged, node.mergedTucker] }, { name: 'wasm', values: [wasm.original, wasm.tucker, wasm.merged, wasm.mergedTucker] }],
        yLabel: 'ms',
      }),
    });
  }
  if (s.plan) sections.push(planSection(s.plan));
  sections.push({
    heading: 'Merges',
    table: { headers: ['merge', 'kind', 'what'], rows: r.merges.map((m) => [m.name, m.kind, m.description]) },
    paragraphs: r.refused.map((x) => `left alone: ${x.name}: ${x.reason}`),
  });
  sections.push(...evalSections(final, `merged model on ${s.data.test}`));
  const title = (path.basename(s.teacher) === 'googlenet-mini.onnx' && s.data.train === 'fashion-mnist'
    ? 'rebirth demo: DeepRebirth on googlenet-mini (Fashion-MNIST)' : `rebirth demo: DeepRebirth on ${path.basename(s.teacher)} (${s.data.train})`) +
    (s.plan ? `, planned for ${s.plan.target}` : '');
  return htmlReport({ title, subtitle: `teacher ${s.teacher}${s.plan ? `; target ${s.plan.target} (${s.plan.runtime}; ${s.plan.machine})` : ''}`, sections });
}

export type { Model };

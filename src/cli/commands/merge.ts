import { mergeAndRetrain, type RebirthInit, type RetrainMode } from '../../pipeline/merge-retrain.js';
import { retrainPlan, type PlanRetrainResult } from '../../pipeline/plan-retrain.js';
import { mergeModel, type AppliedMerge, type MergeOptions, type Refusal } from '../../merge/plan.js';
import type { Model } from '../../ir/graph.js';
import { describeFolds, type FoldReport } from '../../merge/fold.js';
import { timeModels } from '../../runtime/timing.js';
import { encodeModel } from '../../onnx/encode.js';
import { saveModel } from '../../onnx/file.js';
import { formatPercent, formatTable } from '../../util/format.js';
import { RebirthError } from '../../errors.js';
import { resolveModel } from '../models.js';
import { INPUT_SHAPE_OPTION, inputShapeArgs } from '../input-shape.js';
import { AUGMENT_OPTION, DATA_OPTIONS, VALIDATION_OPTION, augmentArg, checkRetrainLabels, openCliTrainEval, recordData, refuseWithoutRetraining, validationArg } from '../data.js';
import type { FitReport } from '../../merge/fit.js';
import { checkOutput, optChoice, optFlag, optInt, optNumber, optString, positional, printJson, type Command, type ParsedArgs } from '../command.js';
import { PLAN_OPTIONS, PLAN_USAGE, planFlags, planJson, planLog, planText } from '../plan-flags.js';
import { applyPlan, planMergeOptions, planModel, PLAN_FAMILIES, type PlanFamily, type RuntimePlan } from '../../plan/plan.js';
import type { MergeFamilyOptions } from '../../plan/families.js';

const isFamily = (f: string): f is PlanFamily => (PLAN_FAMILIES as readonly string[]).includes(f);

/**
 * The plan's stages: `--families` names them (in any order; they run in PLAN_FAMILIES' order, merge,
 * shrink, tucker, fusion, which is the order that works: src/plan/plan.ts), default merge and fusion.
 */
function planFamilies(args: ParsedArgs, target: boolean): PlanFamily[] {
  const flag = optString(args, 'families');
  if (flag === undefined) return ['merge', 'fusion'];
  if (!target) throw new RebirthError('--families needs --target (the families are the stages of a plan measured on a target runtime)');
  const named = flag.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = named.find((f) => !isFamily(f));
  if (unknown !== undefined) throw new RebirthError(`--families: unknown family '${unknown}'; families: ${PLAN_FAMILIES.join(', ')}`);
  const families = PLAN_FAMILIES.filter((f) => named.includes(f));
  if (families.length === 0) throw new RebirthError(`--families needs at least one of ${PLAN_FAMILIES.join(', ')}`);
  return families;
}

/** What `retrained` says in the JSON report of a composed plan's retraining. */
function retrainedJson(mode: string, r: PlanRetrainResult): Record<string, unknown> {
  return {
    mode, teacher: 'the input model', passes: r.passes,
    ...(r.shrink ? { shrink: { runs: r.shrink.groups.map((g) => g.convs), activationsRemoved: r.shrink.removed, exactMerge: { passed: r.shrink.verification.passed, maxRelError: r.shrink.verification.maxRelError } } } : {}),
    ...(r.tucker ? { tucker: { layers: r.tucker.layers } } : {}),
    exact: r.exact,
  };
}

/** The text lines of the same. */
function retrainedText(mode: string, r: PlanRetrainResult): string[] {
  const trained = mode !== 'none';
  const lines = [trained ? 'retrained by distillation from the input model, in stage order:' : 'retrained: nothing (--retrain none); the plan rebuilt on the input weights:'];
  const pass = (n: 1 | 2): void => {
    for (const p of r.passes.filter((x) => x.pass === n)) {
      lines.push(`  pass ${n}, ${p.name}: ${p.changes.length} change(s) (${p.changes.join(', ')}), ${p.epochs} epoch(s), top-1 ${formatPercent(p.top1, 2)}`);
    }
  };
  pass(1);
  if (r.shrink) {
    lines.push(`  shrink runs merged exactly${trained ? ' after pass 1' : ''}: ${r.shrink.groups.map((g) => g.convs.join('+')).join(', ')} (checked on ONNX Runtime, max rel. error ${r.shrink.verification.maxRelError.toExponential(1)})`);
  }
  if (r.tucker) lines.push(`  Tucker factors from the ${trained ? 'retrained ' : ''}weights: ${r.tucker.layers.join(', ')}`);
  pass(2);
  if (r.exact.length > 0) lines.push(`  exact, not trained: ${r.exact.join(', ')}`);
  return lines;
}

/** What either retraining path reports, with the model it writes (its data recorded in it). */
function retrainedReport(
  r: Pick<PlanRetrainResult, 'merges' | 'refused' | 'folds' | 'fits' | 'diverged' | 'accuracy'>, written: Model, opened: ReturnType<typeof openCliTrainEval>,
): { result: { model: Model; merges: AppliedMerge[]; refused: Refusal[] }; folds: FoldReport[]; fits: FitReport[]; diverged: string | undefined; accuracy: { before: number; after: number; steps: Array<{ step: string; top1: number }> } } {
  recordData(written, opened.train, opened.test);
  if (r.diverged) process.stderr.write(`warning: retraining diverged (${r.diverged})\n`);
  return {
    result: { model: written, merges: r.merges, refused: r.refused }, folds: r.folds, fits: r.fits, diverged: r.diverged,
    accuracy: { before: r.accuracy.before, after: r.accuracy.after, steps: r.accuracy.steps.map((s) => ({ step: s.step, top1: s.top1 })) },
  };
}

export const mergeCommand: Command = {
  name: 'merge',
  summary: 'DeepRebirth: exact folds, then streamline (conv+LRN+pool -> strided conv), branch (Inception) and exact Fire merging, with retraining',
  usage: 'rebirth merge MODEL [--input-shape NAME=D1,D2,...] -o OUT [--streamline] [--branch] [--fire] [--no-fold] [--only conv1,inception_3a] [--init xavier|inherit|fit] ' +
    '[--retrain paper|distill|none] [--data fashion-mnist|DIR|X.npy[,Y.npy] [--eval-data DIR] [--preprocess unit|imagenet|caffe|FILE.json] [--classes FILE] [--workers N]] [--epochs N] [--validation N] [--augment] [--lr 0.005] [--kernel cover|keep] [--reducer-ratio 0.5] ' +
    '[--rebirth-lr-factor F] [--warmup STEPS] [--block-weight W] [--fit-images N] [--fit-refine N] [--checkpoint FILE] [--limit N] [--runs N] [--threads N] ' +
    `${PLAN_USAGE} [--families merge,shrink,tucker,fusion] [--explain] [--json]`,
  options: {
    ...INPUT_SHAPE_OPTION,
    ...DATA_OPTIONS,
    ...VALIDATION_OPTION, ...AUGMENT_OPTION,
    ...PLAN_OPTIONS,
    output: { type: 'string', short: 'o' }, streamline: { type: 'boolean' }, branch: { type: 'boolean' }, fire: { type: 'boolean' }, 'no-fold': { type: 'boolean' }, only: { type: 'string' },
    init: { type: 'string' }, retrain: { type: 'string' }, data: { type: 'string' }, epochs: { type: 'string' }, lr: { type: 'string' },
    kernel: { type: 'string' }, 'reducer-ratio': { type: 'string' }, limit: { type: 'string' }, runs: { type: 'string' },
    threads: { type: 'string' }, seed: { type: 'string' }, explain: { type: 'boolean' }, json: { type: 'boolean' }, families: { type: 'string' },
    'rebirth-lr-factor': { type: 'string' }, warmup: { type: 'string' }, 'block-weight': { type: 'string' }, 'fit-refine': { type: 'string' }, 'fit-images': { type: 'string' }, checkpoint: { type: 'string' },
  },
  async run(args) {
    const spec = positional(args, 0, 'MODEL', mergeCommand);
    const out = optString(args, 'output');
    if (!out) throw new RebirthError(`rebirth merge: missing -o OUT; usage: ${mergeCommand.usage}`);
    if (!spec.startsWith('zoo:')) checkOutput(out, [spec]);
    // No kind flag: every kind; otherwise the kinds named.
    const all = !optFlag(args, 'streamline') && !optFlag(args, 'branch') && !optFlag(args, 'fire');
    const target = planFlags(args);
    const families = planFamilies(args, target !== undefined);
    const dataSpec = optString(args, 'data');
    // A plan with shrink or Tucker changes is retrained by retrainPlan (distillation only). With --data it
    // retrains by default, as `rebirth shrink` does: untrained, a merged run without its activations or a
    // rank-reduced layer is an accuracy loss nobody asked for (googlenet-mini: 93.7% -> 19% before training).
    const composed = families.includes('shrink') || families.includes('tucker');
    const retrain = optChoice<RetrainMode>(args, 'retrain', ['paper', 'distill', 'none'], composed && dataSpec !== undefined ? 'distill' : 'none');
    refuseWithoutRetraining(args, retrain, ['validation', 'augment']);
    validationArg(args); // its number checked before any work
    if (composed && retrain === 'paper') {
      throw new RebirthError(`--retrain paper with --families ${families.join(',')}: a plan with shrink or Tucker changes is retrained by distillation from the input model; use --retrain distill (the default with --data) or none`);
    }
    const init = optChoice<RebirthInit>(args, 'init', ['xavier', 'inherit', 'fit'], retrain === 'paper' ? 'xavier' : 'inherit');
    const only = optString(args, 'only')?.split(',').map((s) => s.trim()).filter(Boolean);
    const merge: MergeOptions = {
      streamline: all || optFlag(args, 'streamline'),
      branch: all || optFlag(args, 'branch'),
      fire: all || optFlag(args, 'fire'),
      fold: !optFlag(args, 'no-fold'),
      kernel: optChoice(args, 'kernel', ['cover', 'keep'] as const, 'cover'),
      reducerRatio: optNumber(args, 'reducer-ratio', 0.5, { min: 0.05, max: 1 }),
      ...(only ? { only } : {}),
    };
    const runs = optInt(args, 'runs', 20, { min: 1 });
    const threads = optInt(args, 'threads', 2, { min: 1, max: 64 });
    const seed = optInt(args, 'seed', 1, { min: 0 });
    const { model, file } = resolveModel(spec, inputShapeArgs(args, dataSpec === undefined ? 'run' : 'train'));
    if ((retrain !== 'none' || init === 'fit') && dataSpec === undefined) {
      throw new RebirthError(`--retrain ${retrain} / --init ${init} needs --data fashion-mnist (or DIR)`);
    }
    const limit = args.values.limit === undefined ? undefined : optInt(args, 'limit', 0, { min: 1 });
    const checkpoint = optString(args, 'checkpoint');
    if (checkpoint) checkOutput(checkpoint, [spec, out]);
    let result;
    let folds: FoldReport[] = [];
    let fits: FitReport[] = [];
    let diverged: string | undefined;
    let accuracy: { before: number; after: number; steps: Array<{ step: string; top1: number }> } | null = null;
    let plan: RuntimePlan | undefined;
    let retrained: PlanRetrainResult | undefined;
    if (target) {
      // Which merges pay on the target: every alternative measured in context (src/plan). A kernel mode or
      // reducer width given on the command line is the only one tried; otherwise both of each are.
      const family: MergeFamilyOptions = {
        streamline: merge.streamline ?? true, branch: merge.branch ?? true, fire: merge.fire ?? true,
        ...(args.values.kernel !== undefined ? { kernels: [merge.kernel ?? 'cover'] } : {}),
        ...(args.values['reducer-ratio'] !== undefined ? { reducerRatios: [merge.reducerRatio ?? 0.5] } : {}),
        init: init === 'xavier' ? 'xavier' : 'inherit', seed, ...(only ? { only } : {}),
      };
      plan = await planModel(model, {
        target: target.target, families, merge: family, fold: merge.fold ?? true,
        ...(target.budget ? { budget: target.budget } : {}), cache: target.cache, ...(args.values.runs !== undefined ? { decide: { maxRounds: Math.max(3, runs) } } : {}),
        ...(optFlag(args, 'json') ? {} : { log: planLog }),
      });
      Object.assign(merge, planMergeOptions(plan));
    }
    if (dataSpec !== undefined && plan && composed) {
      const opened = openCliTrainEval(args, model, limit);
      const { only: _only, perCandidate: _per, ...kinds } = merge;
      // --lr and --warmup only when given: retrainPlan's defaults depend on whether the plan kept shrink changes.
      const r = await retrainPlan(model, plan, {
        mode: retrain === 'distill' ? 'distill' : 'none', merge: kinds, init, seed, threads,
        train: opened.train.data, test: opened.test.data,
        epochs: optNumber(args, 'epochs', 1, { min: 0.01 }), ...validationArg(args), ...augmentArg(args, opened.train.data.shape[1]),
        ...(args.values.lr === undefined ? {} : { lr: optNumber(args, 'lr', 0.005, { min: 0 }) }),
        ...(args.values.warmup === undefined ? {} : { warmupSteps: optInt(args, 'warmup', 0, { min: 0 }) }),
        progress: !optFlag(args, 'json'),
        fitImages: optInt(args, 'fit-images', 1024, { min: 1 }),
        fitRefineImages: optInt(args, 'fit-refine', 4096, { min: 0 }),
        weights: { blocks: optNumber(args, 'block-weight', 0, { min: 0 }) },
        ...(args.values['rebirth-lr-factor'] === undefined ? {} : { rebirthLrFactor: optNumber(args, 'rebirth-lr-factor', 10, { min: 0 }) }),
        ...(checkpoint ? { checkpoint } : {}),
        onWarning: (line) => process.stderr.write(`warning: ${line}\n`),
      });
      ({ result, folds, fits, diverged, accuracy } = retrainedReport(r, r.model, opened));
      retrained = r;
    } else if (dataSpec !== undefined) {
      const opened = openCliTrainEval(args, model, limit);
      checkRetrainLabels(opened.train, retrain);
      const r = await mergeAndRetrain(model, {
        mode: retrain, merge, init, seed, threads,
        train: opened.train.data, test: opened.test.data,
        epochs: optNumber(args, 'epochs', 1, { min: 0.01 }), lr: optNumber(args, 'lr', 0.005, { min: 0 }), ...validationArg(args), ...augmentArg(args, opened.train.data.shape[1]),
        progress: !optFlag(args, 'json'),
        fitImages: optInt(args, 'fit-images', 1024, { min: 1 }),
        fitRefineImages: optInt(args, 'fit-refine', 4096, { min: 0 }),
        warmupSteps: optInt(args, 'warmup', 0, { min: 0 }),
        weights: { blocks: optNumber(args, 'block-weight', 0, { min: 0 }) },
        ...(args.values['rebirth-lr-factor'] === undefined ? {} : { rebirthLrFactor: optNumber(args, 'rebirth-lr-factor', 10, { min: 0 }) }),
        ...(checkpoint ? { checkpoint } : {}),
      });
      // The plan's fusions are exact and read the retrained weights, so they are made after retraining.
      ({ result, folds, fits, diverged, accuracy } = retrainedReport(r, plan ? await applyPlan(r.model, plan, { stages: ['fusion'], onWarning: (line) => process.stderr.write(`warning: ${line}\n`) }) : r.model, opened));
    } else if (plan) {
      const kept = new Set(plan.kept.map((k) => k.name));
      const outcomes = plan.stages.flatMap((s) => s.candidates).filter((c) => kept.has(c.name));
      result = {
        model: plan.model,
        merges: outcomes.filter((c) => c.recipe.family === 'merge').map((c) => ({ name: c.site, kind: c.family as 'streamline' | 'branch' | 'fire', layers: c.nodes, description: c.description, exact: c.exactness === 'exact' })),
        refused: plan.stages.flatMap((s) => s.refused.map((r) => ({ name: r.site, reason: r.variant ? `${r.variant}: ${r.reason}` : r.reason }))),
      };
      folds = plan.folds;
    } else {
      const r = await mergeModel(model, { ...merge, init: init === 'fit' ? 'inherit' : init, seed });
      result = { model: r.model, merges: r.merges, refused: r.refused };
      folds = r.folds;
    }
    const latencyMs: Record<string, { before: number; after: number }> = {};
    for (const backend of ['node', 'wasm'] as const) {
      const t = await timeModels({ before: encodeModel(model), after: encodeModel(result.model) }, { backend, threads: 1, runs });
      latencyMs[backend] = { before: t.before?.medianMs ?? NaN, after: t.after?.medianMs ?? NaN };
    }
    saveModel(result.model, out, { protect: file ? [file] : [] });
    const report = {
      folds,
      merges: result.merges.map((m) => ({ name: m.name, kind: m.kind, exact: m.exact, layers: m.layers, description: m.description })),
      ...(optFlag(args, 'explain') ? { refused: result.refused } : {}),
      accuracy, ...(retrained ? { retrained: retrainedJson(retrain, retrained) } : {}), ...(fits.length ? { fits } : {}), ...(diverged ? { diverged } : {}), latencyMs, ...(plan ? { plan: planJson(plan) } : {}), output: out,
    };
    if (optFlag(args, 'json')) {
      printJson(report);
      return;
    }
    const lines: string[] = [merge.fold === false ? 'folds: skipped (--no-fold)' : describeFolds(folds)];
    if (result.merges.length === 0) lines.push('no mergeable block found: the model is unchanged');
    else lines.push(formatTable(['merge', 'kind', 'what'], result.merges.map((m) => [m.name, m.kind, m.description])));
    if (plan) lines.push(...planText(plan, optFlag(args, 'explain')));
    else if (optFlag(args, 'explain')) for (const r of result.refused) lines.push(`left alone: ${r.name}: ${r.reason}`);
    for (const f of fits) {
      lines.push(f.fitted ? `fit ${f.node}: block-output error ${f.errorBefore.toFixed(3)} -> ${f.errorAfter.toFixed(3)} (${f.rows} rows)` : `fit ${f.node}: kept (${f.reason ?? ''})`);
    }
    if (retrained) lines.push('', ...retrainedText(retrain, retrained));
    if (accuracy) {
      lines.push('', `top-1 before ${formatPercent(accuracy.before, 2)}, after ${formatPercent(accuracy.after, 2)}`);
      for (const s of accuracy.steps) lines.push(`  after ${s.step}: ${formatPercent(s.top1, 2)}`);
    }
    for (const [b, l] of Object.entries(latencyMs)) {
      lines.push(`latency ${b} (1 thread): ${l.before.toFixed(2)} ms -> ${l.after.toFixed(2)} ms (${(l.before / l.after).toFixed(2)}x)`);
    }
    lines.push(`wrote ${out}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};

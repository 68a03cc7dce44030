import { type TuckerRankRule } from '../../decompose/tucker.js';
import { tuckerAndRetrain, type TuckerRetrainMode } from '../../pipeline/tucker-retrain.js';
import { timeModels } from '../../runtime/timing.js';
import { describeFolds } from '../../merge/fold.js';
import { encodeModel } from '../../onnx/encode.js';
import { saveModel } from '../../onnx/file.js';
import { formatPercent, formatTable } from '../../util/format.js';
import { RebirthError } from '../../errors.js';
import { resolveModel } from '../models.js';
import { INPUT_SHAPE_OPTION, inputShapeArgs } from '../input-shape.js';
import { AUGMENT_OPTION, DATA_OPTIONS, VALIDATION_OPTION, augmentArg, checkRetrainLabels, openCliTrainEval, recordData, refuseWithoutRetraining, validationArg } from '../data.js';
import { checkOutput, optChoice, optFlag, optInt, optNumber, optString, positional, printJson, type Command } from '../command.js';
import { PLAN_OPTIONS, PLAN_USAGE, planFlags, planJson, planLog, planText } from '../plan-flags.js';
import { planModel, planTuckerRanks, type RuntimePlan } from '../../plan/plan.js';
import { fractionRanks } from '../../decompose/ranks.js';
import { timeModelsInBrowser } from '../../runtime/browser.js';
import type { Model } from '../../ir/graph.js';

type RanksSpec = TuckerRankRule | { fractions: number[] };

/** --ranks fraction:F[,F...]: that fraction of every conv's channels in both modes (fractionRanks, multiples of 8). */
function parseFractions(text: string): { fractions: number[] } | undefined {
  const m = /^fraction:(.+)$/.exec(text);
  if (!m) return undefined;
  const fractions = (m[1] ?? '').split(',').map((f) => Number(f.trim()));
  if (fractions.length === 0 || fractions.some((f) => !(f > 0 && f < 1))) throw new RebirthError(`--ranks ${text}: each fraction must be in (0, 1)`);
  return { fractions };
}

/** --ranks vbmf | energy:F | latency:F | fraction:F[,F] | FILE.json */
function parseRanks(text: string): RanksSpec {
  if (text === 'vbmf') return 'vbmf';
  const fractions = parseFractions(text);
  if (fractions) return fractions;
  const m = /^(energy|latency):(\d*\.?\d+)$/.exec(text);
  if (m) {
    const v = Number(m[2]);
    if (!(v > 0 && v <= 1)) throw new RebirthError(`--ranks ${text}: the fraction must be in (0, 1]`);
    return m[1] === 'energy' ? { energy: v } : { latency: v };
  }
  if (text.endsWith('.json')) return { file: text };
  throw new RebirthError(`--ranks must be vbmf, energy:0.9, latency:0.7, fraction:0.5[,0.25] or a ranks FILE.json, got '${text}'`);
}

/** Without --target there is one fraction to apply: explicit ranks for every conv of the (folded) model. */
function rankRule(spec: RanksSpec, model: Model, text: string): TuckerRankRule {
  if (typeof spec === 'object' && 'fractions' in spec && Array.isArray(spec.fractions)) {
    if (spec.fractions.length !== 1) throw new RebirthError(`--ranks ${text}: several fractions are alternatives for --target to choose from; without --target give one`);
    return fractionRanks(model, spec.fractions[0] as number, 8);
  }
  return spec as TuckerRankRule;
}

export const tuckerCommand: Command = {
  name: 'tucker',
  summary: 'Tucker-2 / SVD decomposition of convs and FC layers (Kim et al. 2016), ranks by VBMF, energy, latency or file, with fine-tuning',
  usage: 'rebirth tucker MODEL [--input-shape NAME=D1,D2,...] -o OUT [--ranks vbmf|energy:0.9|latency:0.7|fraction:0.5[,0.25]|FILE.json] [--only L1,L2] [--backend node|wasm] [--no-measure] [--no-fold] [--hooi N] [--runs N] ' +
    `${PLAN_USAGE} [--granularity block|layer] [--explain] ` +
    '[--retrain paper|distill|none] [--data fashion-mnist|DIR|X.npy[,Y.npy] [--eval-data DIR] [--preprocess unit|imagenet|caffe|FILE.json] [--classes FILE] [--workers N]] [--epochs N] [--validation N] [--augment] [--lr 0.005] [--limit N] [--threads N] [--json]',
  options: {
    ...INPUT_SHAPE_OPTION,
    ...DATA_OPTIONS,
    ...VALIDATION_OPTION, ...AUGMENT_OPTION,
    ...PLAN_OPTIONS, granularity: { type: 'string' }, explain: { type: 'boolean' },
    output: { type: 'string', short: 'o' }, ranks: { type: 'string' }, only: { type: 'string' }, backend: { type: 'string' },
    'no-measure': { type: 'boolean' }, 'no-fold': { type: 'boolean' }, hooi: { type: 'string' }, runs: { type: 'string' }, json: { type: 'boolean' },
    retrain: { type: 'string' }, data: { type: 'string' }, epochs: { type: 'string' }, lr: { type: 'string' }, limit: { type: 'string' },
    threads: { type: 'string' },
  },
  async run(args) {
    const spec = positional(args, 0, 'MODEL', tuckerCommand);
    const out = optString(args, 'output');
    if (!out) throw new RebirthError(`rebirth tucker: missing -o OUT; usage: ${tuckerCommand.usage}`);
    if (!spec.startsWith('zoo:')) checkOutput(out, [spec]);
    const ranksText = optString(args, 'ranks') ?? 'vbmf';
    const ranks = parseRanks(ranksText);
    const target = planFlags(args);
    const backendFlag = optString(args, 'backend');
    if (target && backendFlag !== undefined && backendFlag !== target.target) {
      throw new RebirthError(`--backend ${backendFlag} and --target ${target.target} disagree; with --target, layers are measured on the target`);
    }
    if (target && optFlag(args, 'no-measure')) throw new RebirthError('--no-measure contradicts --target: a target plan keeps only what measures faster there');
    if (!target && args.values.granularity !== undefined) throw new RebirthError('--granularity needs --target (it sets what one plan candidate is)');
    const granularity = optChoice(args, 'granularity', ['block', 'layer'] as const, 'block');
    const backend = target ? (target.target === 'wasm' ? 'wasm' : 'node') : optChoice(args, 'backend', ['node', 'wasm'] as const, 'node');
    const only = optString(args, 'only')?.split(',').map((s) => s.trim()).filter(Boolean);
    const runs = optInt(args, 'runs', 20, { min: 1 });
    const retrain = optChoice<TuckerRetrainMode>(args, 'retrain', ['paper', 'distill', 'none'], 'none');
    refuseWithoutRetraining(args, retrain, ['validation', 'augment']);
    validationArg(args); // its number checked before any work
    const dataSpec = optString(args, 'data');
    // Checked before any work: fine-tuning without data is a usage error, not something to discover later.
    if (retrain !== 'none' && dataSpec === undefined) throw new RebirthError(`--retrain ${retrain} needs --data fashion-mnist (or DIR)`);
    const limit = args.values.limit === undefined ? undefined : optInt(args, 'limit', 0, { min: 1 });
    const epochs = optNumber(args, 'epochs', 1, { min: 0.01 });
    const lr = optNumber(args, 'lr', 0.005, { min: 0 });
    const threads = optInt(args, 'threads', 2, { min: 1, max: 64 });
    const hooi = optInt(args, 'hooi', 0, { min: 0, max: 100 });
    const json = optFlag(args, 'json');
    const { model, file } = resolveModel(spec, inputShapeArgs(args, optString(args, 'data') === undefined ? 'run' : 'train'));
    const opened = dataSpec === undefined ? undefined : openCliTrainEval(args, model, limit);
    if (opened) checkRetrainLabels(opened.train, retrain);
    const data = opened ? { train: opened.train.data, test: opened.test.data } : undefined;

    let plan: RuntimePlan | undefined;
    if (target) {
      plan = await planModel(model, {
        target: target.target, families: ['tucker'], tucker: { ranks, hooi, granularity, ...(only ? { only } : {}) }, fold: !optFlag(args, 'no-fold'),
        ...(target.budget ? { budget: target.budget } : {}), cache: target.cache, ...(args.values.runs !== undefined ? { decide: { maxRounds: Math.max(3, runs) } } : {}),
        ...(json ? {} : { log: planLog }),
      });
    }
    // With a plan, its kept ranks are applied as given (they were measured already); fine-tuning and the reports follow as before.
    const r = await tuckerAndRetrain(model, {
      ranks: plan ? planTuckerRanks(plan) : rankRule(ranks, model, ranksText), backend, measure: plan ? false : !optFlag(args, 'no-measure'),
      fold: !optFlag(args, 'no-fold'), hooi, runs, retrain, epochs, lr, threads, progress: !json, ...validationArg(args), ...(opened ? augmentArg(args, opened.train.data.shape[1]) : {}),
      ...(only && !plan ? { only } : {}), ...(data ? { train: data.train, test: data.test } : {}),
    });
    const pair = { before: encodeModel(model), after: encodeModel(r.model) };
    const t = target && target.target !== 'node' && target.target !== 'wasm'
      ? await timeModelsInBrowser(pair, { backend: target.target === 'browser:webgpu' ? 'browser:webgpu' : 'browser:wasm', threads: 1, runs })
      : await timeModels(pair, { backend, threads: 1, runs });
    if (opened) recordData(r.model, opened.train, opened.test);
    saveModel(r.model, out, { protect: file ? [file] : [] });
    const latencyMs = { before: t.before?.medianMs ?? NaN, after: t.after?.medianMs ?? NaN };
    const errorOn = data ? `${Math.min(64, data.test.count)} test images` : 'random inputs';
    if (json) {
      printJson({
        folds: r.folds, layers: r.layers, latencyMs, newParams: r.newParams, outputError: r.outputError, outputErrorOn: errorOn, layerOutputError: r.layerOutputError,
        ...(r.accuracy ? { accuracy: r.accuracy } : {}), retrain, epochs: retrain === 'none' ? 0 : epochs, history: r.history,
        ...(r.diverged ? { diverged: r.diverged } : {}), ...(plan ? { plan: planJson(plan) } : {}), output: out,
      });
      return;
    }
    const done = r.layers.filter((l) => l.decomposed);
    const lines = [
      optFlag(args, 'no-fold') ? 'folds: skipped (--no-fold)' : describeFolds(r.folds),
      formatTable(['layer', 'method', 'ranks', 'FLOPs before', 'after', 'params before', 'after', 'weight rel. error', 'output rel. error', 'layer ms before', 'after'],
        done.map((l) => [l.name, l.method, `${l.ranks[0]},${l.ranks[1]}`, l.flopsBefore, l.flopsAfter, l.paramsBefore, l.paramsAfter,
          l.relError.toFixed(3), (r.layerOutputError[l.name] ?? NaN).toFixed(3), l.latencyBefore?.toFixed(3) ?? '-', l.latencyAfter?.toFixed(3) ?? '-'])),
      ...(plan ? planText(plan, optFlag(args, 'explain')) : []),
      `${done.length} of ${r.layers.length} layers decomposed; model latency (${target?.target ?? backend}, 1 thread) ${latencyMs.before.toFixed(2)} -> ${latencyMs.after.toFixed(2)} ms`,
      `logits relative error before fine-tuning: ${r.outputError.toFixed(4)} (on ${errorOn})`,
    ];
    if (r.accuracy) {
      lines.push(`test top-1: ${formatPercent(r.accuracy.before, 2)} input, ${formatPercent(r.accuracy.decomposed, 2)} decomposed` +
        `${retrain === 'none' ? '' : `, ${formatPercent(r.accuracy.after, 2)} after ${epochs} epoch(s) of ${retrain} fine-tuning`}`);
    }
    if (r.diverged) lines.push(`fine-tuning diverged: ${r.diverged}`);
    process.stdout.write(`${lines.join('\n')}\nwrote ${out}\n`);
  },
};

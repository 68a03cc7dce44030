import { shrinkAndRetrain, type ShrinkRetrainMode } from '../../pipeline/shrink-retrain.js';
import { calibrationFromData, explainShrink } from '../../shrink/shrink.js';
import type { Calibration } from '../../shrink/importance.js';
import { SHRINK_TARGETS, defaultClock } from '../../shrink/latency.js';
import { saveModel } from '../../onnx/file.js';
import { formatPercent } from '../../util/format.js';
import { RebirthError } from '../../errors.js';
import { resolveModel } from '../models.js';
import { INPUT_SHAPE_OPTION, inputShapeArgs } from '../input-shape.js';
import { AUGMENT_OPTION, DATA_OPTIONS, DATA_USAGE, VALIDATION_OPTION, augmentArg, openCliTrainEval, recordData, refuseWithoutRetraining, validationArg } from '../data.js';
import { checkOutput, optChoice, optFlag, optInt, optNumber, optString, positional, printJson, type Command } from '../command.js';

export const shrinkCommand: Command = {
  name: 'shrink',
  summary: 'depth compression: remove activations chosen by measured latency and importance, merge the linear conv chains exactly, retrain',
  usage: 'rebirth shrink MODEL -o OUT [--target node|wasm|browser] [--speedup X | --latency-budget MS] [--retrain distill|none] ' +
    `${DATA_USAGE} [--epochs N] [--lr 0.002] [--anneal STAGES] [--ema 0.999] [--polish EPOCHS] [--polish-lr LR] [--validation N] [--augment] [--hints W] [--batch-norm] [--calibration N] [--importance labels|kl] [--padding push|exact] ` +
    '[--max-units 4] [--max-kernel 7] [--max-mac-ratio 2] [--skip-blocks] [--rounds 3] [--runs N] [--clock cpu|wall] [--limit N] [--threads N] [--seed N] ' +
    '[--checkpoint FILE] [--input-shape NAME=D1,D2,...] [--explain] [--json]',
  options: {
    ...INPUT_SHAPE_OPTION,
    ...DATA_OPTIONS,
    output: { type: 'string', short: 'o' }, target: { type: 'string' }, speedup: { type: 'string' }, 'latency-budget': { type: 'string' },
    retrain: { type: 'string' }, data: { type: 'string' }, epochs: { type: 'string' }, lr: { type: 'string' }, anneal: { type: 'string' }, ema: { type: 'string' }, polish: { type: 'string' }, 'polish-lr': { type: 'string' }, ...VALIDATION_OPTION, ...AUGMENT_OPTION, hints: { type: 'string' },
    calibration: { type: 'string' }, importance: { type: 'string' }, padding: { type: 'string' }, 'max-units': { type: 'string' },
    'max-kernel': { type: 'string' }, 'max-mac-ratio': { type: 'string' }, rounds: { type: 'string' }, runs: { type: 'string' },
    clock: { type: 'string' }, limit: { type: 'string' }, threads: { type: 'string' }, seed: { type: 'string' }, checkpoint: { type: 'string' },
    'skip-blocks': { type: 'boolean' }, 'batch-norm': { type: 'boolean' }, explain: { type: 'boolean' }, json: { type: 'boolean' },
  },
  async run(args) {
    const spec = positional(args, 0, 'MODEL', shrinkCommand);
    const out = optString(args, 'output');
    if (!out) throw new RebirthError(`rebirth shrink: missing -o OUT; usage: ${shrinkCommand.usage}`);
    if (!spec.startsWith('zoo:')) checkOutput(out, [spec]);
    const dataSpec = optString(args, 'data');
    const retrain = optChoice<ShrinkRetrainMode>(args, 'retrain', ['distill', 'none'], dataSpec === undefined ? 'none' : 'distill');
    if (retrain === 'distill' && dataSpec === undefined) throw new RebirthError('--retrain distill needs --data fashion-mnist (or DIR); pass --retrain none to merge without retraining');
    refuseWithoutRetraining(args, retrain, ['batch-norm', 'ema', 'anneal', 'polish', 'polish-lr', 'validation', 'augment', 'hints']);
    if (args.values.speedup !== undefined && args.values['latency-budget'] !== undefined) throw new RebirthError('give --speedup or --latency-budget, not both');
    const checkpoint = optString(args, 'checkpoint');
    if (checkpoint) checkOutput(checkpoint, [spec, out]);
    const { model, file } = resolveModel(spec, inputShapeArgs(args, dataSpec === undefined ? 'run' : 'train'));
    const limit = args.values.limit === undefined ? undefined : optInt(args, 'limit', 0, { min: 1 });
    const json = optFlag(args, 'json');
    const opened = dataSpec === undefined ? undefined : openCliTrainEval(args, model, limit);
    let calibration: Calibration | undefined;
    if (opened) calibration = await calibrationFromData(opened.train.data, optInt(args, 'calibration', 512, { min: 1 }));
    const importance = args.values.importance === undefined ? undefined : optChoice(args, 'importance', ['labels', 'kl'] as const, 'kl');
    const target = optChoice(args, 'target', SHRINK_TARGETS, 'node');
    const result = await shrinkAndRetrain(model, {
      retrain,
      target,
      ...(args.values['latency-budget'] !== undefined
        ? { latencyBudgetMs: optNumber(args, 'latency-budget', 1, { min: 1e-6 }) }
        : { speedup: optNumber(args, 'speedup', 1.5, { min: 1 }) }),
      padding: optChoice(args, 'padding', ['push', 'exact'] as const, 'push'),
      maxUnits: optInt(args, 'max-units', 4, { min: 1, max: 16 }),
      maxKernel: optInt(args, 'max-kernel', 7, { min: 1, max: 31 }),
      maxMacRatio: optNumber(args, 'max-mac-ratio', 2, { min: 0.01 }),
      skipBlocks: optFlag(args, 'skip-blocks'),
      rounds: optInt(args, 'rounds', 3, { min: 1, max: 10 }),
      runs: optInt(args, 'runs', 20, { min: 3 }),
      clock: optChoice(args, 'clock', ['cpu', 'wall'] as const, defaultClock(target)),
      threads: optInt(args, 'threads', 2, { min: 1, max: 64 }),
      seed: optInt(args, 'seed', 1, { min: 0 }),
      epochs: optNumber(args, 'epochs', 1, { min: 0.01 }),
      lr: optNumber(args, 'lr', 0.002, { min: 0 }),
      anneal: optInt(args, 'anneal', 0, { min: 0, max: 100 }),
      batchNorm: optFlag(args, 'batch-norm'),
      ema: optNumber(args, 'ema', 0, { min: 0, max: 0.999999 }),
      polish: optNumber(args, 'polish', 0, { min: 0 }),
      hints: optNumber(args, 'hints', 0, { min: 0 }),
      ...validationArg(args),
      ...(opened ? augmentArg(args, opened.train.data.shape[1]) : {}),
      ...(args.values['polish-lr'] !== undefined ? { polishLr: optNumber(args, 'polish-lr', 0.001, { min: 0 }) } : {}),
      progress: !json,
      ...(importance ? { importance } : {}),
      ...(calibration ? { calibration } : {}),
      ...(opened ? { train: opened.train.data, test: opened.test.data } : {}),
      ...(checkpoint ? { checkpoint } : {}),
      ...(json ? {} : { log: (m: string) => process.stderr.write(`${m}\n`) }),
    });
    if (opened) recordData(result.model, opened.train, opened.test);
    saveModel(result.model, out, { protect: file ? [file] : [] });
    const p = result.planned;
    if (json) {
      printJson({
        output: out, target: p.target, wanted: p.speedup, latency: result.latency, accuracy: result.accuracy ?? null,
        plan: p.plan.items.filter((i) => i.kind !== 'keep').map((i) => ({ id: i.id, kind: i.kind, what: i.label, removed: i.removed.map((a) => a.name) })),
        rounds: p.rounds.map((r) => ({ budgetMs: r.budgetMs, predicted: r.plan.baselineMs / r.plan.predictedMs, measured: r.measuredSpeedup, importance: r.plan.importance })),
        ...(optFlag(args, 'explain') ? {
          table: p.candidates.items.map((i) => ({ id: i.id, kind: i.kind, what: i.label, ms: p.table.ms.get(i.id) ?? null, importance: p.importance.delta.get(i.id) ?? 0 })),
          refused: p.candidates.refusals,
        } : {}),
        maxRelError: result.verification.maxRelError, history: result.history, ...(result.diverged ? { diverged: result.diverged } : {}),
      });
      return;
    }
    const lines: string[] = [];
    if (optFlag(args, 'explain')) lines.push(explainShrink(p), '');
    const merges = p.plan.items.filter((i) => i.kind !== 'keep');
    if (merges.length === 0) lines.push('nothing to merge under this budget: the model is unchanged apart from the exact folds');
    for (const i of merges) lines.push(`${i.kind === 'skip' ? 'skipped' : 'merged'} ${i.label} (removes ${i.removed.map((a) => a.name).join(', ') || 'no activation'})`);
    lines.push(`final merge exact to ${result.verification.maxRelError.toExponential(1)} relative (vs the retrained network)`);
    if (result.accuracy) {
      const a = result.accuracy;
      lines.push(`top-1 before ${formatPercent(a.before, 2)}, linearized before retraining ${formatPercent(a.linearized, 2)}, ` +
        `${a.merged !== a.after ? `merged ${formatPercent(a.merged, 2)}, after polishing ` : 'after '}${formatPercent(a.after, 2)}`);
    }
    if (result.polish) {
      const v = result.polish.validation;
      lines.push(`polish ${result.polish.kept ? 'kept' : 'not kept (the exact merge is the result)'}: held-out top-1 ${formatPercent(v.before, 2)} before it, ${formatPercent(v.after, 2)} after`);
    }
    if (result.diverged) lines.push(`warning: retraining diverged (${result.diverged})`);
    const l = result.latency;
    lines.push(`latency ${p.target} (1 thread, ${p.table.clock} clock): ${l.beforeMs.toFixed(3)} ms -> ${l.afterMs.toFixed(3)} ms (${l.speedup.toFixed(2)}x paired, 95% ${l.interval[0].toFixed(2)}-${l.interval[1].toFixed(2)} over ${l.rounds} rounds; wanted ${p.speedup.toFixed(2)}x)`);
    lines.push(`wrote ${out}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};

import type { ParseArgsConfig } from 'node:util';
import type { Model } from '../ir/graph.js';
import { openData, openTrainEval, type OpenDataOptions, type OpenedData, type Split } from '../data/open.js';
import { loadClassNames, loadPreprocess, recordDataInfo } from '../data/preprocess.js';
import { dataOrigin, isLabeled } from '../data/source.js';
import { RebirthError } from '../errors.js';
import { defaultAugment, type AugmentOptions } from '../data/dataset.js';
import { optFlag, optInt, optString, type ParsedArgs } from './command.js';

type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** The data options every command that reads data takes, besides --data itself. */
export const DATA_OPTIONS: OptionSpec = {
  'eval-data': { type: 'string' }, preprocess: { type: 'string' }, classes: { type: 'string' }, workers: { type: 'string' },
};

/** --validation N of the commands that retrain: training images held out to choose the epoch. */
export const VALIDATION_OPTION: OptionSpec = { validation: { type: 'string' } };

/** The retraining's `validation` from --validation (absent: the command's default). */
export function validationArg(args: ParsedArgs): { validation?: number } {
  return args.values.validation === undefined ? {} : { validation: optInt(args, 'validation', 0, { min: 0 }) };
}

/**
 * Refuses options that only shape the retraining when there is none (`--retrain none`), before any work:
 * one message for every command that retrains, so a user sees the same rule from merge, tucker and shrink.
 */
export function refuseWithoutRetraining(args: ParsedArgs, retrain: string, flags: readonly string[]): void {
  if (retrain !== 'none') return;
  const given = flags.find((f) => args.values[f] !== undefined);
  if (given !== undefined) throw new RebirthError(`--${given} only changes the retraining; it needs --data and a --retrain other than none`);
}

export const AUGMENT_OPTION: OptionSpec = { augment: { type: 'boolean' } };

/** --augment: random crops and mirrors of the retraining images (defaultAugment for images of this height). */
export function augmentArg(args: ParsedArgs, height: number): { augment?: AugmentOptions } {
  return optFlag(args, 'augment') ? { augment: defaultAugment(height) } : {};
}

/** Usage text of DATA_OPTIONS. */
export const DATA_USAGE = '[--data fashion-mnist|DIR|X.npy[,Y.npy]] [--eval-data DIR] [--preprocess unit|imagenet|caffe|FILE.json] [--classes FILE] [--workers N]';

/** The OpenDataOptions the flags give (the model supplies input size, and recorded preprocessing and classes). */
export function dataOptions(args: ParsedArgs, model: Model, limit?: number): Omit<OpenDataOptions, 'split'> {
  const pre = optString(args, 'preprocess');
  const classes = optString(args, 'classes');
  return {
    model,
    ...(pre ? { preprocess: loadPreprocess(pre) } : {}),
    ...(classes ? { classNames: loadClassNames(classes) } : {}),
    ...(args.values.workers === undefined ? {} : { workers: optInt(args, 'workers', 2, { min: 1, max: 64 }) }),
    ...(limit ? { limit } : {}),
  };
}

/** One split of --data (eval: the test split of a train/val folder, or the folder itself). */
export function openCliData(args: ParsedArgs, model: Model, split: Split, limit?: number): OpenedData {
  return openData(optString(args, 'data'), { ...dataOptions(args, model, limit), split });
}

/** Training data (--data) and evaluation data (--eval-data, else the test split of --data). */
export function openCliTrainEval(args: ParsedArgs, model: Model, limit?: number): { train: OpenedData; test: OpenedData } {
  return openTrainEval(optString(args, 'data'), optString(args, 'eval-data'), dataOptions(args, model, limit));
}

/** Fail before any work when a label-trained mode (--retrain paper) gets unlabeled training data. */
export function checkRetrainLabels(train: OpenedData, retrain: string): void {
  if (retrain === 'paper' && !isLabeled(train.data)) {
    throw new RebirthError(`${dataOrigin(train.data)} is unlabeled (no class folders): --retrain paper trains on labels; use --retrain distill to learn from the teacher alone`);
  }
}

/** Record in a model about to be written what data it was made with: preprocessing and class names. */
export function recordData(model: Model, train: OpenedData, test?: OpenedData): void {
  const classNames = train.classNames ?? test?.classNames;
  const preprocess = train.preprocess ?? test?.preprocess;
  recordDataInfo(model, { ...(preprocess ? { preprocess } : {}), ...(classNames ? { classNames: [...classNames] } : {}) });
}

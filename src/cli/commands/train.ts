import { train } from '../../train/trainer.js';
import { parseSchedule } from '../../train/schedule.js';
import { batchCount } from '../../data/dataset.js';
import { saveModel } from '../../onnx/file.js';
import { formatPercent, formatTable } from '../../util/format.js';
import { RebirthError } from '../../errors.js';
import { resolveModel } from '../models.js';
import { INPUT_SHAPE_OPTION, inputShapeArgs } from '../input-shape.js';
import { AUGMENT_OPTION, DATA_OPTIONS, VALIDATION_OPTION, augmentArg, openCliTrainEval, recordData, validationArg } from '../data.js';
import { holdOut } from '../../data/source.js';
import { checkOutput, optChoice, optFlag, optInt, optNumber, optString, positional, printJson, type Command } from '../command.js';

export const trainCommand: Command = {
  name: 'train',
  summary: 'train a model on Fashion-MNIST on ONNX Runtime (generated backward graph)',
  usage: 'rebirth train MODEL [--input-shape NAME=D1,D2,...] --data fashion-mnist|DIR|X.npy[,Y.npy] [--eval-data DIR] [--preprocess unit|imagenet|caffe|FILE.json] [--classes FILE] [--workers N] --epochs N [--validation N] -o OUT [--lr 0.05] [--batch 64] [--optimizer sgd|adam|adamw] ' +
    '[--momentum 0.9] [--nesterov] [--weight-decay 5e-4] [--schedule cosine|constant|step:EPOCHS:GAMMA] [--warmup EPOCHS] ' +
    '[--smoothing 0.1] [--ema 0.999] [--augment] [--freeze-bn] [--seed N] [--threads N] [--replicas N|auto] [--limit N] [--resume] [--json]',
  options: {
    ...INPUT_SHAPE_OPTION,
    ...DATA_OPTIONS,
    ...VALIDATION_OPTION,
    data: { type: 'string' }, epochs: { type: 'string' }, output: { type: 'string', short: 'o' }, lr: { type: 'string' },
    batch: { type: 'string' }, optimizer: { type: 'string' }, momentum: { type: 'string' }, nesterov: { type: 'boolean' },
    'weight-decay': { type: 'string' }, schedule: { type: 'string' }, warmup: { type: 'string' }, smoothing: { type: 'string' }, ema: { type: 'string' },
    ...AUGMENT_OPTION, seed: { type: 'string' }, threads: { type: 'string' }, replicas: { type: 'string' }, limit: { type: 'string' },
    resume: { type: 'boolean' }, json: { type: 'boolean' }, 'freeze-bn': { type: 'boolean' },
  },
  async run(args) {
    const spec = positional(args, 0, 'MODEL', trainCommand);
    const out = optString(args, 'output');
    if (!out) throw new RebirthError(`rebirth train: missing -o OUT; usage: ${trainCommand.usage}`);
    const epochs = optInt(args, 'epochs', 10, { min: 1, max: 10000 });
    const batchSize = optInt(args, 'batch', 64, { min: 1, max: 65536 });
    const limit = args.values.limit === undefined ? undefined : optInt(args, 'limit', 0, { min: 1 });
    const seed = optInt(args, 'seed', 1, { min: 0 });
    const kind = optChoice(args, 'optimizer', ['sgd', 'adam', 'adamw'] as const, 'sgd');
    const lr = optNumber(args, 'lr', kind === 'sgd' ? 0.05 : 1e-3, { min: 0 });
    const weightDecay = optNumber(args, 'weight-decay', kind === 'adamw' ? 0.05 : 5e-4, { min: 0 });
    if (!spec.startsWith('zoo:')) checkOutput(out, [spec]);
    const { model, file } = resolveModel(spec, inputShapeArgs(args, 'train'));
    const opened = openCliTrainEval(args, model, limit);
    const held = validationArg(args).validation ?? 0;
    // --validation: the epoch is chosen on training images held out; the test set is only reported.
    const split = held > 0 ? holdOut(opened.train.data, held) : undefined;
    const data = split?.train ?? opened.train.data;
    const test = opened.test.data;
    const stepsPerEpoch = batchCount(data.count, batchSize, true);
    const result = await train(model, data, {
      epochs, batchSize, lr, seed,
      optimizer: kind === 'sgd'
        ? { kind, momentum: optNumber(args, 'momentum', 0.9, { min: 0, max: 1 }), nesterov: optFlag(args, 'nesterov'), weightDecay }
        : { kind, weightDecay },
      schedule: {
        config: parseSchedule(optString(args, 'schedule') ?? 'cosine', stepsPerEpoch),
        warmupSteps: Math.round(optNumber(args, 'warmup', 0, { min: 0 }) * stepsPerEpoch),
      },
      loss: { kind: 'cross-entropy', smoothing: optNumber(args, 'smoothing', 0, { min: 0, max: 1 }) },
      ...augmentArg(args, data.shape[1]),
      freezeBatchNorm: optFlag(args, 'freeze-bn'),
      ema: optNumber(args, 'ema', 0, { min: 0, max: 0.999999 }),
      threads: optInt(args, 'threads', 2, { min: 1, max: 64 }),
      ...(args.values.replicas !== undefined ? { replicas: optString(args, 'replicas') === 'auto' ? 'auto' as const : optInt(args, 'replicas', 1, { min: 1, max: 64 }) } : {}),
      checkpoint: `${out}.ckpt`,
      resume: optFlag(args, 'resume'),
      evalData: test,
      ...(split ? { selectData: split.validation } : {}),
      onEpoch: (s) => {
        if (!optFlag(args, 'json')) {
          process.stderr.write(`epoch ${s.epoch}: loss ${s.loss.toFixed(4)}, train ${formatPercent(s.trainTop1)}, ` +
            `${s.validation ? `validation ${formatPercent(s.validation.top1, 2)}, ` : ''}test ${s.eval ? formatPercent(s.eval.top1, 2) : '-'}, ${s.imagesPerSecond.toFixed(0)} img/s\n`);
        }
      },
    });
    recordData(result.model, opened.train, opened.test);
    saveModel(result.model, out, { protect: file ? [file] : [] });
    const best = result.history[result.bestEpoch - 1];
    if (optFlag(args, 'json')) {
      printJson({ output: out, bestEpoch: result.bestEpoch, validation: held, top1: best?.eval?.top1, history: result.history });
    } else {
      process.stdout.write(`${formatTable(['epoch', 'loss', 'train top-1', ...(split ? ['validation top-1'] : []), 'test top-1', 'img/s'], result.history.map((s) => [
        s.epoch, s.loss.toFixed(4), formatPercent(s.trainTop1, 2), ...(split ? [s.validation ? formatPercent(s.validation.top1, 2) : '-'] : []),
        s.eval ? formatPercent(s.eval.top1, 2) : '-', s.imagesPerSecond.toFixed(0),
      ]))}\n${split ? `epoch ${result.bestEpoch} (chosen on ${held} held-out training images)` : `best epoch ${result.bestEpoch}`}: test top-1 ${best?.eval ? formatPercent(best.eval.top1, 2) : '-'}; wrote ${out}\n`);
    }
  },
};

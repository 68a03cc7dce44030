import { buildTrainingGraph } from '../../autodiff/training-graph.js';
import { encodeModel } from '../../onnx/encode.js';
import { readNpy, npyToFloat32 } from '../../data/npy.js';
import { Session, type HostTensor } from '../../runtime/session.js';
import { floatParamNames, readParams } from '../../train/params.js';
import { RebirthError } from '../../errors.js';
import { resolveModel } from '../models.js';
import { INPUT_SHAPE_OPTION, inputShapeArgs } from '../input-shape.js';
import { optChoice, optFlag, optInt, optString, positional, printJson, type Command } from '../command.js';

export const gradCommand: Command = {
  name: 'grad',
  summary: 'loss and parameter gradients of a model on given inputs (training-mode forward), for debugging and cross-checks',
  usage: 'rebirth grad MODEL [--input-shape NAME=D1,D2,...] --inputs X.npy --labels Y.npy [--loss cross-entropy|mse] [--freeze-bn] [--dropout on|off] [--seed N] [--json]',
  options: {
    ...INPUT_SHAPE_OPTION,
    inputs: { type: 'string' }, labels: { type: 'string' }, loss: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' },
    'freeze-bn': { type: 'boolean' }, dropout: { type: 'string' },
  },
  async run(args) {
    const { model } = resolveModel(positional(args, 0, 'MODEL', gradCommand), inputShapeArgs(args, 'train'));
    const inputsFile = optString(args, 'inputs');
    const labelsFile = optString(args, 'labels');
    if (!inputsFile || !labelsFile) throw new RebirthError(`rebirth grad: --inputs X.npy and --labels Y.npy are required; usage: ${gradCommand.usage}`);
    const lossKind = optChoice(args, 'loss', ['cross-entropy', 'mse'] as const, 'cross-entropy');
    const dropout = optChoice(args, 'dropout', ['on', 'off'] as const, 'on');
    const seed = optInt(args, 'seed', 1, { min: 0 });
    const x = readNpy(inputsFile);
    const y = readNpy(labelsFile);
    // BatchNormalization running statistics are state, not parameters (floatParamNames leaves them out);
    // their updated values are reported under `state`, with PyTorch's running-variance convention.
    const trainable = floatParamNames(model);
    const tg = buildTrainingGraph(model, {
      loss: { kind: lossKind }, trainable, seed, freezeBatchNorm: optFlag(args, 'freeze-bn'),
      runningVariance: 'unbiased', dropoutMasks: dropout === 'off' ? 'none' : 'seed',
    });
    if (!tg.inputName || !tg.labelsName) throw new RebirthError('model needs one data input and an output the loss can read');
    const params = readParams(model);
    const feeds: Record<string, HostTensor> = {
      [tg.inputName]: { type: 'float32', dims: x.shape, data: npyToFloat32(x) },
      [tg.labelsName]: lossKind === 'cross-entropy'
        ? { type: 'int64', dims: y.shape, data: BigInt64Array.from(npyToFloat32(y), (v) => BigInt(Math.round(v))) }
        : { type: 'float32', dims: y.shape, data: npyToFloat32(y) },
    };
    if (tg.seedName) feeds[tg.seedName] = { type: 'int64', dims: [], data: BigInt64Array.of(BigInt(seed)) };
    for (const name of [...tg.paramInputs, ...tg.stateInputs]) {
      const p = params.get(name);
      if (!p) throw new RebirthError(`training graph input '${name}' is not a float initializer`);
      feeds[name] = { type: 'float32', dims: model.graph.initializers.get(name)?.dims ?? [p.length], data: p };
    }
    const session = await Session.create(encodeModel(tg.model), { threads: 2 });
    let out: Record<string, HostTensor>;
    try {
      out = await session.run(feeds);
    } finally {
      await session.release();
    }
    const loss = out[tg.lossOutput]?.data[0];
    const gradients: Record<string, number[]> = {};
    for (const [param, name] of Object.entries(tg.gradOutputs)) {
      const g = out[name];
      if (g && g.type === 'float32') gradients[param] = Array.from(g.data);
    }
    const state: Record<string, number[]> = {};
    for (const [stat, name] of Object.entries(tg.extraOutputs)) {
      const v = out[name];
      if (v && v.type === 'float32') state[stat] = Array.from(v.data);
    }
    if (optFlag(args, 'json')) printJson({ loss: Number(loss), gradients, state });
    else {
      process.stdout.write(`loss ${Number(loss)}\n`);
      for (const [k, v] of Object.entries(gradients)) {
        const norm = Math.sqrt(v.reduce((s, a) => s + a * a, 0));
        process.stdout.write(`${k}: ${v.length} values, L2 norm ${norm.toPrecision(6)}\n`);
      }
      const stats = Object.keys(state).length;
      if (stats > 0) process.stdout.write(`${stats} BatchNormalization running statistics updated (--json prints them under "state")\n`);
    }
  },
};

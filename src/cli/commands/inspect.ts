import { inferShapes } from '../../shapes/infer.js';
import { formatSummary, inspectModel } from '../../inspect/inspect.js';
import { resolveModel } from '../models.js';
import { INPUT_SHAPE_OPTION, inputShapeArgs } from '../input-shape.js';
import { optFlag, positional, printJson, type Command } from '../command.js';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'list layers, shapes, parameters and FLOPs of a model',
  usage: 'rebirth inspect MODEL [--input-shape NAME=D1,D2,...] [--json]   (MODEL: a file or zoo:NAME)',
  options: { json: { type: 'boolean' }, ...INPUT_SHAPE_OPTION },
  run(args) {
    const { model } = resolveModel(positional(args, 0, 'MODEL', inspectCommand), inputShapeArgs(args, 'inspect'));
    inferShapes(model);
    const summary = inspectModel(model);
    if (optFlag(args, 'json')) printJson(summary);
    else process.stdout.write(`${formatSummary(summary)}\n`);
    return Promise.resolve();
  },
};

import { inferShapes } from '../../shapes/infer.js';
import { formatSummary, inspectModel } from '../../inspect/inspect.js';
import { resolveModel } from '../models.js';
import { optFlag, positional, printJson, type Command } from '../command.js';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'list layers, shapes, parameters and FLOPs of a model',
  usage: 'rebirth inspect MODEL [--json]   (MODEL: a file or zoo:NAME)',
  options: { json: { type: 'boolean' } },
  run(args) {
    const { model } = resolveModel(positional(args, 0, 'MODEL', inspectCommand));
    inferShapes(model);
    const summary = inspectModel(model);
    if (optFlag(args, 'json')) printJson(summary);
    else process.stdout.write(`${formatSummary(summary)}\n`);
    return Promise.resolve();
  },
};

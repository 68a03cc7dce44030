import { evaluate } from '../../train/evaluate.js';
import { formatPercent, formatTable } from '../../util/format.js';
import { Progress } from '../../util/progress.js';
import { resolveModel } from '../models.js';
import { resolveData } from '../data.js';
import { optChoice, optFlag, optInt, optString, positional, printJson, type Command } from '../command.js';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'accuracy (top-1, top-5, per class) of a model on the Fashion-MNIST test set',
  usage: 'rebirth eval MODEL --data fashion-mnist|DIR [--backend node|wasm] [--threads N] [--limit N] [--json]',
  options: { data: { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } },
  async run(args) {
    const { model } = resolveModel(positional(args, 0, 'MODEL', evalCommand));
    const limit = args.values.limit === undefined ? undefined : optInt(args, 'limit', 0, { min: 1 });
    const data = resolveData(optString(args, 'data'), 'test', limit);
    const bar = new Progress({ total: data.count, label: 'evaluating', unit: 'img' });
    let last = 0;
    const r = await evaluate(model, data, {
      backend: optChoice(args, 'backend', ['node', 'wasm'] as const, 'node'),
      threads: optInt(args, 'threads', 2, { min: 1, max: 64 }),
      onProgress: (done) => { bar.tick(done - last); last = done; },
    });
    bar.done();
    if (optFlag(args, 'json')) printJson(r);
    else {
      process.stdout.write(`top-1 ${formatPercent(r.top1, 2)}, top-5 ${formatPercent(r.top5, 2)} on ${r.samples} images\n\n` +
        `${formatTable(['class', 'accuracy', 'images'], r.perClass.map((c) => [c.name, formatPercent(c.accuracy, 1), c.count]))}\n`);
    }
  },
};

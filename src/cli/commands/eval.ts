import { evaluate } from '../../train/evaluate.js';
import { evalReport } from '../../train/evaluate-report.js';
import { writeFileAtomic } from '../../onnx/file.js';
import { formatPercent, formatTable } from '../../util/format.js';
import { Progress } from '../../util/progress.js';
import { resolveModel } from '../models.js';
import { INPUT_SHAPE_OPTION, inputShapeArgs } from '../input-shape.js';
import { DATA_OPTIONS, openCliData } from '../data.js';
import { checkOutput, optChoice, optFlag, optInt, optString, positional, printJson, type Command } from '../command.js';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'accuracy (top-1, top-5, per class, confusion) of a model on Fashion-MNIST, an image folder or .npy arrays',
  usage: 'rebirth eval MODEL [--input-shape NAME=D1,D2,...] [--data fashion-mnist|DIR|X.npy,Y.npy] [--preprocess unit|imagenet|caffe|FILE.json] [--classes FILE] ' +
    '[--html REPORT.html] [--backend node|wasm] [--threads N] [--batch N] [--workers N] [--limit N] [--json]',
  options: {
    ...INPUT_SHAPE_OPTION,
    data: { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' },
    html: { type: 'string' }, batch: { type: 'string' }, ...DATA_OPTIONS,
  },
  async run(args) {
    const spec = positional(args, 0, 'MODEL', evalCommand);
    const html = optString(args, 'html');
    if (html) checkOutput(html, [spec.startsWith('zoo:') ? undefined : spec]);
    const { model } = resolveModel(spec, inputShapeArgs(args, 'inspect'));
    const limit = args.values.limit === undefined ? undefined : optInt(args, 'limit', 0, { min: 1 });
    const { data } = openCliData(args, model, 'test', limit);
    const json = optFlag(args, 'json');
    const bar = new Progress({ total: data.count, label: 'evaluating', unit: 'img' });
    let last = 0;
    const r = await evaluate(model, data, {
      backend: optChoice(args, 'backend', ['node', 'wasm'] as const, 'node'),
      threads: optInt(args, 'threads', 2, { min: 1, max: 64 }),
      ...(args.values.batch === undefined ? {} : { batchSize: optInt(args, 'batch', 256, { min: 1, max: 65536 }) }),
      onProgress: (done) => { bar.tick(done - last); last = done; },
    });
    bar.done();
    if (html) writeFileAtomic(html, evalReport(r, `rebirth eval: ${spec}`, `data ${optString(args, 'data') ?? 'fashion-mnist'}`));
    if (json) printJson({ ...r, ...(html ? { report: html } : {}) });
    else {
      process.stdout.write(`top-1 ${formatPercent(r.top1, 2)}, top-5 ${formatPercent(r.top5, 2)} on ${r.samples} images` +
        `${r.skipped.count ? ` (${r.skipped.count} undecodable file(s) skipped)` : ''}\n\n` +
        `${formatTable(['class', 'top-1', 'top-5', 'images'], r.perClass.map((c) => [c.name, formatPercent(c.accuracy, 1), formatPercent(c.top5, 1), c.count]))}\n` +
        `${html ? `wrote ${html}\n` : ''}`);
    }
  },
};

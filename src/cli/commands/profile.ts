import { profileLayers } from '../../profile/layers.js';
import { formatProfile, profileHtml } from '../../profile/report.js';
import { writeFileAtomic } from '../../onnx/file.js';
import { Progress } from '../../util/progress.js';
import { resolveModel } from '../models.js';
import { optChoice, optFlag, optInt, optString, positional, printJson, type Command } from '../command.js';

export const profileCommand: Command = {
  name: 'profile',
  summary: 'measure latency and per-layer time on ONNX Runtime, split into tensor / non-tensor layers',
  usage: 'rebirth profile MODEL [--backend node|wasm] [--threads N] [--opt disabled|basic|extended|all] [--runs N] [--warmup N] [--json] [--html FILE]',
  options: {
    backend: { type: 'string' }, threads: { type: 'string' }, opt: { type: 'string' }, runs: { type: 'string' },
    warmup: { type: 'string' }, json: { type: 'boolean' }, html: { type: 'string' },
  },
  async run(args) {
    const spec = positional(args, 0, 'MODEL', profileCommand);
    const backend = optChoice(args, 'backend', ['node', 'wasm'] as const, 'node');
    const threads = optInt(args, 'threads', 1, { min: 1, max: 64 });
    const optLevel = optChoice(args, 'opt', ['disabled', 'basic', 'extended', 'all'] as const, 'all');
    const runs = optInt(args, 'runs', 20, { min: 1, max: 100000 });
    const warmup = optInt(args, 'warmup', 3, { min: 0, max: 10000 });
    const html = optString(args, 'html');
    const { model } = resolveModel(spec);
    let bar: Progress | undefined;
    let last = 0;
    const result = await profileLayers(model, {
      backend, threads, optLevel, runs, warmup, name: spec,
      onProgress: (done, total) => {
        bar ??= new Progress({ total, label: `profiling ${spec} on ${backend}`, unit: 'run' });
        bar.tick(done - last);
        last = done;
      },
    });
    bar?.done();
    if (html) writeFileAtomic(html, profileHtml(result));
    if (optFlag(args, 'json')) printJson(result);
    else process.stdout.write(`${formatProfile(result)}\n${html ? `\nreport: ${html}\n` : ''}`);
  },
};

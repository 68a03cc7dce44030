import { profileLayers } from '../../profile/layers.js';
import { formatProfile, profileHtml } from '../../profile/report.js';
import { writeFileAtomic } from '../../onnx/file.js';
import { Progress } from '../../util/progress.js';
import { resolveModel } from '../models.js';
import { INPUT_SHAPE_OPTION, inputShapeArgs } from '../input-shape.js';
import { optChoice, optFlag, optInt, optString, positional, printJson, type Command } from '../command.js';

export const profileCommand: Command = {
  name: 'profile',
  summary: 'measure latency and per-layer time on ONNX Runtime, split into tensor / non-tensor layers',
  usage: 'rebirth profile MODEL [--input-shape NAME=D1,D2,...] [--backend node|wasm|browser|browser:wasm|browser:webgpu] [--threads N] [--opt disabled|basic|extended|all] [--runs N] [--warmup N] [--allow-fallback-adapter] [--json] [--html FILE]',
  options: {
    ...INPUT_SHAPE_OPTION,
    backend: { type: 'string' }, threads: { type: 'string' }, opt: { type: 'string' }, runs: { type: 'string' },
    warmup: { type: 'string' }, json: { type: 'boolean' }, html: { type: 'string' }, 'allow-fallback-adapter': { type: 'boolean' },
  },
  async run(args) {
    const spec = positional(args, 0, 'MODEL', profileCommand);
    // 'browser' is onnxruntime-web's WASM backend in headless Chromium (docs/browser.md).
    const choice = optChoice(args, 'backend', ['node', 'wasm', 'browser', 'browser:wasm', 'browser:webgpu'] as const, 'node');
    const backend = choice === 'browser' ? 'browser:wasm' : choice;
    const threads = optInt(args, 'threads', 1, { min: 1, max: 64 });
    const optLevel = optChoice(args, 'opt', ['disabled', 'basic', 'extended', 'all'] as const, 'all');
    const runs = optInt(args, 'runs', 20, { min: 1, max: 100000 });
    const warmup = optInt(args, 'warmup', 3, { min: 0, max: 10000 });
    const html = optString(args, 'html');
    const { model } = resolveModel(spec, inputShapeArgs(args, 'run'));
    let bar: Progress | undefined;
    let last = 0;
    const result = await profileLayers(model, {
      backend, threads, optLevel, runs, warmup, name: spec,
      ...(optFlag(args, 'allow-fallback-adapter') ? { browser: { allowFallbackAdapter: true } } : {}),
      onProgress: (done, total) => {
        bar ??= new Progress({ total, label: `profiling ${spec} on ${backend}`, unit: 'run' });
        bar.tick(done - last);
        last = done;
      },
    });
    bar?.done();
    if (html) writeFileAtomic(html, profileHtml(result));
    if (optFlag(args, 'json')) printJson(result);
    else {
      const r = result.runtime;
      const where = backend.startsWith('browser:') ? `runtime: onnxruntime-web ${r.executionProvider}${r.adapter ? ` (${r.adapter})` : ''}, ${r.threads} thread(s), in ${r.userAgent}\n` : '';
      const covered = `${result.layers.length} kernels account for ${result.modelNodes - result.unattributed.length} of ${result.modelNodes} model nodes${result.unattributed.length ? ` (not: ${result.unattributed.slice(0, 5).join(', ')}${result.unattributed.length > 5 ? ', ...' : ''})` : ''}\n`;
      process.stdout.write(`${where}${covered}${formatProfile(result)}\n${html ? `\nreport: ${html}\n` : ''}`);
    }
  },
};

import { tuckerDecompose, type TuckerRankRule } from '../../rebirth/tucker.js';
import { timeModels } from '../../rebirth/plan.js';
import { encodeModel } from '../../onnx/encode.js';
import { saveModel } from '../../onnx/file.js';
import { formatTable } from '../../util/format.js';
import { RebirthError } from '../../errors.js';
import { resolveModel } from '../models.js';
import { checkOutput, optChoice, optFlag, optInt, optString, positional, printJson, type Command } from '../command.js';

/** --ranks vbmf | energy:F | latency:F | FILE.json */
function parseRanks(text: string): TuckerRankRule {
  if (text === 'vbmf') return 'vbmf';
  const m = /^(energy|latency):(\d*\.?\d+)$/.exec(text);
  if (m) {
    const v = Number(m[2]);
    if (!(v > 0 && v <= 1)) throw new RebirthError(`--ranks ${text}: the fraction must be in (0, 1]`);
    return m[1] === 'energy' ? { energy: v } : { latency: v };
  }
  if (text.endsWith('.json')) return { file: text };
  throw new RebirthError(`--ranks must be vbmf, energy:0.9, latency:0.7 or a ranks FILE.json, got '${text}'`);
}

export const tuckerCommand: Command = {
  name: 'tucker',
  summary: 'Tucker-2 / SVD decomposition of convs and FC layers (Kim et al. 2016), ranks by VBMF, energy, latency or file',
  usage: 'rebirth tucker MODEL -o OUT [--ranks vbmf|energy:0.9|latency:0.7|FILE.json] [--only L1,L2] [--backend node|wasm] [--no-measure] [--hooi N] [--runs N] [--json]',
  options: {
    output: { type: 'string', short: 'o' }, ranks: { type: 'string' }, only: { type: 'string' }, backend: { type: 'string' },
    'no-measure': { type: 'boolean' }, hooi: { type: 'string' }, runs: { type: 'string' }, json: { type: 'boolean' },
  },
  async run(args) {
    const spec = positional(args, 0, 'MODEL', tuckerCommand);
    const out = optString(args, 'output');
    if (!out) throw new RebirthError(`rebirth tucker: missing -o OUT; usage: ${tuckerCommand.usage}`);
    if (!spec.startsWith('zoo:')) checkOutput(out, [spec]);
    const ranks = parseRanks(optString(args, 'ranks') ?? 'vbmf');
    const backend = optChoice(args, 'backend', ['node', 'wasm'] as const, 'node');
    const only = optString(args, 'only')?.split(',').map((s) => s.trim()).filter(Boolean);
    const runs = optInt(args, 'runs', 20, { min: 1 });
    const { model, file } = resolveModel(spec);
    const r = await tuckerDecompose(model, {
      ranks, backend, measure: !optFlag(args, 'no-measure'), hooi: optInt(args, 'hooi', 0, { min: 0, max: 100 }), runs,
      ...(only ? { only } : {}),
    });
    const t = await timeModels({ before: encodeModel(model), after: encodeModel(r.model) }, { backend, threads: 1, runs });
    saveModel(r.model, out, { protect: file ? [file] : [] });
    const latencyMs = { before: t.before?.medianMs ?? NaN, after: t.after?.medianMs ?? NaN };
    if (optFlag(args, 'json')) {
      printJson({ layers: r.layers, latencyMs, newParams: r.newParams, output: out });
      return;
    }
    const done = r.layers.filter((l) => l.decomposed);
    process.stdout.write(`${formatTable(['layer', 'method', 'ranks', 'FLOPs before', 'after', 'params before', 'after', 'weight rel. error', 'layer ms before', 'after'],
      done.map((l) => [l.name, l.method, `${l.ranks[0]},${l.ranks[1]}`, l.flopsBefore, l.flopsAfter, l.paramsBefore, l.paramsAfter,
        l.relError.toFixed(3), l.latencyBefore?.toFixed(3) ?? '-', l.latencyAfter?.toFixed(3) ?? '-']))}\n` +
      `${done.length} of ${r.layers.length} layers decomposed; model latency (${backend}, 1 thread) ${latencyMs.before.toFixed(2)} -> ${latencyMs.after.toFixed(2)} ms\nwrote ${out}\n`);
  },
};

/**
 * Runtime-aware plans on BVLC GoogLeNet 224x224 (random weights, batch 1, 1 thread): per target, the
 * merge plan (`rebirth merge --target T`: merges + fusions kept where they pay on T) and the Merge +
 * Tucker plan (Tucker ranks 1/2 or 1/4 of each conv's channels, per block, planned on top of the merge
 * plan), then the original and both planned models timed interleaved in one run on T, speed-ups paired
 * against the original of that run with their 95% intervals (bench/harness.ts).
 *
 * usage: npx tsx bench/plan.ts [--targets node,wasm] [--runs N] [--fractions 0.5,0.25] [--cache DIR] [--no-tucker]
 *   --cache DIR   reuse / write plans there (default: a fresh temp dir, so every run plans afresh)
 *   --json FILE, --strict, --max-load L, --max-spread S: the load guard (bench/harness.ts)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { buildZooModel } from '../src/zoo/index.js';
import { encodeModel } from '../src/onnx/encode.js';
import { timeModels, type LatencyStats } from '../src/runtime/timing.js';
import { timeModelsInBrowser } from '../src/runtime/browser.js';
import { planModel, type RuntimePlan } from '../src/plan/plan.js';
import { planHeadline } from '../src/plan/explain.js';
import { inspectModel } from '../src/inspect/inspect.js';
import { formatTable } from '../src/util/format.js';
import { Bench, GUARD_OPTIONS } from './harness.js';

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: 'node' },
    runs: { type: 'string', default: '30' },
    fractions: { type: 'string', default: '0.5,0.25' },
    cache: { type: 'string' },
    'no-tucker': { type: 'boolean', default: false },
    ...GUARD_OPTIONS,
  },
});
const bench = Bench.start('plan', values);
const runs = Number(values.runs);
const fractions = values.fractions.split(',').map(Number);
const cacheDir = values.cache ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-bench-plan-'));
const original = buildZooModel('googlenet', { batch: 1 });
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const results: Record<string, unknown> = {};
for (const target of values.targets.split(',')) {
  const merge = await planModel(original, { target, families: ['merge', 'fusion'], cache: { dir: cacheDir }, log });
  console.log(planHeadline(merge));
  let mergeTucker: RuntimePlan | undefined;
  if (!values['no-tucker']) {
    // Tucker on the merge plan's model: the same stages as one plan, with the merge stage taken from above.
    mergeTucker = await planModel(merge.model, { target, families: ['tucker', 'fusion'], fold: false, tucker: { ranks: { fractions } }, cache: { dir: cacheDir }, log });
    console.log(planHeadline(mergeTucker));
  }
  const models: Record<string, Uint8Array> = { original: encodeModel(original), merge: encodeModel(merge.model) };
  if (mergeTucker) models['merge+tucker'] = encodeModel(mergeTucker.model);
  const stats = target === 'node' || target === 'wasm'
    ? await timeModels(models, { backend: target, threads: 1, optLevel: 'all', runs })
    : await timeModelsInBrowser(models, { backend: target === 'browser:webgpu' ? 'browser:webgpu' : 'browser:wasm', threads: 1, runs });
  const base = stats.original as LatencyStats;
  const rows: string[][] = [];
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(stats)) {
    const flops = inspectModel(name === 'original' ? original : name === 'merge' ? merge.model : (mergeTucker as RuntimePlan).model).flops;
    const wall = name === 'original' ? undefined : bench.ratio(`${target} ${name} (wall)`, base.runs, s.runs);
    const cpu = name === 'original' ? undefined : bench.ratio(`${target} ${name} (CPU)`, base.cpuRuns, s.cpuRuns);
    rows.push([name, (flops / 1e9).toFixed(2), s.medianMs.toFixed(1), s.cpuMedianMs.toFixed(1),
      wall ? `${wall.ratio.toFixed(2)}x [${wall.interval[0].toFixed(2)}-${wall.interval[1].toFixed(2)}]` : '1',
      cpu ? `${cpu.ratio.toFixed(2)}x [${cpu.interval[0].toFixed(2)}-${cpu.interval[1].toFixed(2)}]` : '1']);
    out[name] = { gflops: flops / 1e9, medianMs: s.medianMs, cpuMedianMs: s.cpuMedianMs, wall, cpu };
  }
  console.log(`\n${target}: GoogLeNet 224, 1 thread, ${runs} interleaved rounds`);
  console.log(formatTable(['model', 'GFLOPs', 'median ms', 'CPU ms', 'speed-up (paired wall, 95%)', 'speed-up (CPU, 95%)'], rows));
  console.log(`kept by the merge plan: ${merge.kept.map((k) => k.name).join(', ')}`);
  if (mergeTucker) console.log(`kept by the Tucker plan: ${mergeTucker.kept.map((k) => k.name).join(', ')}`);
  results[target] = {
    models: out,
    plans: { merge: { kept: merge.kept.map((k) => k.name), decisions: merge.decisions, seconds: merge.measuringSeconds, summary: merge.summary }, ...(mergeTucker ? { mergeTucker: { kept: mergeTucker.kept.map((k) => k.name), decisions: mergeTucker.decisions, seconds: mergeTucker.measuringSeconds, summary: mergeTucker.summary } } : {}) },
  };
}
bench.finish({ runs, fractions, results });

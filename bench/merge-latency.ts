/**
 * DeepRebirth Table 3 analogue: BVLC GoogLeNet 224x224 batch 1 (random weights: latency does not
 * depend on them), original vs streamline-merged (conv1, conv2) vs streamline + branch-merged (all nine
 * Inception modules), on onnxruntime-node (1 thread, graph optimizations 'all') and onnxruntime-web's
 * wasm backend in Node (1 thread). The three models of a backend are timed interleaved in rotating order (A B C, B C A, ...)
 * so load drift hits them alike; speed-ups are against the original measured in the same run, as the
 * median of per-iteration ratios of wall time, and of process CPU time (1 thread: the run's own work,
 * which other processes competing for the cores do not inflate).
 * Also times planning + rewriting GoogLeNet (target < 1 s).
 *
 * usage: npx tsx bench/merge-latency.ts [--runs N] [--backend node|wasm|both] [--layout paper|carry]
 *                                       [--kernel cover|keep] [--reducer-ratio R] [--candidates] [--profile]
 *   --candidates  also time every candidate applied alone (measureMerges) on each backend
 *   --profile     print ORT's per-op-type kernel time for the three models (where the time goes)
 *   --json FILE, --strict, --max-load L, --max-spread S: the load guard and machine-readable results (bench/harness.ts)
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { buildZooModel } from '../src/zoo/index.js';
import { encodeModel } from '../src/onnx/encode.js';
import { applyMerges, measureMerges, planMerges, type MergeOptions } from '../src/merge/plan.js';
import { pairedGain, timeModels, type LatencyStats } from '../src/runtime/timing.js';
import type { BranchLayout } from '../src/merge/branch.js';
import type { KernelMode } from '../src/merge/streamline.js';
import { profileModel } from '../src/runtime/profile.js';
import type { Backend } from '../src/runtime/session.js';
import { formatTable } from '../src/util/format.js';
import { inspectModel } from '../src/inspect/inspect.js';
import { decodeModel } from '../src/onnx/decode.js';
import { Bench, GUARD_OPTIONS } from './harness.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '30' },
    backend: { type: 'string', default: 'both' },
    layout: { type: 'string', default: 'paper' },
    kernel: { type: 'string', default: 'cover' },
    'reducer-ratio': { type: 'string', default: '0.5' },
    candidates: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    ...GUARD_OPTIONS,
  },
});
const bench = Bench.start('merge-latency', values);
const runs = Number(values.runs);
const backends: Backend[] = values.backend === 'both' ? ['node', 'wasm'] : [values.backend as Backend];
const mergeOptions: MergeOptions = { layout: values.layout as BranchLayout, reducerRatio: Number(values['reducer-ratio']), kernel: values.kernel as KernelMode };

const model = buildZooModel('googlenet', { batch: 1 });

// Planning + rewriting, the whole pipeline a user waits for (median of 5, after one warm-up).
const pipelineMs: number[] = [];
for (let i = 0; i < 6; i++) {
  const t0 = performance.now();
  planMerges(model, mergeOptions);
  applyMerges(model, mergeOptions);
  if (i > 0) pipelineMs.push(performance.now() - t0);
}
pipelineMs.sort((a, b) => a - b);
const pipeline = pipelineMs[Math.floor(pipelineMs.length / 2)] as number;
console.log(`plan + rewrite googlenet (${values.layout}, ${values.kernel}, reducer ratio ${values['reducer-ratio']}, init xavier): median ${pipeline.toFixed(0)} ms of 5 (target < 1000 ms: ${pipeline < 1000 ? 'met' : 'MISSED'})`);

const variants: Record<string, Uint8Array> = {
  original: encodeModel(model),
  streamline: encodeModel(applyMerges(model, { ...mergeOptions, branch: false }).model),
  'streamline+branch': encodeModel(applyMerges(model, mergeOptions).model),
};

const models = Object.fromEntries(Object.entries(variants).map(([name, bytes]) => {
  const summary = inspectModel(decodeModel(bytes));
  return [name, { flops: summary.flops, params: summary.parameters }];
}));
interface VariantResult { medianMs: number; cpuMedianMs: number; gain: number; gainInterval: [number, number]; cpuGain: number; cpuGainInterval: [number, number] }
const byBackend: Record<string, { runs: number; variants: Record<string, VariantResult>; candidates?: Array<{ name: string; kind: string; gain: number; cpuGain: number }> }> = {};
for (const backend of backends) {
  const backendRuns = backend === 'wasm' ? Math.max(5, Math.round(runs / 2)) : runs;
  const stats = await timeModels(variants, { backend, threads: 1, optLevel: 'all', warmup: 3, runs: backendRuns });
  console.log(`\n${backend === 'node' ? 'onnxruntime-node' : 'onnxruntime-web wasm'} 1 thread, optimizations all, ${backendRuns} interleaved runs each`);
  const original = stats.original as LatencyStats;
  console.log(formatTable(['model', 'median ms', 'p90 ms', 'min ms', 'CPU ms', 'speed-up (paired wall)', 'speed-up (CPU)'], Object.entries(stats).map(([name, s]) => [
    name, s.medianMs.toFixed(1), s.p90Ms.toFixed(1), s.minMs.toFixed(1), s.cpuMedianMs.toFixed(1),
    `${pairedGain(original, s).toFixed(2)}x`, `${pairedGain(original, s, 'cpu').toFixed(2)}x`,
  ])));
  const out: Record<string, VariantResult> = {};
  for (const [name, s] of Object.entries(stats)) {
    const wall = name === 'original' ? { ratio: 1, interval: [1, 1] as [number, number] } : bench.ratio(`${backend} ${name} (wall)`, original.runs, s.runs);
    const cpu = name === 'original' ? { ratio: 1, interval: [1, 1] as [number, number] } : bench.ratio(`${backend} ${name} (CPU)`, original.cpuRuns, s.cpuRuns);
    out[name] = { medianMs: s.medianMs, cpuMedianMs: s.cpuMedianMs, gain: wall.ratio, gainInterval: wall.interval, cpuGain: cpu.ratio, cpuGainInterval: cpu.interval };
  }
  byBackend[backend] = { runs: backendRuns, variants: out };
  if (values.candidates) {
    const gains = await measureMerges(model, { ...mergeOptions, backend, threads: 1, optLevel: 'all', warmup: 2, runs: Math.max(5, Math.round(backendRuns / 2)) });
    console.log(formatTable(['candidate', 'kind', 'original ms', 'merged ms', 'gain (paired wall)', 'gain (CPU)'], gains.map((g) => [
      g.name, g.kind, g.baselineMs.toFixed(1), g.mergedMs.toFixed(1), `${g.gain.toFixed(3)}x`, `${g.cpuGain.toFixed(3)}x`,
    ])));
    (byBackend[backend] as { candidates?: unknown }).candidates = gains.map((g) => ({ name: g.name, kind: g.kind, gain: g.gain, cpuGain: g.cpuGain }));
  }
  if (values.profile) {
    for (const [name, bytes] of Object.entries(variants)) {
      const p = await profileModel(bytes, { backend, threads: 1, optLevel: 'all', warmup: 2, runs: 3, profileRuns: 5 });
      const byOp = new Map<string, number>();
      for (const n of p.nodes) byOp.set(n.opType, (byOp.get(n.opType) ?? 0) + n.ms);
      const total = [...byOp.values()].reduce((a, b) => a + b, 0);
      console.log(`  ${name}: kernels ${total.toFixed(1)} ms — ${[...byOp].sort((a, b) => b[1] - a[1]).map(([op, ms]) => `${op} ${ms.toFixed(1)}`).join(', ')}`);
    }
  }
}
bench.finish({ options: { layout: values.layout, kernel: values.kernel, reducerRatio: Number(values['reducer-ratio']) }, pipelineMs: pipeline, models, backends: byBackend });

/**
 * rebirth's exact optimizer next to ONNX Runtime's own graph optimizer, on the zoo models (batch 1,
 * 1 thread): latency of the original at ORT 'basic' and 'all', of rebirth's output with ORT's optimizer
 * off (rebirth alone) and at 'all' (both), and node counts (ORT's own optimized graph is saved with
 * optimizedModelFilePath and counted). The four variants are timed in rotating interleaved rounds
 * (InterleavedTimer); speed-ups are paired (per-round ratios against ORT 'all' on the original, midmean,
 * with a 95% interval checked by the load guard, bench/harness.ts).
 * usage: npx tsx bench/optimize.ts [--models googlenet,resnet50,alexnet,googlenet-mini] [--backend node|wasm] [--runs 20]
 *          [--json FILE] [--strict] [--max-load L] [--max-spread S]
 */
import { parseArgs } from 'node:util';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildZooModel } from '../src/zoo/index.js';
import { encodeModel } from '../src/onnx/encode.js';
import { loadModel } from '../src/onnx/file.js';
import { optimizeModel } from '../src/rewrite/optimize.js';
import { InterleavedTimer } from '../src/runtime/timing.js';
import { quantile } from '../src/util/stats.js';
import { formatTable } from '../src/util/format.js';
import type { Backend, OptLevel } from '../src/runtime/session.js';
import { Bench, GUARD_OPTIONS } from './harness.js';

const { values } = parseArgs({ options: { models: { type: 'string' }, backend: { type: 'string' }, runs: { type: 'string' }, ...GUARD_OPTIONS } });
const names = (values.models ?? 'googlenet,resnet50,alexnet,googlenet-mini').split(',');
const backend = (values.backend ?? 'node') as Backend;
const runs = Number(values.runs ?? 20);
const bench = Bench.start('optimize', values);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-bench-opt-'));

async function ortNodeCount(bytes: Uint8Array, level: OptLevel): Promise<number> {
  const file = path.join(dir, `ort-${level}.onnx`);
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: level, optimizedModelFilePath: file, logSeverityLevel: 3 });
  await s.release();
  return loadModel(file).graph.nodes.length;
}

const VARIANTS = ['ort basic', 'ort all', 'rebirth', 'rebirth + ort all'] as const;
type Variant = typeof VARIANTS[number];

/** Per-round wall times of each (model bytes, ORT level) variant, rounds interleaved with rotating order. */
async function interleaved(variants: ReadonlyArray<readonly [Variant, Uint8Array, OptLevel]>): Promise<Record<Variant, number[]>> {
  // One timer per ORT level would not interleave them; sessions of different levels go through one
  // InterleavedTimer each holding a single model, stepped round by round in rotation.
  const timers = await Promise.all(variants.map(([label, bytes, level]) => InterleavedTimer.open({ [label]: bytes }, { backend, threads: 1, optLevel: level, warmup: 3 })));
  try {
    for (let r = 0; r < runs; r++) {
      for (let k = 0; k < timers.length; k++) await (timers[(k + r) % timers.length] as InterleavedTimer).rounds(1);
    }
    return Object.fromEntries(variants.map(([label], i) => [label, (timers[i] as InterleavedTimer).all().wall[0] as number[]])) as Record<Variant, number[]>;
  } finally {
    for (const t of timers) await t.release();
  }
}

interface ModelResult {
  model: string;
  nodes: number;
  rebirthNodes: number;
  ortBasicNodes: number;
  ortAllNodes: number;
  /** Median ms and paired speed-up vs ORT 'all' on the original, per variant. */
  variants: Record<Variant, { medianMs: number; speedup: number; interval: [number, number] }>;
  rulesFired: Record<string, number>;
  decisions: Array<{ rule: string; node: string; accepted: boolean; reason?: string }>;
}

const results: ModelResult[] = [];
for (const name of names) {
  // Random BatchNorm statistics, so folding is not a no-op.
  const model = buildZooModel(name, { batch: 1, bnStats: 'random' });
  const result = await optimizeModel(model, { backend, threads: 1 });
  const original = encodeModel(model);
  const optimized = encodeModel(result.model);
  const times = await interleaved([['ort basic', original, 'basic'], ['ort all', original, 'all'], ['rebirth', optimized, 'disabled'], ['rebirth + ort all', optimized, 'all']]);
  const variants = {} as ModelResult['variants'];
  for (const v of VARIANTS) {
    const r = v === 'ort all' ? { ratio: 1, interval: [1, 1] as [number, number] } : bench.ratio(`${name}: ${v} vs ORT all`, times['ort all'], times[v]);
    variants[v] = { medianMs: quantile(times[v], 0.5), speedup: r.ratio, interval: r.interval };
  }
  results.push({
    model: name, nodes: model.graph.nodes.length, rebirthNodes: result.nodesAfter,
    ortBasicNodes: await ortNodeCount(original, 'basic'), ortAllNodes: await ortNodeCount(original, 'all'), variants,
    rulesFired: Object.fromEntries(Object.entries(result.rules).filter(([, n]) => n > 0)),
    decisions: result.decisions.map((d) => ({ rule: d.rule, node: d.node, accepted: d.accepted, ...(d.measured ? { reason: d.measured.reason } : {}) })),
  });
  process.stderr.write(`${name} done\n`);
}
console.log(`backend ${backend}, 1 thread, batch 1; latency median ms (paired speed-up vs ORT 'all' on the original)`);
console.log(formatTable(['model', 'nodes', 'rebirth nodes', 'ORT basic nodes', 'ORT all nodes', ...VARIANTS.map((v) => v), 'rules fired'], results.map((r) => [
  r.model, String(r.nodes), String(r.rebirthNodes), String(r.ortBasicNodes), String(r.ortAllNodes),
  ...VARIANTS.map((v) => `${r.variants[v].medianMs.toFixed(1)} (${r.variants[v].speedup.toFixed(2)}x)`),
  Object.entries(r.rulesFired).map(([k, n]) => `${k} ${n}`).join(', ') || '-',
])));
for (const r of results) for (const d of r.decisions) console.log(`  ${r.model} ${d.rule} at ${d.node}: ${d.reason ?? (d.accepted ? 'kept' : 'left')}`);
fs.rmSync(dir, { recursive: true, force: true });
bench.finish({ backend, runs, models: results });

/**
 * rebirth's exact optimizer next to ONNX Runtime's own graph optimizer, on the zoo models (batch 1,
 * 1 thread): latency of the original at ORT 'basic' and 'all', of rebirth's output with ORT's optimizer
 * off (rebirth alone) and at 'all' (both), and node counts (ORT's own optimized graph is saved with
 * optimizedModelFilePath and counted). Runs of all variants are interleaved; ratios are vs ORT 'all'.
 * usage: npx tsx bench/optimize.ts [--models googlenet,resnet50,alexnet,googlenet-mini] [--backend node|wasm] [--runs 20]
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
import { timeModels } from '../src/rebirth/plan.js';
import { formatTable } from '../src/util/format.js';
import type { Backend, OptLevel } from '../src/runtime/session.js';

const { values } = parseArgs({ options: { models: { type: 'string' }, backend: { type: 'string' }, runs: { type: 'string' } } });
const names = (values.models ?? 'googlenet,resnet50,alexnet,googlenet-mini').split(',');
const backend = (values.backend ?? 'node') as Backend;
const runs = Number(values.runs ?? 20);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-bench-opt-'));

async function ortNodeCount(bytes: Uint8Array, level: OptLevel): Promise<number> {
  const file = path.join(dir, `ort-${level}.onnx`);
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: level, optimizedModelFilePath: file, logSeverityLevel: 3 });
  await s.release();
  return loadModel(file).graph.nodes.length;
}

const rows: string[][] = [];
for (const name of names) {
  // Random BatchNorm statistics, so folding is not a no-op.
  const model = buildZooModel(name, { batch: 1, bnStats: 'random' });
  const result = await optimizeModel(model, { backend, threads: 1 });
  const original = encodeModel(model);
  const optimized = encodeModel(result.model);
  const times: Record<string, number> = {};
  for (const [label, bytes, level] of [['ort basic', original, 'basic'], ['ort all', original, 'all'], ['rebirth', optimized, 'disabled'], ['rebirth + ort all', optimized, 'all']] as const) {
    const t = await timeModels({ [label]: bytes }, { backend, threads: 1, optLevel: level, runs });
    times[label] = t[label]?.medianMs ?? NaN;
  }
  const ref = times['ort all'] ?? NaN;
  rows.push([
    name, String(model.graph.nodes.length), String(result.nodesAfter),
    String(await ortNodeCount(original, 'basic')), String(await ortNodeCount(original, 'all')),
    ...['ort basic', 'ort all', 'rebirth', 'rebirth + ort all'].map((k) => `${(times[k] ?? NaN).toFixed(1)} (${(ref / (times[k] ?? NaN)).toFixed(2)}x)`),
    Object.entries(result.rules).filter(([, n]) => n > 0).map(([r, n]) => `${r} ${n}`).join(', ') || '-',
  ]);
  process.stderr.write(`${name} done\n`);
}
console.log(`backend ${backend}, 1 thread, batch 1; latency median ms (speed-up vs ORT 'all' on the original)`);
console.log(formatTable(['model', 'nodes', 'rebirth nodes', 'ORT basic nodes', 'ORT all nodes', 'ORT basic', 'ORT all', 'rebirth (ORT off)', 'rebirth + ORT all', 'rules fired'], rows));
fs.rmSync(dir, { recursive: true, force: true });

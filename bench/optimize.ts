/**
 * rebirth's exact optimizer next to ONNX Runtime's own graph optimizer, on the zoo models (batch 1,
 * 1 thread): latency of the original at ORT 'basic' and 'all', of rebirth's output with ORT's optimizer
 * off (rebirth alone) and at 'all' (both), and node counts (ORT's own optimized graph is saved with
 * optimizedModelFilePath and counted). Runs of all four variants are interleaved; ratios are vs ORT 'all'.
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
import { Session } from '../src/runtime/session.js';
import { quantile } from '../src/runtime/profile.js';
import { randomFeeds } from '../src/rewrite/verify.js';
import { decodeModel } from '../src/onnx/decode.js';
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

/** Median latency of each (model, ORT level) variant, runs interleaved so load drift hits all alike. */
async function interleaved(variants: ReadonlyArray<readonly [string, Uint8Array, OptLevel]>): Promise<Record<string, number>> {
  const sessions = await Promise.all(variants.map(([, bytes, level]) => Session.create(bytes, { backend, threads: 1, optLevel: level })));
  try {
    const feeds = randomFeeds(decodeModel(variants[0]![1]), 0);
    const times = variants.map((): number[] => []);
    for (let r = 0; r < 3 + runs; r++) {
      for (const [i, s] of sessions.entries()) {
        const t0 = performance.now();
        await s.run(feeds);
        if (r >= 3) times[i]!.push(performance.now() - t0);
      }
    }
    return Object.fromEntries(variants.map(([label], i) => [label, quantile(times[i]!, 0.5)]));
  } finally {
    for (const s of sessions) await s.release();
  }
}

const rows: string[][] = [];
for (const name of names) {
  // Random BatchNorm statistics, so folding is not a no-op.
  const model = buildZooModel(name, { batch: 1, bnStats: 'random' });
  const result = await optimizeModel(model, { backend, threads: 1 });
  const original = encodeModel(model);
  const optimized = encodeModel(result.model);
  const times = await interleaved([['ort basic', original, 'basic'], ['ort all', original, 'all'], ['rebirth', optimized, 'disabled'], ['rebirth + ort all', optimized, 'all']]);
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

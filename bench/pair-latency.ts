/**
 * Two ONNX files timed against each other, interleaved round by round in one process, on node and/or
 * WASM (1 thread, ORT 'all' optimizations, seeded random inputs): the speed-up of AFTER over BEFORE with
 * its paired 95% interval, wall and CPU time.
 *
 * Why a separate bench: a long retraining run (bench/shrink.ts) times its result at the end, often while
 * another run trains on the other core; its figure is the plan's, not the weights', so the saved pair
 * (`bench/shrink.ts --save DIR`) can be timed again here on a quiet machine.
 *
 * usage: npx tsx bench/pair-latency.ts BEFORE.onnx AFTER.onnx [--backends node,wasm] [--runs 60]
 *          --json FILE, --strict, --max-load L, --max-spread S: the load guard (bench/harness.ts)
 */
import { parseArgs } from 'node:util';
import * as fs from 'node:fs';
import { encodeModel } from '../src/onnx/encode.js';
import { loadModel } from '../src/onnx/file.js';
import { inspectModel } from '../src/inspect/inspect.js';
import { timeModels } from '../src/runtime/timing.js';
import { formatTable } from '../src/util/format.js';
import { Bench, GUARD_OPTIONS } from './harness.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { backends: { type: 'string', default: 'node,wasm' }, runs: { type: 'string', default: '60' }, ...GUARD_OPTIONS },
});
const [beforeFile, afterFile] = positionals;
if (positionals.length !== 2 || !beforeFile || !afterFile) {
  process.stderr.write('usage: npx tsx bench/pair-latency.ts BEFORE.onnx AFTER.onnx [--backends node,wasm] [--runs 60]\n');
  process.exit(2);
}
for (const f of [beforeFile, afterFile]) {
  if (!fs.existsSync(f)) {
    process.stderr.write(`pair-latency: ${f} not found\n`);
    process.exit(2);
  }
}
const backends = values.backends.split(',').map((b) => {
  if (b !== 'node' && b !== 'wasm') {
    process.stderr.write(`pair-latency: --backends: '${b}' is not node or wasm\n`);
    process.exit(2);
  }
  return b;
});
const runs = Number(values.runs);
const bench = Bench.start('pair-latency', values);
const before = loadModel(beforeFile);
const after = loadModel(afterFile);
const models = { before: encodeModel(before), after: encodeModel(after) };
const rows: string[][] = [];
const results: Record<string, unknown> = {};
for (const backend of backends) {
  const stats = await timeModels(models, { backend, threads: 1, optLevel: 'all', runs });
  const a = stats.before;
  const b = stats.after;
  if (!a || !b) throw new Error('timing returned no result');
  const wall = bench.ratio(`${backend} (wall)`, a.runs, b.runs);
  const cpu = bench.ratio(`${backend} (CPU)`, a.cpuRuns, b.cpuRuns);
  const fmt = (r: typeof wall): string => `${r.ratio.toFixed(2)}x [${r.interval[0].toFixed(2)}-${r.interval[1].toFixed(2)}]`;
  rows.push([backend, a.medianMs.toFixed(3), b.medianMs.toFixed(3), fmt(wall), fmt(cpu)]);
  results[backend] = { beforeMs: a.medianMs, afterMs: b.medianMs, wall, cpu };
}
const mflops = (n: number): string => `${(n / 1e6).toFixed(1)}M`;
console.log(`${beforeFile} (${mflops(inspectModel(before).flops)} FLOPs) -> ${afterFile} (${mflops(inspectModel(after).flops)}), 1 thread, ${runs} interleaved rounds`);
console.log(formatTable(['backend', 'before, median ms', 'after, median ms', 'speed-up, paired wall [95%]', 'speed-up, CPU [95%]'], rows));
bench.finish({ before: beforeFile, after: afterFile, runs, results });

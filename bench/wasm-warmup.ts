/**
 * Why warm-up has a minimum time (src/runtime/warmup.ts): the first wasm profile of a process with only
 * a run-count warm-up measures V8's baseline WebAssembly code. Profiles googlenet-mini on wasm, 1
 * thread, alternately with warmupMs 0 and 300, in one fresh process; only the first profile runs cold.
 *
 * usage: npx tsx bench/wasm-warmup.ts [--model FILE]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { profileModel } from '../src/runtime/profile.js';
import { teacherPath } from '../src/util/paths.js';

const { values } = parseArgs({ options: { model: { type: 'string' } } });
const model = new Uint8Array(readFileSync(values.model ?? teacherPath()));
for (const [i, warmupMs] of [0, 300, 0, 300].entries()) {
  const p = await profileModel(model, { backend: 'wasm', threads: 1, runs: 20, warmupMs });
  process.stdout.write(`profile ${i + 1}${i === 0 ? ' (cold process)' : ''}: warmupMs ${warmupMs}, median ${p.latencyMs.median.toFixed(2)} ms\n`);
}

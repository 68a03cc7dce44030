/**
 * What a pause costs rebirth's training step: googlenet-mini (batch 64, 2 threads, the trainer's default
 * replicas) runs blocks of `--steps` steps with a gap before each block after the first, and prints per block
 * the ms per step, the process's minor page faults per step (/proc/self/stat, all threads), and each step's ms.
 *
 * Why it exists (issue 13): bench/train-throughput.ts alternates rebirth and PyTorch round by round, and
 * rebirth's rounds after the first ran ~1.4x slower than its first. The gap kind tells the causes apart:
 * - `sleep`: rebirth idles alone for the gap;
 * - `busy`: another process keeps one core busy for the gap (what a PyTorch run between rounds does);
 * - `block`: rebirth's main thread blocks for the gap (Atomics.wait) with nothing else running;
 * - `none`: back-to-back blocks.
 * Linux only (minor faults from /proc; elsewhere they print as '-').
 *
 * usage: npx tsx bench/train-after-idle.ts [--gap sleep|busy|block|none] [--gap-seconds 10] [--blocks 4] [--steps 15]
 *          [--batch 64] [--threads 2]
 */
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { formatTable } from '../src/util/format.js';
import { googlenetTraining, minorFaults } from './googlenet-training.js';

const { values } = parseArgs({
  options: {
    gap: { type: 'string', default: 'busy' }, 'gap-seconds': { type: 'string', default: '10' }, blocks: { type: 'string', default: '4' },
    steps: { type: 'string', default: '15' }, batch: { type: 'string', default: '64' }, threads: { type: 'string', default: '2' },
  },
});
const gap = values.gap;
if (gap !== 'sleep' && gap !== 'busy' && gap !== 'block' && gap !== 'none') throw new Error(`--gap must be sleep, busy, block or none, got '${gap}'`);
const gapMs = 1000 * Number(values['gap-seconds']);
const blocks = Number(values.blocks);
const steps = Number(values.steps);
const B = Number(values.batch);
const threads = Number(values.threads);

const { replicas, session, feeds, update } = await googlenetTraining({ batch: B, threads });

async function waitGap(): Promise<void> {
  if (gap === 'sleep') await new Promise((resolve) => setTimeout(resolve, gapMs));
  if (gap === 'block') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, gapMs);
  // A separate process spinning on one core, as a PyTorch run between rounds keeps the cores busy.
  if (gap === 'busy') execFileSync(process.execPath, ['-e', `const t = Date.now(); while (Date.now() - t < ${gapMs});`]);
}

const rows: string[][] = [];
for (let b = 0; b < blocks; b++) {
  if (b > 0) await waitGap();
  const faults0 = minorFaults();
  const t0 = performance.now();
  const each: number[] = [];
  for (let i = 0; i < steps; i++) {
    const ts = performance.now();
    update(await session.run(feeds(), B));
    each.push(performance.now() - ts);
  }
  const ms = (performance.now() - t0) / steps;
  const faults = (minorFaults() - faults0) / steps;
  rows.push([b === 0 ? 'first (after start-up)' : `after a ${gap} gap`, ms.toFixed(1), Number.isNaN(faults) ? '-' : faults.toFixed(0), each.map((v) => v.toFixed(0)).join(' ')]);
}
await session.release();
console.log(`googlenet-mini training, batch ${B}, ${threads} threads, ${replicas} replica(s); ${blocks} blocks of ${steps} steps, ${gap === 'none' ? 'no gap' : `a ${gapMs / 1000} s ${gap} gap`} before each block after the first`);
console.log(formatTable(['block', 'ms/step', 'minor faults/step', 'each step (ms)'], rows));

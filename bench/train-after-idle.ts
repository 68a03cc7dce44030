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
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { buildZooModel } from '../src/zoo/index.js';
import { encodeModel } from '../src/onnx/encode.js';
import { buildTrainingGraph } from '../src/autodiff/training-graph.js';
import type { HostTensor } from '../src/runtime/session.js';
import { createStepRunner, stepLayout } from '../src/train/step-runner.js';
import { DEFAULT_REPLICAS, resolveReplicas } from '../src/train/trainer.js';
import { Optimizer } from '../src/train/optimizers.js';
import { floatParamNames, readParams } from '../src/train/params.js';
import { formatTable } from '../src/util/format.js';

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

const model = buildZooModel('googlenet-mini', { seed: 1 });
const trainable = floatParamNames(model);
const params = readParams(model);
const tg = buildTrainingGraph(model, { loss: { kind: 'cross-entropy' }, trainable, seed: 1 });
const replicas = resolveReplicas(DEFAULT_REPLICAS, { threads, batchSize: B, batchNormStats: tg.stateInputs.length > 0, scalarLoss: false });
const session = await createStepRunner(encodeModel(tg.model), { threads, replicas, layout: stepLayout(tg) });
// The inputs of bench/train-throughput.ts: pixel (i mod 255) / 255, labels i mod 10.
const x = new Float32Array(B * 28 * 28).map((_, i) => (i % 255) / 255);
const feeds = (): Record<string, HostTensor> => {
  const f: Record<string, HostTensor> = {
    [tg.inputName ?? 'data']: { type: 'float32', dims: [B, 1, 28, 28], data: x },
    [tg.labelsName ?? 'labels']: { type: 'int64', dims: [B], data: BigInt64Array.from({ length: B }, (_, i) => BigInt(i % 10)) },
  };
  if (tg.seedName) f[tg.seedName] = { type: 'int64', dims: [], data: BigInt64Array.of(1n) };
  for (const n of [...tg.paramInputs, ...tg.stateInputs]) f[n] = { type: 'float32', dims: model.graph.initializers.get(n)?.dims ?? [], data: params.get(n) as Float32Array };
  return f;
};
const opt = new Optimizer({ kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
const groups = new Map(trainable.map((n) => [n, { lrMult: 1, decayMult: 1 }]));

/** Minor faults of this process so far (field 10 of /proc/self/stat), or NaN off Linux. */
function minorFaults(): number {
  try {
    const rest = readFileSync('/proc/self/stat', 'utf8').split(') ')[1] ?? '';
    return Number(rest.split(' ')[7]);
  } catch {
    return Number.NaN;
  }
}

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
    const out = await session.run(feeds(), B);
    const grads = new Map<string, Float32Array>();
    for (const [p, g] of Object.entries(tg.gradOutputs)) {
      const v = out[g];
      if (v?.type === 'float32') grads.set(p, v.data);
    }
    opt.step(params, grads, 0.01, groups);
    each.push(performance.now() - ts);
  }
  const ms = (performance.now() - t0) / steps;
  const faults = (minorFaults() - faults0) / steps;
  rows.push([b === 0 ? 'first (after start-up)' : `after a ${gap} gap`, ms.toFixed(1), Number.isNaN(faults) ? '-' : faults.toFixed(0), each.map((v) => v.toFixed(0)).join(' ')]);
}
await session.release();
console.log(`googlenet-mini training, batch ${B}, ${threads} threads, ${replicas} replica(s); ${blocks} blocks of ${steps} steps, ${gap === 'none' ? 'no gap' : `a ${gapMs / 1000} s ${gap} gap`} before each block after the first`);
console.log(formatTable(['block', 'ms/step', 'minor faults/step', 'each step (ms)'], rows));

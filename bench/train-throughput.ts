/**
 * Training throughput of googlenet-mini (batch 64, 2 threads): rebirth's generated ONNX training graph on
 * onnxruntime-node vs PyTorch CPU training the same network built from torch's own layers
 * (bench/torch_train.py: nn.Conv2d, F.local_response_norm, F.max_pool2d ceil_mode, torch.cat, SGD
 * momentum 0.9 Nesterov, weight decay 5e-4), same batch, threads, optimizer and inputs, in one run.
 *
 * PyTorch runs in every combination of two settings, and the ratio is against the fastest, so the peer is
 * never the handicapped one:
 * - the environment as given, and with every OPENBLAS_* variable removed (some environments set
 *   OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for old OpenBLAS builds, and they slow torch's BLAS-backed kernels
 *   down: a 3x3 conv fwd+bwd on [64,96,14,14] measured 46 ms with them, 19 ms without, issue 13);
 * - glibc's malloc, tcmalloc and jemalloc, each preloaded the way torch's own CPU launcher
 *   (torch.backends.xeon.run_cpu, which preloads tcmalloc by default) does. glibc hands every large
 *   temporary back to the kernel (mmap/munmap above its threshold), so each op of an eager step page-faults
 *   its output in afresh; on a VM where faults are dear that halved torch's rate (docs/training.md).
 * Prints images/s, the ratio with its 95% interval over steps, the load guard (bench/harness.ts), and
 * where rebirth's step time goes (ORT kernels by op type, feeding/copies, optimizer update in JS).
 *
 * --rounds R (default 1): R rounds, each timing `steps` steps of rebirth and then of every PyTorch
 * configuration, each after its own `warmup` untimed steps, so a drift of the host's speed during the run
 * reaches both; the ratio is then over rounds, paired (each round's PyTorch ms per step over rebirth's),
 * against the configuration fastest over all rounds.
 *
 * usage: npx tsx bench/train-throughput.ts [--steps 30] [--rounds 1] [--batch 64] [--threads 2] [--replicas N] [--skip-profile]
 *          --replicas N: split each batch over N worker-thread sessions (data parallel, src/train/step-runner.ts),
 *          each with threads / N intra-op threads, or auto; default: what the trainer does by default
 *          [--openblas OPENBLAS_CORETYPE=Haswell,OPENBLAS_L2_SIZE=...]  (overrides for the first torch run)
 *          [--allocators glibc,tcmalloc,jemalloc]  (default: glibc and each of the others that is installed)
 *          [--json FILE] [--strict] [--max-load L] [--max-spread S]
 */
import { parseArgs } from 'node:util';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { encodeModel } from '../src/onnx/encode.js';
import { profileModel } from '../src/runtime/profile.js';
import { formatTable } from '../src/util/format.js';
import { Bench, GUARD_OPTIONS } from './harness.js';
import { googlenetTraining, minorFaults } from './googlenet-training.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '30' }, rounds: { type: 'string', default: '1' }, batch: { type: 'string', default: '64' }, threads: { type: 'string', default: '2' }, replicas: { type: 'string' },
    warmup: { type: 'string', default: '5' }, 'skip-profile': { type: 'boolean', default: false }, openblas: { type: 'string' }, allocators: { type: 'string' }, ...GUARD_OPTIONS,
  },
});
const steps = Number(values.steps);
const rounds = Math.max(1, Math.trunc(Number(values.rounds)));
const warmup = Number(values.warmup);
const B = Number(values.batch);
const threads = Number(values.threads);
const bench = Bench.start('train-throughput', values);

// The trainer's own replicas unless --replicas says otherwise, so the figure is what `rebirth train` does.
const { tg, paramCount, replicas, session, feeds: feedsFor, update } = await googlenetTraining({
  batch: B, threads, replicas: values.replicas === undefined ? undefined : values.replicas === 'auto' ? 'auto' : Number(values.replicas),
});
let runMs = 0;
// Page faults are what separated the peer's allocators (docs/training.md), so both sides print theirs.
let rebirthFaults = 0;
let optMs = 0;
const stepsMs: number[] = [];
/** `n` timed steps (after `skip` untimed ones); returns their mean ms per step. */
async function rebirthSteps(skip: number, n: number): Promise<number> {
  const before = stepsMs.length;
  let faults0 = 0;
  for (let i = 0; i < skip + n; i++) {
    if (i === skip) faults0 = minorFaults();
    const t0 = performance.now();
    const out = await session.run(feedsFor(), B);
    const t1 = performance.now();
    update(out);
    const t2 = performance.now();
    if (i >= skip) {
      runMs += t1 - t0;
      optMs += t2 - t1;
      stepsMs.push(t2 - t0);
    }
  }
  rebirthFaults += minorFaults() - faults0;
  return stepsMs.slice(before).reduce((a, b) => a + b, 0) / n;
}

interface TorchRun { config: string; openblas: Record<string, string>; blas?: string[]; allocator?: string; minorFaultsPerStep?: number; imagesPerSecond: number; msPerStep: number; stepsMs: number[]; params: number; torch: string; threads: number }
const overrides = Object.fromEntries((values.openblas ?? '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
const given: NodeJS.ProcessEnv = { ...process.env, ...overrides };
const stripped: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPENBLAS_')));
const blasEnvs: Array<[string, NodeJS.ProcessEnv]> = Object.keys(given).some((k) => k.startsWith('OPENBLAS_'))
  ? [['OPENBLAS_* as set', given], ['OPENBLAS_* unset', stripped]]
  : [['no OPENBLAS_* set', stripped]];
if (blasEnvs.length === 1) process.stderr.write('no OPENBLAS_* variable in this environment: PyTorch runs without them only (pass --openblas K=V,... to time overrides too)\n');
const allocators = findAllocators(values.allocators);
if (!allocators.some((a) => a.name !== 'glibc')) {
  process.stderr.write('WARNING: neither tcmalloc nor jemalloc is installed, so PyTorch runs on glibc malloc only; its own launcher (torch.backends.xeon.run_cpu) preloads tcmalloc: apt-get install libtcmalloc-minimal4 libjemalloc2 for its best configuration\n');
}
/** One PyTorch configuration: its label, the malloc it must load, and the environment it runs in. */
interface TorchConfig { config: string; allocator: string; env: NodeJS.ProcessEnv }
const configs: TorchConfig[] = blasEnvs.flatMap(([blas, env]) => allocators.map(({ name, env: extra }) => ({
  config: `${blas}, ${name}`, allocator: name,
  env: { ...env, ...extra, ...(extra.LD_PRELOAD && env.LD_PRELOAD ? { LD_PRELOAD: `${extra.LD_PRELOAD}:${env.LD_PRELOAD}` } : {}) },
})));
const torchRun = ({ config, allocator, env }: TorchConfig): TorchRun => {
  const out = execFileSync('/usr/bin/python3', [path.join(import.meta.dirname, 'torch_train.py'), '--batch', String(B), '--threads', String(threads), '--steps', String(steps), '--warmup', String(warmup)], { encoding: 'utf8', env });
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as Omit<TorchRun, 'config'>;
  if (r.params !== paramCount) throw new Error(`PyTorch peer has ${r.params} parameters, rebirth's googlenet-mini ${paramCount}: not the same network`);
  // A preload that failed (wrong path, wrong architecture) leaves glibc's malloc in place with only a
  // warning from ld.so, which would time glibc under another name.
  if (r.allocator !== allocator) throw new Error(`PyTorch run '${config}' loaded allocator ${r.allocator ?? 'unknown'}, not ${allocator}`);
  return { config, ...r };
};
interface Allocator { name: string; env: Record<string, string> }
/** glibc, then every allocator torch's launcher knows that is installed here (or those --allocators names). */
function findAllocators(names: string | undefined): Allocator[] {
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];
  const find = (files: string[]): string | undefined => dirs.flatMap((d) => files.map((f) => path.join(d, f))).find((f) => existsSync(f));
  const tcmalloc = find(['libtcmalloc.so.4', 'libtcmalloc_minimal.so.4']);
  const jemalloc = find(['libjemalloc.so.2', 'libjemalloc.so']);
  const all: Allocator[] = [
    { name: 'glibc', env: {} },
    ...(tcmalloc ? [{ name: 'tcmalloc', env: { LD_PRELOAD: tcmalloc } }] : []),
    // run_cpu's MALLOC_CONF, plus the decay settings PyTorch's CPU tuning guide adds so freed pages stay mapped.
    ...(jemalloc ? [{ name: 'jemalloc', env: { LD_PRELOAD: jemalloc, MALLOC_CONF: 'oversize_threshold:1,background_thread:true,metadata_thp:auto,dirty_decay_ms:9000000000,muzzy_decay_ms:9000000000' } }] : []),
  ];
  if (names === undefined) return all;
  const wanted = names.split(',').map((n) => n.trim()).filter(Boolean);
  const unknown = wanted.filter((n) => !['glibc', 'tcmalloc', 'jemalloc'].includes(n));
  if (unknown.length > 0) throw new Error(`--allocators: unknown '${unknown.join(', ')}'; choose from glibc, tcmalloc, jemalloc`);
  const missing = wanted.filter((n) => !all.some((a) => a.name === n));
  if (missing.length > 0) throw new Error(`--allocators: ${missing.join(', ')} is not installed (looked in ${dirs.join(', ')}); apt-get install libtcmalloc-minimal4 libjemalloc2`);
  return all.filter((a) => wanted.includes(a.name));
}

// Round by round: rebirth's steps, then each PyTorch configuration's (a fresh process, its own warm-up).
const rebirthRoundMs: number[] = [];
const torchRoundRuns: TorchRun[][] = [];
for (let r = 0; r < rounds; r++) {
  // Every round warms rebirth up again, as each PyTorch run warms up in its fresh process: after another
  // process has had the cores, rebirth's first step took 4-5x its steady time and the next ones ~1.3x
  // (page faults: ~2,700 a step against ~150; docs/training.md), which unwarmed rounds counted against it.
  rebirthRoundMs.push(await rebirthSteps(warmup, steps));
  torchRoundRuns.push(configs.map(torchRun));
  if (rounds > 1) process.stderr.write(`round ${r + 1}/${rounds}: rebirth ${(rebirthRoundMs[r] as number).toFixed(1)} ms/step, PyTorch ${(torchRoundRuns[r] ?? []).map((t) => `${t.msPerStep.toFixed(1)}`).join(' / ')} ms/step\n`);
}
await session.release();
const rebirthIps = (B * steps * rounds) / ((runMs + optMs) / 1000);
// Per configuration, all its rounds' steps together.
const torchRuns: TorchRun[] = configs.map(({ config }, k) => {
  const runs = torchRoundRuns.map((round) => round[k] as TorchRun);
  const all = runs.flatMap((t) => t.stepsMs);
  const ms = all.reduce((a, b) => a + b, 0) / all.length;
  const faults = runs.map((t) => t.minorFaultsPerStep ?? Number.NaN);
  return { ...(runs[0] as TorchRun), config, stepsMs: all, msPerStep: ms, imagesPerSecond: (1000 * B) / ms, minorFaultsPerStep: faults.reduce((a, b) => a + b, 0) / faults.length };
});
// Debian's reference BLAS (blas/libblas.so.3) is what torch gets when no optimized BLAS is installed;
// its users install OpenBLAS (libopenblas0), so say it when the peer runs without.
const reference = torchRuns.flatMap((t) => t.blas ?? []).filter((l) => /\/blas\/libblas\.so/.test(l));
if (reference.length > 0) process.stderr.write(`WARNING: PyTorch loaded the reference BLAS (${reference[0]}), not an optimized one: apt-get install libopenblas0 for its best configuration\n`);
const faster = torchRuns.reduce((a, b) => (b.imagesPerSecond > a.imagesPerSecond ? b : a));
// Speed-up of rebirth over the fastest PyTorch: its step times over rebirth's. One round: the steps of two
// independent runs (not paired). Several: each round's mean step, paired by round.
const fasterIndex = configs.findIndex(({ config }) => config === faster.config);
const ratio = rounds > 1
  ? bench.ratio('rebirth / PyTorch (fastest config), paired by round', torchRoundRuns.map((round) => (round[fasterIndex] as TorchRun).msPerStep), rebirthRoundMs, { paired: true })
  : bench.ratio('rebirth / PyTorch (fastest config)', faster.stepsMs, stepsMs, { paired: false });

let kernels: Array<{ op: string; ms: number; share: number }> = [];
if (!values['skip-profile']) {
  const prof = await profileModel(encodeModel(tg.model), { feeds: feedsFor(), threads, runs: 3, warmup: 2, profileRuns: 3 });
  const byOp = new Map<string, number>();
  for (const n of prof.nodes) byOp.set(n.opType, (byOp.get(n.opType) ?? 0) + n.ms);
  const kernelMs = [...byOp.values()].reduce((a, b) => a + b, 0);
  kernels = [...byOp.entries()].sort((a, b) => b[1] - a[1]).map(([op, ms]) => ({ op, ms, share: ms / kernelMs }));
}

console.log(`googlenet-mini (${paramCount} parameters), batch ${B}, ${threads} threads${replicas > 1 ? ` over ${replicas} data-parallel replicas` : ''}, ${steps} timed steps after ${warmup}${rounds > 1 ? `, ${rounds} rounds` : ''}`);
const faultCell = (f: number | undefined): string => (f === undefined || Number.isNaN(f) ? '-' : f.toFixed(0));
console.log(formatTable(['trainer', 'images/s', 'ms/step', 'minor faults/step'], [
  [`rebirth (ORT node, generated training graph${replicas > 1 ? `, ${replicas} replicas` : ''})`, rebirthIps.toFixed(0), ((runMs + optMs) / (steps * rounds)).toFixed(1), faultCell(rebirthFaults / (steps * rounds))],
  ...torchRuns.map((t) => [`PyTorch ${t.torch} nn layers, ${t.config}`, t.imagesPerSecond.toFixed(0), t.msPerStep.toFixed(1), faultCell(t.minorFaultsPerStep)]),
]));
console.log(`ratio rebirth / PyTorch (${faster.config}, the fastest): ${ratio.ratio.toFixed(2)}x (95% interval ${ratio.interval[0].toFixed(2)}-${ratio.interval[1].toFixed(2)})`);
console.log(`rebirth step: session.run ${(runMs / (steps * rounds)).toFixed(1)} ms, optimizer in JS ${(optMs / (steps * rounds)).toFixed(1)} ms`);
if (kernels.length > 0) {
  console.log(formatTable(['ORT kernel op', 'ms/step', 'share'], kernels.slice(0, 12).map((k) => [k.op, k.ms.toFixed(1), `${(100 * k.share).toFixed(1)}%`])));
}
bench.finish({
  batch: B, threads, replicas, steps, rounds, warmup, params: paramCount,
  rebirth: { imagesPerSecond: rebirthIps, msPerStep: (runMs + optMs) / (steps * rounds), minorFaultsPerStep: rebirthFaults / (steps * rounds), runMsPerStep: runMs / (steps * rounds), optMsPerStep: optMs / (steps * rounds), stepsMs, roundMs: rebirthRoundMs },
  torch: torchRuns, fasterTorch: faster.config, ratio: ratio.ratio, interval: ratio.interval, kernels,
});

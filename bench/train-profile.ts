/**
 * Where googlenet-mini's training step goes (batch 64, 2 threads by default), and old vs new gradient
 * formulations of the window ops compared in ONE process: every variant gets its own training graph (built
 * under withGradForms), an unprofiled session for wall time and a profiled one for ORT's per-kernel
 * times; the variants' steps are interleaved round by round so machine load hits them alike.
 * Prints the load average before and after; per variant images/s and ms per step (session.run + the JS
 * optimizer, as bench/train-throughput.ts counts it) and process CPU ms per step; how far each variant's
 * gradients are from the first variant's; ORT kernel ms per step by op type side by side; with --by-layer
 * the same by layer (forward / training forward / backward); with --nodes N each variant's N slowest kernels.
 *
 * usage: npx tsx bench/train-profile.ts [--variants old,new] [--rounds 6] [--steps 3] [--profile-runs 8]
 *          [--stat min|median|mean] [--by-layer] [--nodes N] [--batch 64] [--threads 2] [--model FILE]
 * Kernel tables show, per kernel, the minimum (default), median or mean of its time over the profiled runs,
 * summed: on a shared machine the minimum is the figure least distorted by other processes.
 * A variant is 'old' (the formulations before issue 13), 'new' (the current defaults), or either followed by
 * '+key=value' overrides of GradForms, e.g. 'old+maxPool=argmax' or 'new+convInput=transpose'.
 * '+pools=free' is not a gradient but a bound: the scatter-form MaxPool backward removed (the forward's
 * Indices output dropped, so MaxPool runs on ORT's fast kernel, and every ScatterElements replaced by its
 * zeros), so the step costs what it would with a MaxPool backward that took no time. Its gradients are
 * wrong (the agreement table shows by how much); its times say how much any faster MaxPool backward could gain.
 */
import { parseArgs } from 'node:util';
import * as os from 'node:os';
import { buildZooModel } from '../src/zoo/index.js';
import { loadModel } from '../src/onnx/file.js';
import { encodeModel } from '../src/onnx/encode.js';
import { buildTrainingGraph, type TrainingGraph } from '../src/autodiff/training-graph.js';
import { DEFAULT_GRAD_FORMS, GRAD_FORM_CHOICES, withGradForms, type GradForms } from '../src/autodiff/forms.js';
import { Session, type HostTensor } from '../src/runtime/session.js';
import { quantile } from '../src/util/stats.js';
import type { TraceEvent } from '../src/runtime/session.js';
import { Optimizer } from '../src/train/optimizers.js';
import { floatParamNames, readParams } from '../src/train/params.js';
import { formatTable } from '../src/util/format.js';
import type { Model } from '../src/ir/graph.js';

const { values } = parseArgs({
  options: {
    variants: { type: 'string' }, rounds: { type: 'string' }, steps: { type: 'string' }, 'profile-runs': { type: 'string' },
    batch: { type: 'string' }, threads: { type: 'string' }, model: { type: 'string' }, nodes: { type: 'string' },
    stat: { type: 'string' }, 'by-layer': { type: 'boolean' },
  },
});
const rounds = Number(values.rounds ?? 6);
const stepsPerRound = Number(values.steps ?? 3);
const profileRuns = Number(values['profile-runs'] ?? 8);
const B = Number(values.batch ?? 64);
const threads = Number(values.threads ?? 2);
const topNodes = Number(values.nodes ?? 0);
const statistic = values.stat ?? 'min';
if (!['min', 'median', 'mean'].includes(statistic)) throw new Error(`--stat must be min, median or mean, got '${statistic}'`);
const byLayer = values['by-layer'] === true;
const variantSpecs = (values.variants ?? 'old,new').split(',').map((v) => v.trim()).filter((v) => v !== '');

/** The formulations before issue 13 (Indices + ScatterElements, ConvTranspose dX, batched per-tap dW, Pow). */
const OLD_FORMS: GradForms = { maxPool: 'scatter', convInput: 'transpose', convWeight: 'batched-taps', lrnPower: 'pow', mask: 'where' };

/** A variant's gradient forms, and whether it is the '+pools=free' bound. */
function parseVariant(spec: string): { forms: Partial<GradForms>; freePools: boolean } {
  const parts = spec.split('+');
  const [base, ...overrides] = parts.filter((o) => o !== 'pools=free');
  if (base !== 'old' && base !== 'new') throw new Error(`variant '${spec}' must start with 'old' or 'new'`);
  const forms: GradForms = { ...(base === 'old' ? OLD_FORMS : DEFAULT_GRAD_FORMS) };
  for (const o of overrides) {
    const [key, value] = o.split('=');
    const choices: readonly string[] | undefined = (GRAD_FORM_CHOICES as Record<string, readonly string[]>)[key ?? ''];
    if (!choices || !value || !choices.includes(value)) {
      throw new Error(`variant '${spec}': '${o}' must be key=value with one of ${Object.entries(GRAD_FORM_CHOICES).map(([k, v]) => `${k}=${v.join('|')}`).join(', ')}`);
    }
    Object.assign(forms, { [key as string]: value });
  }
  return { forms, freePools: parts.includes('pools=free') };
}

const loadavg = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const loadBefore = loadavg();
const model: Model = values.model ? loadModel(values.model) : buildZooModel('googlenet-mini', { seed: 1 });
const trainable = floatParamNames(model);
const [, c, h, w] = (model.graph.inputs[0]?.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
const inputDims = [B, c ?? 1, h ?? 28, w ?? 28];
const x = new Float32Array(inputDims.reduce((a, b) => a * b, 1)).map((_, i) => (i % 255) / 255);
const labels = BigInt64Array.from({ length: B }, (_, i) => BigInt(i % 10));

interface Variant {
  name: string;
  tg: TrainingGraph;
  timed: Session;
  profiled: Session;
  params: Map<string, Float32Array>;
  opt: Optimizer;
  stepMs: number[];
  cpuMs: number[];
}

function feedsFor(tg: TrainingGraph, params: ReadonlyMap<string, Float32Array>): Record<string, HostTensor> {
  const f: Record<string, HostTensor> = {
    [tg.inputName ?? 'data']: { type: 'float32', dims: inputDims, data: x },
    [tg.labelsName ?? 'labels']: { type: 'int64', dims: [B], data: labels },
  };
  if (tg.seedName) f[tg.seedName] = { type: 'int64', dims: [], data: BigInt64Array.of(1n) };
  for (const n of [...tg.paramInputs, ...tg.stateInputs]) f[n] = { type: 'float32', dims: model.graph.initializers.get(n)?.dims ?? [], data: params.get(n) as Float32Array };
  return f;
}

/** The '+pools=free' bound: see the usage note at the top. */
function freePools(tg: TrainingGraph): TrainingGraph {
  const nodes = tg.model.graph.nodes.map((n) => {
    if (n.opType === 'MaxPool' && n.outputs.length === 2) return { ...n, outputs: n.outputs.slice(0, 1) };
    if (n.opType === 'ScatterElements') return { ...n, opType: 'Identity', inputs: n.inputs.slice(0, 1), attributes: [] };
    return n;
  });
  // The Reshapes that flattened the Indices for the scatter now read nothing: drop them (nodes are in
  // topological order, so one pass sees each producer before its consumers).
  const g = tg.model.graph;
  const known = new Set<string>(['', ...g.inputs.map((i) => i.name), ...g.initializers.keys()]);
  const kept = nodes.filter((n) => {
    if (!n.inputs.every((i) => known.has(i))) return false;
    for (const o of n.outputs) known.add(o);
    return true;
  });
  return { ...tg, model: { ...tg.model, graph: { ...g, nodes: kept } } };
}

const variants: Variant[] = [];
for (const name of variantSpecs) {
  const variant = parseVariant(name);
  const built = withGradForms(variant.forms, () => buildTrainingGraph(model, { loss: { kind: 'cross-entropy' }, trainable, seed: 1 }));
  const tg = variant.freePools ? freePools(built) : built;
  const bytes = encodeModel(tg.model);
  variants.push({
    name, tg,
    timed: await Session.create(bytes, { threads }),
    profiled: await Session.create(bytes, { threads, profile: true }),
    params: readParams(model), opt: new Optimizer({ kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 }), stepMs: [], cpuMs: [],
  });
}

// Same parameters, same batch: how far each variant's gradients are from the first variant's (relative to
// the gradient tensor's largest magnitude), before any optimizer step.
const reference = variants[0] as Variant;
const refOut = await reference.timed.run(feedsFor(reference.tg, reference.params));
const agreement: string[][] = [];
for (const v of variants.slice(1)) {
  const out = await v.timed.run(feedsFor(v.tg, v.params));
  let worst = 0;
  let where = '';
  for (const p of trainable) {
    const a = refOut[reference.tg.gradOutputs[p] as string]?.data as Float32Array;
    const b = out[v.tg.gradOutputs[p] as string]?.data as Float32Array;
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < a.length; i++) {
      scale = Math.max(scale, Math.abs(a[i] as number));
      diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    }
    const rel = diff / (scale || 1);
    if (rel > worst) { worst = rel; where = p; }
  }
  agreement.push([v.name, worst.toExponential(2), where]);
}

const groups = new Map(trainable.map((n) => [n, { lrMult: 1, decayMult: 1 }]));
/** One training step; returns wall ms and the process's CPU ms (user + system) spent in it. */
async function step(v: Variant, session: Session): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await session.run(feedsFor(v.tg, v.params));
  const grads = new Map<string, Float32Array>();
  for (const [p, g] of Object.entries(v.tg.gradOutputs)) {
    const t = out[g];
    if (t?.type === 'float32') grads.set(p, t.data);
  }
  v.opt.step(v.params, grads, 0.001, groups);
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

// Warm-up (arena growth, prepacking), then interleaved rounds; the order alternates so neither variant
// always runs right after the other.
for (const v of variants) for (let i = 0; i < 2; i++) { await step(v, v.timed); await step(v, v.profiled); }
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? variants : [...variants].reverse();
  for (const v of order) {
    for (let i = 0; i < stepsPerRound; i++) {
      const t = await step(v, v.timed);
      v.stepMs.push(t.wall);
      v.cpuMs.push(t.cpu);
    }
  }
}
for (let r = 0; r < profileRuns; r++) {
  const order = r % 2 === 0 ? variants : [...variants].reverse();
  for (const v of order) await step(v, v.profiled);
}
/**
 * Per kernel: its time in each of the last `runs` profiled runs. On a loaded machine a kernel's mean is
 * inflated whenever the process was descheduled in the middle of it; the per-kernel minimum over runs
 * is close to its unloaded time and the median is in between, so both are reported.
 */
interface KernelRuns { name: string; opType: string; ms: number[] }
function kernelRuns(events: readonly TraceEvent[], runs: number): KernelRuns[] {
  const kept = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts).slice(-runs);
  const byName = new Map<string, KernelRuns>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const run = kept.findIndex((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur);
    if (run < 0) continue;
    const name = e.name.slice(0, -'_kernel_time'.length);
    let k = byName.get(name);
    if (!k) {
      k = { name, opType: typeof e.args.op_name === 'string' ? e.args.op_name : '', ms: new Array<number>(kept.length).fill(0) };
      byName.set(name, k);
    }
    k.ms[run] = (k.ms[run] ?? 0) + e.dur / 1000;
  }
  return [...byName.values()];
}
const kernels: KernelRuns[][] = [];
for (const v of variants) {
  kernels.push(kernelRuns(await v.profiled.endProfiling(), profileRuns));
  await v.timed.release();
  await v.profiled.release();
}
const loadAfter = loadavg();

console.log(`googlenet-mini training step, batch ${B}, ${threads} threads; load average (1/5/15 min) before ${loadBefore}, after ${loadAfter}`);
const stat = statistic === 'min' ? (xs: number[]): number => Math.min(...xs) : statistic === 'median' ? (xs: number[]): number => quantile(xs, 0.5) : (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sum per run of all kernels, then its median over runs: the kernel time of a typical step. */
const stepKernelMs = (ks: readonly KernelRuns[]): number => quantile(Array.from({ length: profileRuns }, (_, r) => ks.reduce((a, k) => a + (k.ms[r] ?? 0), 0)), 0.5);
// CPU ms per step is the process's user + system time: with --threads 1 it is the work itself, which other
// processes on the machine inflate far less than wall time; with more threads it includes ORT's spinning.
console.log(formatTable(['variant', 'images/s', 'median ms/step', 'p90 ms/step', 'median CPU ms/step', 'ORT kernels ms/step (median run)', `sum of per-kernel ${statistic}s`, 'nodes'], variants.map((v, i) => {
  const med = quantile(v.stepMs, 0.5);
  const ks = kernels[i] ?? [];
  return [v.name, ((1000 * B) / med).toFixed(1), med.toFixed(1), quantile(v.stepMs, 0.9).toFixed(1), quantile(v.cpuMs, 0.5).toFixed(1), stepKernelMs(ks).toFixed(1), ks.reduce((a, k) => a + stat(k.ms), 0).toFixed(1), String(v.tg.model.graph.nodes.length)];
})));
if (agreement.length > 0) console.log(formatTable(['variant', `max |grad - ${reference.name}| / max |grad|`, 'worst parameter'], agreement));

/** Sum of the per-kernel statistic grouped by a key of the kernel. */
function grouped(key: (k: KernelRuns) => string): { keys: string[]; rows: Map<string, number>[] } {
  const rows = kernels.map((ks) => {
    const m = new Map<string, number>();
    for (const k of ks) m.set(key(k), (m.get(key(k)) ?? 0) + stat(k.ms));
    return m;
  });
  const keys = [...new Set(rows.flatMap((m) => [...m.keys()]))];
  const peak = (g: string): number => Math.max(...rows.map((m) => m.get(g) ?? 0));
  keys.sort((a, b) => peak(b) - peak(a));
  return { keys: keys.filter((g) => peak(g) >= 0.5), rows };
}
const table = (title: string, g: { keys: string[]; rows: Map<string, number>[] }): void => {
  console.log(formatTable([`${title} (${statistic} ms/step)`, ...variants.map((v) => v.name)], [
    ...g.keys.map((k) => [k, ...g.rows.map((m) => (m.get(k) ?? 0).toFixed(1))]),
    ['(total)', ...g.rows.map((m) => [...m.values()].reduce((a, b) => a + b, 0).toFixed(1))],
  ]));
};
table('ORT kernel op', grouped((k) => k.opType));
if (byLayer) {
  // grad/<layer>/... and train/<layer>/... kernels by layer and direction; forward model nodes by their name.
  table('layer', grouped((k) => {
    const m = /^(grad|train|loss)\/(.*)\/[^/]+$/.exec(k.name);
    return m ? `${m[1]} ${m[2]}` : `fwd ${k.name.replace(/_token_\d+$/, '')}`;
  }));
}
if (topNodes > 0) {
  for (const [i, v] of variants.entries()) {
    const ks = [...(kernels[i] ?? [])].sort((a, b) => stat(b.ms) - stat(a.ms)).slice(0, topNodes);
    console.log(`slowest kernels, ${v.name}:`);
    console.log(formatTable(['node', 'op', `${statistic} ms/step`], ks.map((k) => [k.name.length > 90 ? `…${k.name.slice(-89)}` : k.name, k.opType, stat(k.ms).toFixed(2)])));
  }
}

// Per-layer profiling: wall latency from an unprofiled session, per-kernel time from ORT's own trace in a
// second, profiled session (ORT's profiler adds per-kernel bookkeeping, so it must not touch the
// latency numbers), and a mapping from ORT's kernels back to the model's nodes.
// `performance` is the global one (Node 16+ and browsers alike): the page served by `rebirth serve`
// bundles this module for kernelStats and attributeKernels.
import { RebirthError } from '../errors.js';
import { formatShape } from '../ops/dims.js';
import { readModelNodes, type ModelNode } from './model-nodes.js';
import { warmUp } from './warmup.js';
import { isBrowserBackend, Session, type HostTensor, type LatencyBackend, type SessionOptions, type TensorInfo, type TraceEvent } from './session.js';
import type { BrowserLaunchOptions } from './browser.js';

export interface ProfileOptions extends Omit<SessionOptions, 'profile' | 'backend'> {
  /** Default 'node'. 'browser:wasm' and 'browser:webgpu' profile in headless Chromium (src/runtime/browser.ts). */
  backend?: LatencyBackend;
  /** Browser backends only: which Chromium, and whether a software WebGPU adapter will do. */
  browser?: BrowserLaunchOptions;
  /** Untimed runs before the timed ones (and before the profiled ones). Default 3. */
  warmup?: number;
  /** ...and at least this much warm-up time per session, ms (default 300: wasm tier-up, see warmup.ts). */
  warmupMs?: number;
  /** Timed runs for the latency statistics. Default 20. */
  runs?: number;
  /** Profiled runs whose kernel times are averaged. Default min(runs, 10). */
  profileRuns?: number;
  /** Inputs to run with; if absent, seeded uniform [-1, 1) float inputs are generated. */
  feeds?: Record<string, HostTensor>;
  /** Shapes for generated inputs; needed when an input has symbolic dims other than the leading batch dim. */
  inputShapes?: Record<string, number[]>;
  /** Seed for generated inputs. Default 1. */
  seed?: number;
  /** Called after every session run (warm-up, timed and profiled). */
  onProgress?: (done: number, total: number) => void;
}

/** One ORT kernel, i.e. one node of the graph ORT actually executes (after its optimizations). */
export interface NodeProfile {
  /** ORT's node name (its trace name minus `_kernel_time`); unnamed model nodes appear as `<OpType>_<index>`. */
  name: string;
  /** The kernel's op, e.g. 'FusedConv' where the model said Conv+Relu. */
  opType: string;
  /** Mean kernel time per run, ms. */
  ms: number;
  /** e.g. 'CPUExecutionProvider'. */
  provider: string;
  /** ORT's index of the node in its optimized graph (indices of untouched model nodes are their model positions). */
  nodeIndex?: number;
  /**
   * Model node ids (see ModelNode.id) this kernel computes, in model order, when it is not simply the
   * model node of the same name: fused kernels and kernels ORT renamed. Absent for 1:1 kernels and for
   * kernels that map to no model node (ORT's layout reorders, or fusions of unnamed nodes).
   */
  fusedFrom?: string[];
}

/** What ran the model; `runtime` in the JSON of `rebirth profile`. */
export interface RuntimeInfo {
  backend: LatencyBackend;
  /** ORT's execution provider: 'cpu' (onnxruntime-node), 'wasm' or 'webgpu' (onnxruntime-web). */
  executionProvider: string;
  /** Threads ORT actually used (onnxruntime-web falls back to 1 where SharedArrayBuffer is unavailable). */
  threads: number;
  /** The browser's navigator.userAgent; for the in-process backends, Node's version and platform. */
  userAgent: string;
  /** browser:webgpu: the adapter's vendor and architecture, e.g. 'google swiftshader (fallback)'. */
  adapter?: string;
}

export interface RuntimeProfile {
  latencyMs: { median: number; p90: number; runs: number[] };
  /** Kernels in execution order. */
  nodes: NodeProfile[];
  /** Model node ids no kernel accounts for (constant-folded, eliminated, or fused from unnamed nodes). */
  unattributed: string[];
  backend: LatencyBackend;
  optLevel: 'disabled' | 'basic' | 'extended' | 'all';
  threads: number;
  runtime: RuntimeInfo;
}

/** Raw per-kernel totals from a trace. */
export interface KernelStat {
  name: string;
  opType: string;
  provider: string;
  nodeIndex?: number;
  /** Mean over the kept runs, ms. */
  ms: number;
}

function checkCount(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new RebirthError(`option ${name} must be an integer >= ${min}, got ${value}`);
  }
}

export async function profileModel(model: Uint8Array, options: ProfileOptions = {}): Promise<RuntimeProfile> {
  if (isBrowserBackend(options.backend)) {
    // Imported lazily: only browser profiles need playwright-core and the page bundle.
    const { profileInBrowser } = await import('./browser.js');
    return profileInBrowser(model, options);
  }
  const warmup = options.warmup ?? 3;
  const runs = options.runs ?? 20;
  const profileRuns = options.profileRuns ?? Math.min(runs, 10);
  checkCount('warmup', warmup, 0);
  checkCount('runs', runs, 1);
  checkCount('profileRuns', profileRuns, 1);
  // The profiled session always gets at least one warm-up: its first run includes weight prepacking
  // and arena growth (observed: 3.9 ms vs 0.05 ms for the same Conv on wasm).
  const profileWarmup = Math.max(1, warmup);
  const total = warmup + runs + profileWarmup + profileRuns;
  let done = 0;
  const tick = (): void => {
    done++;
    options.onProgress?.(done, total);
  };
  const sessionOptions: SessionOptions = {
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.optLevel !== undefined ? { optLevel: options.optLevel } : {}),
  };

  const timed = await Session.create(model, sessionOptions);
  let feeds: Record<string, HostTensor>;
  const latencies: number[] = [];
  try {
    feeds = options.feeds ?? randomFeeds(timed.inputs, options.inputShapes ?? {}, options.seed ?? 1);
    await warmUp(async () => {
      await timed.run(feeds);
      if (done < warmup) tick();
    }, { runs: warmup, ...(options.warmupMs !== undefined ? { minMs: options.warmupMs } : {}) });
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await timed.run(feeds);
      latencies.push(performance.now() - t0);
      tick();
    }
  } finally {
    await timed.release();
  }

  const profiled = await Session.create(model, { ...sessionOptions, profile: true });
  let events: TraceEvent[];
  try {
    // Warm-up runs are in the trace too; kernelStats keeps the last profileRuns runs.
    await warmUp(async () => {
      await profiled.run(feeds);
      if (done < warmup + runs + profileWarmup) tick();
    }, { runs: profileWarmup, ...(options.warmupMs !== undefined ? { minMs: options.warmupMs } : {}) });
    for (let i = 0; i < profileRuns; i++) {
      await profiled.run(feeds);
      tick();
    }
    events = await profiled.endProfiling();
  } finally {
    await profiled.release();
  }

  const kernels = kernelStats(events, profileRuns);
  const { nodes, unattributed } = attributeKernels(kernels, readModelNodes(model));
  return {
    latencyMs: { median: quantile(latencies, 0.5), p90: quantile(latencies, 0.9), runs: latencies },
    nodes,
    unattributed,
    backend: timed.backend,
    optLevel: timed.optLevel,
    threads: timed.threads,
    runtime: {
      backend: timed.backend,
      executionProvider: timed.backend === 'node' ? 'cpu' : 'wasm',
      threads: timed.threads,
      userAgent: `Node.js ${process.version} (${process.platform} ${process.arch})`,
    },
  };
}

/** Linear-interpolation quantile (R type 7) — monotone in q, so median <= p90 always holds. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = s[lo] ?? Number.NaN;
  const b = s[hi] ?? Number.NaN;
  return a + (b - a) * (pos - lo);
}

// mulberry32: tiny, seedable, good enough for benchmark inputs.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded uniform [-1, 1) inputs for the float inputs described by `inputs` (also used by the browser page). */
export function randomFeeds(
  inputs: readonly TensorInfo[],
  shapes: Record<string, number[]>,
  seed: number,
): Record<string, HostTensor> {
  const next = rng(seed);
  const feeds: Record<string, HostTensor> = {};
  for (const input of inputs) {
    const dims = shapes[input.name] ?? concreteDims(input);
    const n = dims.reduce((a, b) => a * b, 1);
    if (input.type === 'float32') {
      feeds[input.name] = { type: 'float32', dims, data: Float32Array.from({ length: n }, () => next() * 2 - 1) };
    } else if (input.type === 'float64') {
      feeds[input.name] = { type: 'float64', dims, data: Float64Array.from({ length: n }, () => next() * 2 - 1) };
    } else {
      throw new RebirthError(
        `input '${input.name}' has type ${input.type}; random inputs are only generated for floats: pass feeds`,
      );
    }
  }
  return feeds;
}

function concreteDims(input: TensorInfo): number[] {
  // A symbolic leading dim is the batch: profile batch 1. Any other symbolic dim (H, W, seq) has no
  // safe default.
  if (input.dims.every((d, i) => typeof d === 'number' || i === 0)) return input.dims.map((d) => (typeof d === 'number' ? d : 1));
  // Library and CLI users both reach this, so the message names the fix for each, in the words of the
  // CLI's own check (src/cli/input-shape.ts). ORT reports an unnamed symbolic dim as ''.
  const shown = input.dims.map((d) => (d === '' ? null : d));
  const flag = input.dims.map((d, i) => (typeof d === 'number' ? String(d) : i === 0 ? '1' : `<${d || `dim${i}`}>`));
  throw new RebirthError(
    `input '${input.name}' has symbolic dims ${formatShape(shown)}; pass --input-shape ${input.name}=${flag.join(',')} (library: inputShapes: { '${input.name}': [...] })`,
  );
}

const KERNEL_SUFFIX = '_kernel_time';

/**
 * Mean time per run of every kernel over the last `lastRuns` runs in an ORT trace. ORT records every
 * run of the session, warm-ups included; each run is one Session-category `model_run` event whose
 * [ts, ts+dur] window contains that run's Node-category `<name>_kernel_time` events.
 */
export function kernelStats(events: readonly TraceEvent[], lastRuns: number): KernelStat[] {
  let runEvents = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  if (runEvents.length === 0) {
    runEvents = events.filter((e) => e.cat === 'Session' && e.name === 'SequentialExecutor::Execute');
  }
  if (runEvents.length === 0) {
    throw new RebirthError('onnxruntime profile has no model_run events: was any run made with profiling on?');
  }
  runEvents = [...runEvents].sort((a, b) => a.ts - b.ts);
  const kept = runEvents.slice(-lastRuns);
  const inKept = (ts: number): boolean => kept.some((r) => ts >= r.ts && ts <= r.ts + r.dur);
  const byName = new Map<string, KernelStat & { totalUs: number; firstTs: number }>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith(KERNEL_SUFFIX) || !inKept(e.ts)) continue;
    const name = e.name.slice(0, -KERNEL_SUFFIX.length);
    let s = byName.get(name);
    if (s === undefined) {
      const idx = Number(e.args.node_index);
      s = {
        name,
        opType: typeof e.args.op_name === 'string' ? e.args.op_name : '',
        provider: typeof e.args.provider === 'string' ? e.args.provider : '',
        ...(e.args.node_index !== undefined && Number.isInteger(idx) ? { nodeIndex: idx } : {}),
        ms: 0,
        totalUs: 0,
        firstTs: e.ts,
      };
      byName.set(name, s);
    }
    s.totalUs += e.dur;
    s.firstTs = Math.min(s.firstTs, e.ts);
  }
  // Order by position inside a run: offset from the start of the run that contains the first sighting.
  const offset = (ts: number): number => ts - (kept.find((r) => ts >= r.ts && ts <= r.ts + r.dur)?.ts ?? 0);
  return [...byName.values()]
    .sort((a, b) => offset(a.firstTs) - offset(b.firstTs))
    .map(({ totalUs, firstTs: _firstTs, ...k }) => ({ ...k, ms: totalUs / kept.length / 1000 }));
}

// Ops ORT folds into the kernel of the node producing their input (Conv+BN/activation/Add fusions,
// MatMul+Add -> Gemm, NCHWc Conv+Add+Relu) or removes outright. Only these are absorbed into a
// neighbouring kernel; anything else missing from the trace stays unattributed rather than guessed.
const FOLDABLE = new Set([
  'BatchNormalization',
  'Relu',
  'LeakyRelu',
  'Clip',
  'Sigmoid',
  'HardSigmoid',
  'Tanh',
  'HardSwish',
  'Add',
  'Sum',
  'Sub',
  'Mul',
  'Div',
  'Identity',
  'Dropout',
]);

/**
 * Maps ORT kernels to model nodes. A kernel is anchored to a model node by name:
 *   - same name (or `<OpType>_<index>` for unnamed nodes), optionally with ORT's `_token_<n>` dedup suffix;
 *   - `<node>/<Fusion>` (e.g. "fc/MatMulAddFusion", the Gemm made from MatMul fc + Add) -> node;
 *   - `<tensor>_nchwc` (NCHWc layout transform at 'all' on x64) -> the node producing <tensor>; that is
 *     the tail of a fused chain, so walk up foldable producers to the node of the kernel's own op.
 * Then foldable model nodes missing from the trace join the kernel of their producer, preferring the
 * producer whose output feeds only them (ORT fuses only across single-consumer edges).
 */
export function attributeKernels(
  kernels: readonly KernelStat[],
  modelNodes: readonly ModelNode[],
): { nodes: NodeProfile[]; unattributed: string[] } {
  const idIndex = new Map<string, number>();
  modelNodes.forEach((n, i) => idIndex.set(n.id, i));
  const producer = new Map<string, number>();
  const consumers = new Map<string, number>();
  modelNodes.forEach((n, i) => {
    for (const o of n.outputs) if (o !== '') producer.set(o, i);
    for (const t of n.inputs) if (t !== '') consumers.set(t, (consumers.get(t) ?? 0) + 1);
  });
  const owner: Array<number | undefined> = modelNodes.map(() => undefined);

  const anchorOf = (name: string): { node: number; tail: boolean } | undefined => {
    const base = name.replace(/_token_\d+$/, '');
    for (const candidate of [name, base]) {
      const i = idIndex.get(candidate);
      if (i !== undefined) return { node: i, tail: false };
    }
    const slash = base.lastIndexOf('/');
    if (slash > 0) {
      const i = idIndex.get(base.slice(0, slash));
      if (i !== undefined) return { node: i, tail: false };
    }
    const nchwc = /^(.*)_nchwc$/.exec(base);
    if (nchwc) {
      const i = producer.get(nchwc[1] ?? '');
      if (i !== undefined) return { node: i, tail: true };
    }
    return undefined;
  };

  // Producers of a node's inputs, best fusion candidate first: single-consumer edges, then latest in
  // model (topological) order, since a fusion always merges with the immediately preceding node.
  const producersOf = (i: number): number[] => {
    const n = modelNodes[i];
    if (n === undefined) return [];
    const ps = n.inputs.flatMap((t) => {
      const p = producer.get(t);
      return p === undefined ? [] : [{ p, single: consumers.get(t) === 1 }];
    });
    ps.sort((a, b) => Number(b.single) - Number(a.single) || b.p - a.p);
    return ps.map((x) => x.p);
  };

  kernels.forEach((k, ki) => {
    const a = anchorOf(k.name);
    if (a === undefined || owner[a.node] !== undefined) return;
    owner[a.node] = ki;
    if (!a.tail) return;
    // Walk from the tail up to the head op of this kernel (e.g. Relu <- BN <- Conv for "r_nchwc").
    const path: number[] = [];
    let cur = a.node;
    for (let step = 0; step < 8; step++) {
      const n = modelNodes[cur];
      if (n === undefined || n.opType === k.opType || !FOLDABLE.has(n.opType)) break;
      const next = producersOf(cur).find((p) => owner[p] === undefined);
      if (next === undefined) break;
      path.push(next);
      cur = next;
    }
    const head = modelNodes[cur];
    if (head !== undefined && head.opType === k.opType) for (const p of path) owner[p] = ki;
  });

  // Absorb foldable nodes into their producer's kernel until nothing changes (chains like BN -> Relu).
  for (let changed = true; changed; ) {
    changed = false;
    modelNodes.forEach((n, i) => {
      if (owner[i] !== undefined || !FOLDABLE.has(n.opType)) return;
      for (const p of producersOf(i)) {
        if (owner[p] !== undefined) {
          owner[i] = owner[p];
          changed = true;
          return;
        }
      }
    });
  }

  const nodes: NodeProfile[] = kernels.map((k, ki) => {
    const covered = modelNodes.filter((_, i) => owner[i] === ki).map((n) => n.id);
    const plain = covered.length === 1 && covered[0] === k.name;
    return { ...k, ...(covered.length > 0 && !plain ? { fusedFrom: covered } : {}) };
  });
  const unattributed = modelNodes.filter((_, i) => owner[i] === undefined).map((n) => n.id);
  return { nodes, unattributed };
}

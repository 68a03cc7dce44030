// What a profiled run says about each kernel, and which model nodes each kernel computes. Pure functions of
// ORT's trace and the model's node list, shared by every backend: profile.ts (node, wasm), the browser
// bench page (src/runtime/page/runner.ts computes kernelStats inside Chromium) and browser.ts.
import { RebirthError } from '../errors.js';
import type { LatencyBackend } from './backends.js';
import type { ModelNode } from './model-nodes.js';
import type { TraceEvent } from './trace.js';

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

/** Raw per-kernel totals from a trace. */
export interface KernelStat {
  name: string;
  opType: string;
  provider: string;
  nodeIndex?: number;
  /** Mean over the kept runs, ms. */
  ms: number;
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

/**
 * The latency table: every item (src/shrink/candidates.ts) built as a model of its own (input the
 * value the item reads, batch 1; the item's convs, kept activations and Add; then the activation that
 * follows it, which the plan keeps) and timed on the target runtime. Merged convs get synthetic
 * weights of their shape (syntheticConv).
 *
 * Items reading the same shape are timed together, interleaved (src/runtime/timing.ts), with a model
 * that only copies its input (Identity): a run's fixed cost (binding inputs, copying the output back
 * to JavaScript) is in every item's time but not once per layer of the whole network, so it is
 * subtracted. The sum over a segmentation's items then estimates that segmentation's share of the
 * network's latency, the additive model Kim et al. (ICML'23) and LayerMerge (ICML'24) build their
 * dynamic programs on; `rebirth shrink` reports the measured whole-model latency next to the estimate.
 */
import type { Graph, Model, Node } from '../ir/graph.js';
import { GraphBuilder, modelOf } from '../ir/builder.js';
import { NameGen } from '../ir/topology.js';
import { encodeModel } from '../onnx/encode.js';
import { pairedGain, timeModels, type Clock, type LatencyOptions, type LatencyStats } from '../runtime/timing.js';
import { pairedInterval } from '../runtime/decide.js';
import { RebirthError } from '../errors.js';
import type { Backend } from '../runtime/session.js';
import type { BrowserRuntime } from '../runtime/browser.js';
import { pathGroupShape, type Item } from './candidates.js';
import { convNode } from './apply.js';
import type { ConvShape, LinearConv, PaddingMode } from '../rewrite/linear-conv.js';
import { linearConvOfNode, type Activation, type BlockUnit, type ModelStructure } from './structure.js';

// Re-exported for shrink.ts, which takes the clock option's type from this module.
export type { Clock } from '../runtime/timing.js';

/**
 * Where shrink times: onnxruntime-node, onnxruntime-web's WASM in this process, or onnxruntime-web's WASM
 * in headless Chromium ('browser', src/runtime/browser.ts), the runtime a web page ships with.
 */
export type ShrinkTarget = Backend | 'browser';
export const SHRINK_TARGETS: readonly ShrinkTarget[] = ['node', 'wasm', 'browser'];

export interface LatencyTableOptions {
  backend?: ShrinkTarget;
  /** Timed rounds per model (default 20). */
  runs?: number;
  /** Minimum warm-up per group of models (default: the runtime's, 300 ms). */
  warmupMs?: number;
  /**
   * 'cpu' (default): median process CPU time per run. With one intra-op thread that is the run's own
   * work, which other processes competing for the cores do not inflate; 'wall' is what a user waits.
   */
  clock?: Clock;
  padding?: PaddingMode;
  /**
   * For target 'browser': an open Chromium to time in (planShrink opens one for its whole plan). Without
   * it, each timing call launches and closes its own.
   */
  browser?: BrowserRuntime;
}

export interface LatencyTable {
  backend: ShrinkTarget;
  clock: Clock;
  /** Item id -> milliseconds (fixed run cost subtracted, never below 0). */
  ms: Map<string, number>;
  /** The fixed run cost subtracted, per input shape. */
  overheadMs: Map<string, number>;
}

/** Builds the small models of the latency table. */
class ItemGraph {
  readonly b: GraphBuilder;
  readonly names: NameGen;

  constructor(private readonly source: Graph, input: number[]) {
    this.b = new GraphBuilder('item');
    this.names = this.b.names;
    this.b.input('x', [1, ...input]);
  }

  conv(x: string, conv: LinearConv): string {
    const name = this.names.fresh('conv');
    const node = convNode(this.b.graph, this.names, name, x, name, conv);
    this.b.graph.nodes.push(node);
    return name;
  }

  /** A copy of an activation's nodes reading `x` (constant inputs copied along). */
  activation(x: string, act: Activation): string {
    const rename = new Map<string, string>([[act.input, x]]);
    for (const n of act.nodes) {
      const inputs = n.inputs.map((i) => {
        const mapped = rename.get(i);
        if (mapped !== undefined) return mapped;
        const t = this.source.initializers.get(i);
        if (t && !this.b.graph.initializers.has(i)) this.b.graph.initializers.set(i, t);
        return i;
      });
      const outputs = n.outputs.map((o) => {
        if (!o) return o;
        const fresh = this.names.fresh(o);
        rename.set(o, fresh);
        return fresh;
      });
      const copy: Node = { ...n, name: this.names.fresh(n.name || n.opType), inputs, outputs, attributes: [...n.attributes] };
      this.b.graph.nodes.push(copy);
    }
    return rename.get(act.output) ?? x;
  }

  identity(x: string): string {
    return this.b.op('Identity', [x], {}, 'identity');
  }

  add(a: string, b: string): string {
    return this.b.op('Add', [a, b], {}, 'add');
  }

  finish(y: string): Model {
    this.b.output(y);
    return modelOf(this.b.graph, 13);
  }
}

/**
 * A conv of the given shape with seeded weights in [-1, 1) / fan-in: timing depends on the shape, not
 * the values (no kernel of ORT skips zeros), so merged convs are timed without computing their weights.
 */
export function syntheticConv(shape: ConvShape, seed = 1): LinearConv {
  let state = seed >>> 0 || 1;
  const fanIn = (shape.cin / shape.group) * shape.kernel.reduce((a, b) => a * b, 1);
  const n = shape.cout * fanIn;
  const weight = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    weight[i] = (state / 2147483648 - 1) / fanIn;
  }
  return { ...shape, weight, bias: new Float64Array(shape.cout).fill(shape.biased ? 0.01 : 0) };
}

function blockModel(g: ItemGraph, graph: Graph, structure: ModelStructure, u: BlockUnit, groups: number[][], padding: PaddingMode): string {
  let y = 'x';
  groups.forEach((grp, gi) => {
    const shape = grp.length === 1 ? undefined : pathGroupShape(graph, structure, u, grp, padding);
    if (typeof shape === 'string') throw new RebirthError(`latency table: block '${u.add.name}': ${shape}`);
    y = g.conv(y, shape ? syntheticConv(shape) : linearConvOfNode(graph, u.path[grp[0] as number] as Node));
    const slot = u.pathSlots[grp[grp.length - 1] as number];
    if (gi < groups.length - 1 && slot) y = g.activation(y, slot);
  });
  const shortcut = u.shortcut ? g.conv('x', linearConvOfNode(graph, u.shortcut)) : 'x';
  return g.add(shortcut, y);
}

/** The stand-alone model of one item (see the file comment). */
export function itemModel(folded: Model, structure: ModelStructure, item: Item, padding: PaddingMode = 'push'): Model {
  const graph = folded.graph;
  const chain = structure.chains[item.chain];
  const unit = chain?.units[item.first];
  if (!chain || !unit) throw new RebirthError(`latency table: item ${item.id} names no unit of this model`);
  const shape = structure.shapes.get(unit.input);
  if (!shape) throw new RebirthError(`latency table: item ${item.id} reads '${unit.input}', whose shape is unknown`);
  const g = new ItemGraph(graph, shape);
  let y: string;
  if (item.kind === 'merge') {
    if (!item.shape) throw new RebirthError(`latency table: merge item ${item.id} has no shape`);
    y = g.conv('x', syntheticConv(item.shape));
  } else if (item.kind === 'skip' && unit.kind === 'block') {
    y = unit.shortcut ? g.conv('x', linearConvOfNode(graph, unit.shortcut)) : g.identity('x');
  } else if (unit.kind === 'conv') {
    y = g.conv('x', linearConvOfNode(graph, unit.node));
  } else {
    y = blockModel(g, graph, structure, unit, item.kind === 'block' ? item.groups ?? [] : unit.path.map((_, k) => [k]), padding);
  }
  const end = chain.slots[item.last];
  if (end) y = g.activation(y, end);
  return g.finish(y);
}

function identityModel(shape: number[]): Model {
  const b = new GraphBuilder('copy');
  b.input('x', [1, ...shape]);
  b.output(b.op('Identity', ['x']));
  return modelOf(b.graph, 13);
}

function pick(stats: LatencyStats | undefined, clock: Clock): number {
  if (!stats) return NaN;
  return clock === 'cpu' ? stats.cpuMedianMs : stats.medianMs;
}

/** The clock of a target's times unless one is asked for: a page has no process CPU clock, so wall there. */
export function defaultClock(target: ShrinkTarget | undefined): Clock {
  return target === 'browser' ? 'wall' : 'cpu';
}

/**
 * timeModels on the target. In the browser the page times the models interleaved (timeModelsInBrowser);
 * it has no time budget (minSeconds) and no process CPU clock (its 'cpu' times are the wall times), so
 * a speed-up there takes a fixed number of rounds instead, at least 200: a 0.2-1 ms network needs that
 * many for an interval of a few percent (section "Timing a small network" of docs/shrink.md).
 */
async function timeOn(
  target: ShrinkTarget,
  models: Readonly<Record<string, Uint8Array>>,
  options: Omit<LatencyOptions, 'backend' | 'threads'>,
  browser?: BrowserRuntime,
): Promise<Record<string, LatencyStats>> {
  if (target !== 'browser') return timeModels(models, { ...options, backend: target, threads: 1 });
  const { timeModelsInBrowser } = await import('../runtime/browser.js');
  const runs = options.minSeconds !== undefined ? Math.max(200, options.runs ?? 40) : (options.runs ?? 20);
  return timeModelsInBrowser(models, {
    backend: 'browser:wasm', threads: 1, runs, ...(options.warmupMs !== undefined ? { warmupMs: options.warmupMs } : {}), ...(browser ? { runtime: browser } : {}),
  });
}

/** Time every item on the backend (see the file comment). */
export async function measureLatencyTable(folded: Model, structure: ModelStructure, items: readonly Item[], options: LatencyTableOptions = {}): Promise<LatencyTable> {
  const backend = options.backend ?? 'node';
  const clock = options.clock ?? defaultClock(backend);
  const padding = options.padding ?? 'push';
  const byShape = new Map<string, { shape: number[]; items: Item[] }>();
  for (const item of items) {
    const unit = structure.chains[item.chain]?.units[item.first];
    const shape = unit ? structure.shapes.get(unit.input) : undefined;
    if (!shape) continue;
    const key = shape.join('x');
    const entry = byShape.get(key) ?? { shape, items: [] };
    entry.items.push(item);
    byShape.set(key, entry);
  }
  const ms = new Map<string, number>();
  const overheadMs = new Map<string, number>();
  for (const [key, { shape, items: group }] of byShape) {
    const models: Record<string, Uint8Array> = { __copy: encodeModel(identityModel(shape)) };
    for (const item of group) models[item.id] = encodeModel(itemModel(folded, structure, item, padding));
    const stats = await timeOn(backend, models, { runs: options.runs ?? 20, ...(options.warmupMs !== undefined ? { warmupMs: options.warmupMs } : {}) }, options.browser);
    const overhead = pick(stats.__copy, clock);
    overheadMs.set(key, overhead);
    for (const item of group) ms.set(item.id, Math.max(0, pick(stats[item.id], clock) - overhead));
  }
  return { backend, clock, ms, overheadMs };
}

/** Median latency of whole models on the backend, interleaved, on the table's clock. */
export async function measureModels(models: Readonly<Record<string, Model>>, options: LatencyTableOptions = {}): Promise<Record<string, number>> {
  const encoded = Object.fromEntries(Object.entries(models).map(([k, m]) => [k, encodeModel(m)]));
  const stats = await timeOn(options.backend ?? 'node', encoded, { runs: options.runs ?? 20, ...(options.warmupMs !== undefined ? { warmupMs: options.warmupMs } : {}) }, options.browser);
  return Object.fromEntries(Object.keys(models).map((k) => [k, pick(stats[k], options.clock ?? defaultClock(options.backend))]));
}


export interface SpeedupOptions extends LatencyTableOptions {
  /**
   * Time for at least this long (timeModels' minSeconds, default 2 s), `runs` rounds (default 40) at
   * least, `maxRounds` (default 5000) at most. With 40 rounds the paired interval of mobilenetv2-mini's
   * speed-up (0.2 ms a run on node) was about +-3% wide, and five runs of one plan measured 1.33-1.47x;
   * with 2,000 rounds two runs measured 1.40x [1.39-1.42] and 1.39x [1.38-1.41] (docs/shrink.md,
   * "Timing a small network").
   */
  minSeconds?: number;
  maxRounds?: number;
}

export interface Speedup {
  speedup: number;
  /** 95% distribution-free interval of the paired median (pairedInterval). */
  interval: [number, number];
  beforeMs: number;
  afterMs: number;
  rounds: number;
}

/**
 * Speed-up of `after` over `before` on the backend: the median over interleaved rounds of the per-round
 * ratio (pairedGain), so load that slows one round slows both models of it; with the medians of each.
 */
export async function measureSpeedup(before: Model, after: Model, options: SpeedupOptions = {}): Promise<Speedup> {
  const clock = options.clock ?? defaultClock(options.backend);
  const stats = await timeOn(options.backend ?? 'node', { before: encodeModel(before), after: encodeModel(after) }, {
    runs: options.runs ?? 40, minSeconds: options.minSeconds ?? 2,
    ...(options.maxRounds !== undefined ? { maxRounds: options.maxRounds } : {}), ...(options.warmupMs !== undefined ? { warmupMs: options.warmupMs } : {}),
  }, options.browser);
  const a = stats.before;
  const b = stats.after;
  if (!a || !b) throw new RebirthError('timing returned no result for the two models');
  const [ra, rb] = clock === 'cpu' ? [a.cpuRuns, b.cpuRuns] : [a.runs, b.runs];
  return {
    speedup: pairedGain(a, b, clock), interval: pairedInterval(ra, rb, { confidence: 0.95 }).interval,
    beforeMs: pick(a, clock), afterMs: pick(b, clock), rounds: a.runs.length,
  };
}

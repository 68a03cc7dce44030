/**
 * Finding, costing, applying and timing DeepRebirth merges over a whole model (the timing itself is
 * src/runtime/timing.ts).
 *
 * The model is first folded exactly (fold.ts: BatchNorm, Scale, Pad into the conv, identities removed),
 * so a PyTorch export with BN goes straight through: `planMerges` and `applyMerges` fold without running
 * anything, `mergeModel` and `measureMerges` verify the folds on ONNX Runtime first. `fold: false` skips it.
 *
 * Candidates are found in graph order (input side first, Caffe's "bottom to top"): every Conv that
 * starts a streamline block, every Concat that closes an Inception module, and every Concat of parallel
 * convs of one input (a Fire module, merged exactly: fire.ts). Each is named after its Caffe prefix
 * ('conv1', 'conv2', 'inception_3a') or its torch module ('conv1', 'inception3a', 'features.3'), which is
 * what `only` selects and what the paper's retraining steps are called. Candidates never share nodes (a
 * streamline block is a conv and the non-tensor layers after it; a module is everything between its
 * input and its Concat), so applying several is the same as applying them one after another.
 */
import type { Graph, Model, Node } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { NameGen, outerScopeReads, topologicalSort } from '../ir/topology.js';
import { encodeModel } from '../onnx/encode.js';
import { RebirthError } from '../errors.js';
import { buildBranch, matchInception, removedByBranch, type BranchMatch, type BranchOptions } from './branch.js';
import { buildFire, matchFire, removedByFire, type FireMatch } from './fire.js';
import { foldExact, foldForMerge, type FoldOptions, type FoldReport } from './fold.js';
import { totals } from './cost.js';
import type { InitMethod, RebirthLayer } from './init.js';
import { blockPrefix, viewOf, type GraphView } from './layers.js';
import { knownShapes } from '../shapes/known.js';
import { pairedGain, timeModels, type LatencyOptions, type LatencyStats } from '../runtime/timing.js';
import { buildStreamline, matchStreamline, streamlineName, type BuildContext, type BuiltMerge, type StreamlineMatch, type StreamlineOptions } from './streamline.js';

/** 'fire': parallel convs of one input joined by a Concat (SqueezeNet's Fire), merged exactly. */
export type MergeKind = 'streamline' | 'branch' | 'fire';

export interface MergeOptions extends StreamlineOptions, BranchOptions {
  /** Merge conv + pool/LRN blocks. Default true. */
  streamline?: boolean;
  /** Merge Inception modules. Default true. */
  branch?: boolean;
  /** Merge parallel convs of one input (Fire modules), exactly. Default true. */
  fire?: boolean;
  /** Fold BatchNorm, Scale, Pad and identities first (fold.ts). Default true. */
  fold?: boolean;
  /** Apply only these candidates (names as planMerges reports them). */
  only?: readonly string[];
  /** Initial weights of rebirth layers. Default 'xavier' (the paper). */
  init?: InitMethod;
  /** Seed of the Xavier draws. Default 0. */
  seed?: number;
  /**
   * Per-candidate streamline and branch options, by candidate name, over the ones above: a runtime plan
   * (src/plan) chooses the kernel mode or the reducer widths of each block separately.
   */
  perCandidate?: Readonly<Record<string, CandidateOverrides>>;
}

/** The options a runtime plan may choose per candidate. */
export type CandidateOverrides = Pick<StreamlineOptions & BranchOptions, 'kernel' | 'reducerRatio' | 'reducer5Ratio' | 'layout'>;

export interface Refusal {
  name: string;
  reason: string;
}

export interface AppliedMerge {
  name: string;
  kind: MergeKind;
  /** Original node names the merge replaced or rewired. */
  layers: string[];
  /** One line: what became what. */
  description: string;
  /** True when the merge is exact whatever the init (a Fire merge): it creates no rebirth layer to retrain. */
  exact: boolean;
}

export interface MergeCandidate extends AppliedMerge {
  /** FLOPs of the replaced nodes and of their replacement (undefined when a shape is unknown). */
  flops: { before: number | undefined; after: number | undefined };
  params: { before: number; after: number };
}

export interface MergePlan {
  candidates: MergeCandidate[];
  refused: Refusal[];
  /** The exact folds made before planning (unverified here; `mergeModel` verifies them). */
  folds: FoldReport[];
}

export interface MergeResult {
  model: Model;
  /** The exact folds made before merging, per rule. */
  folds: FoldReport[];
  merges: AppliedMerge[];
  refused: Refusal[];
  /** Initializer names of all rebirth layers: the ones the trainer gives a 10x learning rate. */
  rebirthParams: string[];
  rebirthLayers: RebirthLayer[];
}

type Match = StreamlineMatch | BranchMatch | FireMatch;

function removedNodes(m: Match): Node[] {
  switch (m.kind) {
    case 'streamline': return [m.conv.node, ...m.chain];
    case 'branch': return removedByBranch(m);
    case 'fire': return removedByFire(m);
  }
}

/** Node that the replacement takes the place of. */
function anchorOf(m: Match): Node {
  return m.kind === 'streamline' ? m.conv.node : m.concat;
}

function applied(m: Match): AppliedMerge {
  return { name: m.name, kind: m.kind, layers: m.layers, description: m.description, exact: m.kind === 'fire' };
}

function checkOptions(options: MergeOptions): void {
  const ratio = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0 && v <= 1)) {
      throw new RebirthError(`option ${name} must be in (0, 1], got ${v}`);
    }
  };
  ratio('reducerRatio', options.reducerRatio);
  ratio('reducer5Ratio', options.reducer5Ratio);
  for (const [name, o] of Object.entries(options.perCandidate ?? {})) {
    ratio(`perCandidate['${name}'].reducerRatio`, o.reducerRatio);
    ratio(`perCandidate['${name}'].reducer5Ratio`, o.reducer5Ratio);
    if (o.kernel !== undefined && o.kernel !== 'cover' && o.kernel !== 'keep') {
      throw new RebirthError(`option perCandidate['${name}'].kernel must be 'cover' or 'keep', got '${String(o.kernel)}'`);
    }
  }
  if (options.init !== undefined && options.init !== 'xavier' && options.init !== 'inherit') {
    throw new RebirthError(`option init must be 'xavier' or 'inherit', got '${String(options.init)}'`);
  }
  if (options.kernel !== undefined && options.kernel !== 'cover' && options.kernel !== 'keep') {
    throw new RebirthError(`option kernel must be 'cover' or 'keep', got '${String(options.kernel)}'`);
  }
  if (options.layout !== undefined && options.layout !== 'paper' && options.layout !== 'carry') {
    throw new RebirthError(`option layout must be 'paper' or 'carry', got '${String(options.layout)}'`);
  }
  if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) {
    throw new RebirthError(`option seed must be a safe integer, got ${options.seed}`);
  }
}

/** Every streamline block and Inception module of the graph, or why one is refused. */
function findMatches(view: GraphView, options: MergeOptions): { matches: Match[]; refused: Refusal[] } {
  const matches: Match[] = [];
  const refused: Refusal[] = [];
  const claimed = new Map<Node, string>();
  const usedNames = new Set<string>();
  const unique = (base: string, fallback: string): string => {
    const name = usedNames.has(base) ? fallback : base;
    let k = 2;
    let out = name;
    while (usedNames.has(out)) out = `${name}#${k++}`;
    usedNames.add(out);
    return out;
  };
  const doStreamline = options.streamline ?? true;
  const doBranch = options.branch ?? true;
  const doFire = options.fire ?? true;
  for (const node of view.graph.nodes) {
    let m: Match | string | null = null;
    if (doStreamline && node.opType === 'Conv') m = matchStreamline(view, node, options);
    else if (node.opType === 'Concat') {
      // Parallel convs of one input are a Fire module; anything else with shared inputs may be an Inception module.
      const fire = matchFire(view, node);
      if (fire !== null) m = doFire ? fire : null;
      else if (doBranch) m = matchInception(view, node, options);
    }
    // A candidate with its own options is matched again with them: the geometry and widths are fixed at match time.
    const own = m !== null && typeof m !== 'string' && m.kind !== 'fire' ? options.perCandidate?.[m.name] : undefined;
    if (own) m = m !== null && typeof m !== 'string' && m.kind === 'streamline' ? matchStreamline(view, node, { ...options, ...own }) : matchInception(view, node, { ...options, ...own });
    if (m === null) continue;
    const nodeName = node.name || node.outputs[0] || node.opType;
    if (typeof m === 'string') {
      refused.push({ name: node.opType === 'Conv' ? streamlineName(view, node) : blockPrefix(nodeName), reason: m });
      continue;
    }
    const overlap = removedNodes(m).find((n) => claimed.has(n));
    if (overlap) {
      refused.push({ name: m.name, reason: `shares node '${overlap.name}' with merge '${claimed.get(overlap) ?? '?'}'` });
      continue;
    }
    m.name = unique(m.name, nodeName);
    for (const n of removedNodes(m)) claimed.set(n, m.name);
    matches.push(m);
  }
  return { matches, refused };
}

function build(m: Match, ctx: BuildContext): BuiltMerge {
  switch (m.kind) {
    case 'streamline': return buildStreamline(m, ctx);
    case 'branch': return buildBranch(m, ctx);
    case 'fire': return buildFire(m, ctx);
  }
}

/** Applies matches to a copy of the graph; the input graph and its tensors are not modified. */
function rewrite(graph: Graph, matches: readonly Match[], ctx: BuildContext): { graph: Graph; layers: RebirthLayer[]; added: Node[][] } {
  const replacements = new Map<Node, Node[]>();
  const removed = new Set<Node>();
  const initializers = new Map<string, Tensor>(graph.initializers);
  const layers: RebirthLayer[] = [];
  const added: Node[][] = [];
  for (const m of matches) {
    const built = build(m, ctx);
    for (const n of removedNodes(m)) removed.add(n);
    replacements.set(anchorOf(m), built.nodes);
    for (const t of built.initializers) initializers.set(t.name, t);
    layers.push(...built.layers);
    added.push(built.nodes);
  }
  const nodes: Node[] = [];
  for (const n of graph.nodes) {
    const r = replacements.get(n);
    if (r) nodes.push(...r);
    else if (!removed.has(n)) nodes.push(n);
  }
  // Drop the weights only the removed nodes used.
  const live = new Set<string>(graph.outputs.map((v) => v.name));
  for (const n of nodes) {
    for (const i of n.inputs) live.add(i);
    for (const r of outerScopeReads(n)) live.add(r);
  }
  const graphInputs = new Set(graph.inputs.map((v) => v.name));
  for (const n of removed) for (const i of n.inputs) if (!live.has(i) && !graphInputs.has(i)) initializers.delete(i);
  const produced = new Set<string>();
  for (const n of nodes) for (const o of n.outputs) produced.add(o);
  const out: Graph = { ...graph, nodes, initializers, valueInfo: graph.valueInfo.filter((v) => produced.has(v.name)) };
  topologicalSort(out);
  return { graph: out, layers, added };
}

function selectMatches(matches: readonly Match[], options: MergeOptions): Match[] {
  if (!options.only) return [...matches];
  const names = new Set(matches.map((m) => m.name));
  const unknown = options.only.filter((n) => !names.has(n));
  if (unknown.length) {
    throw new RebirthError(`option only names ${unknown.map((n) => `'${n}'`).join(', ')}, not merge candidates of this model (candidates: ${[...names].join(', ') || 'none'})`);
  }
  const only = new Set(options.only);
  return matches.filter((m) => only.has(m.name));
}

/** Every merge candidate with its FLOPs and parameters before and after, and every refusal with its reason. */
export function planMerges(input: Model, options: MergeOptions = {}): MergePlan {
  checkOptions(options);
  const { model, folds } = options.fold === false ? { model: input, folds: [] } : foldExact(input);
  const view = viewOf(model);
  const { matches, refused } = findMatches(view, options);
  // Cost each replacement on one rewritten copy holding all of them (its new values need shapes):
  // candidates are disjoint and keep their block's output shapes, so each replacement sees the same
  // shapes as it would alone. Weights do not matter for counting, so draw the Xavier ones whatever
  // `init` says.
  const ctx: BuildContext = { names: new NameGen(model.graph), initializers: model.graph.initializers, init: 'xavier', seed: options.seed ?? 0 };
  const { graph, added } = rewrite(model.graph, matches, ctx);
  const merged = knownShapes({ ...model, graph }).inference;
  const candidates = matches.map((m, i): MergeCandidate => {
    const before = totals(removedNodes(m), view.inference);
    const after = totals(added[i] ?? [], merged);
    return { ...applied(m), flops: { before: before.flops, after: after.flops }, params: { before: before.params, after: after.params } };
  });
  return { candidates, refused, folds };
}

/**
 * Applies the merges the options select to a copy of the model, after the exact folds (unverified here:
 * `mergeModel` runs them on ONNX Runtime). Refused candidates are listed with their reasons; the merged
 * model has the original inputs, outputs and output shapes.
 */
export function applyMerges(input: Model, options: MergeOptions = {}): MergeResult {
  checkOptions(options);
  const { model, folds } = options.fold === false ? { model: input, folds: [] } : foldExact(input);
  const view = viewOf(model);
  const { matches, refused } = findMatches(view, options);
  const selected = selectMatches(matches, options);
  const ctx: BuildContext = { names: new NameGen(model.graph), initializers: model.graph.initializers, init: options.init ?? 'xavier', seed: options.seed ?? 0 };
  const { graph, layers } = rewrite(model.graph, selected, ctx);
  return {
    model: { ...model, graph },
    folds,
    merges: selected.map(applied),
    refused,
    rebirthParams: layers.flatMap((l) => l.params),
    rebirthLayers: layers,
  };
}

/**
 * `applyMerges` after the exact folds, each verified on ONNX Runtime (fold.ts; `verify` sets the backend,
 * tolerance and input sizes): what `rebirth merge` does. Throws a RebirthError when a fold cannot be verified.
 */
export async function mergeModel(model: Model, options: MergeOptions = {}, verify: FoldOptions = {}): Promise<MergeResult> {
  checkOptions(options);
  if (options.fold === false) return applyMerges(model, options);
  const folded = await foldForMerge(model, verify);
  return { ...applyMerges(folded.model, { ...options, fold: false }), folds: folded.folds };
}

export interface CandidateLatency {
  name: string;
  kind: MergeKind;
  /** Median wall times of the original and of the model with only this merge. */
  baselineMs: number;
  mergedMs: number;
  /** Paired wall-time speed-up (pairedGain): above 1 the merge pays on this backend. */
  gain: number;
  /** The same from process CPU time, robust to other processes competing for the cores. */
  cpuGain: number;
}

/**
 * The whole-model latency gain of each candidate applied alone, on one backend. Each candidate is timed
 * interleaved with the original model (folded first, verified on ORT, unless `fold: false`), so the gain
 * is robust to load drift and is the merge's own. The DeepRebirth lesson measured here: which merge pays
 * depends on the runtime.
 */
export async function measureMerges(input: Model, options: MergeOptions & LatencyOptions = {}): Promise<CandidateLatency[]> {
  const model = options.fold === false ? input : (await foldForMerge(input, { ...(options.backend ? { backend: options.backend } : {}) })).model;
  const opts = { ...options, fold: false };
  const plan = planMerges(model, opts);
  const names = opts.only ? [...opts.only] : plan.candidates.map((c) => c.name);
  const baseline = encodeModel(model);
  const out: CandidateLatency[] = [];
  for (const name of names) {
    const merged = applyMerges(model, { ...opts, only: [name] });
    const kind = merged.merges[0]?.kind ?? 'streamline';
    const t = await timeModels({ baseline, merged: encodeModel(merged.model) }, opts);
    const b = t.baseline as LatencyStats;
    const m = t.merged as LatencyStats;
    out.push({ name, kind, baselineMs: b.medianMs, mergedMs: m.medianMs, gain: pairedGain(b, m), cpuGain: pairedGain(b, m, 'cpu') });
  }
  return out;
}

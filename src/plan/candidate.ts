/**
 * The candidate abstraction of runtime plans: a transformation family (src/merge, src/decompose,
 * src/rewrite) proposes candidates as data and knows how to build each; the planner (search.ts) only
 * measures and chooses. Families stay ignorant of runtimes, and the planner of what a merge or a
 * decomposition is.
 *
 * Building a candidate on top of other candidates must not rerun the family's whole transform each
 * time the search asks for "the plan so far plus this one": a Tucker layer costs an SVD, a merge a shape
 * inference of the whole model. So each candidate is built once, on the model it was proposed for, and
 * the difference is kept as a graph patch (nodes removed, nodes added, initializers added and dropped).
 * Candidates of one stage are proposed on one model and replace disjoint nodes, so their patches
 * compose: applying several patches gives the model the family would build by applying the candidates
 * one after another (every transform here reads only the weights of the nodes it replaces). A patch
 * that finds one of its nodes gone (another candidate replaced it) is a conflict, reported as such.
 */
import type { Model, Node } from '../ir/graph.js';
import { numel, type Tensor } from '../ir/tensor.js';
import { topologicalSort } from '../ir/topology.js';
import type { LayerRanks } from '../decompose/ranks.js';
import type { CandidateOverrides } from '../merge/plan.js';
import type { PaddingMode } from '../rewrite/linear-conv.js';

export type Exactness = 'exact' | 'approximate';

/**
 * One changed item of a depth-compression plan (src/shrink/candidates.ts), named by the units it spans
 * (their node names, as src/shrink/structure.ts unitName gives them) rather than by chain and unit
 * indices: names survive a re-analysis of the model, indices depend on which chains were found first.
 */
export interface ShrinkRecipeItem {
  kind: 'merge' | 'block' | 'skip';
  /** First and last unit of the run ('block' and 'skip': the same block). */
  from: string;
  to: string;
  /** 'block': the groups of path-conv indices, each merged into one conv. */
  groups?: number[][];
}

/** What is needed to rebuild a candidate on another model (retrained weights, a cached plan): JSON. */
export type CandidateRecipe =
  | { family: 'merge'; merge: string; options: CandidateOverrides }
  | { family: 'shrink'; items: ShrinkRecipeItem[]; padding: PaddingMode }
  | { family: 'tucker'; ranks: Record<string, LayerRanks> }
  /**
   * `node`: the output of the group's first conv in the planned model; `members`: every conv's output. A
   * model rebuilt another way (retrained merges) may order the siblings differently, and the fusion
   * rule starts a group at its first member in graph order, so any member has to identify the group.
   */
  | { family: 'fusion'; rule: string; node: string; members?: string[] };

export interface PlanCandidate {
  /** Unique within a plan: site and variant ('conv1@keep', 'inception_3a@reducer 0.5', 'tucker:conv2@1/2'). */
  name: string;
  /** The family that proposed it: 'streamline', 'branch', 'fire', 'shrink', 'tucker', 'horizontal-fusion'. */
  family: string;
  /** Candidates of one site are alternatives: at most one of them is kept. */
  site: string;
  /** What distinguishes this alternative at its site ('keep', 'reducer 0.5', 'ranks 1/2'). */
  variant: string;
  /** Names of the nodes it replaces. */
  nodes: string[];
  exactness: Exactness;
  /** Parameters retraining would have to learn (0 for an exact change). */
  retrainParams: number;
  /**
   * Order of the site's alternatives by how far each moves the model from the original, closest first
   * (0, 1, 2 ...): with a budget, the first alternative that pays is taken.
   */
  severity: number;
  /** One line: what becomes what. */
  description: string;
  recipe: CandidateRecipe;
  /** The change applied to `model` (which must contain `nodes`); the family's own transform. */
  build(model: Model): Promise<Model>;
}

/** A candidate's change as data: valid on any model that still holds the removed nodes unchanged. */
export interface GraphPatch {
  /** Keys (nodeKey) of the nodes replaced, in graph order. */
  removed: string[];
  /** Node names of the removed nodes, for messages. */
  removedNames: string[];
  added: Node[];
  initializers: Tensor[];
  /** Initializers the change stopped reading (dropped where nothing else reads them). */
  dropped: string[];
}

/**
 * A node's identity for patches: name, op and wiring. Two models built from one another share their
 * untouched nodes, so this finds them again; a node a transform rewired has another key.
 */
export function nodeKey(n: Node): string {
  return `${n.name}\u0001${n.domain}\u0001${n.opType}\u0001${n.inputs.join('\u0002')}\u0001${n.outputs.join('\u0002')}`;
}

/** The patch that turns `before` into `after` (after = some transform of before that did not modify it). */
export function diffModels(before: Model, after: Model): GraphPatch {
  const beforeKeys = new Map<string, Node>();
  for (const n of before.graph.nodes) beforeKeys.set(nodeKey(n), n);
  const afterKeys = new Set(after.graph.nodes.map(nodeKey));
  const removedNodes = before.graph.nodes.filter((n) => !afterKeys.has(nodeKey(n)));
  const added = after.graph.nodes.filter((n) => !beforeKeys.has(nodeKey(n)));
  const initializers: Tensor[] = [];
  for (const [name, t] of after.graph.initializers) if (!sameTensor(before.graph.initializers.get(name), t)) initializers.push(t);
  const dropped = [...before.graph.initializers.keys()].filter((k) => !after.graph.initializers.has(k));
  return { removed: removedNodes.map(nodeKey), removedNames: removedNodes.map((n) => n.name || n.outputs[0] || n.opType), added, initializers, dropped };
}

/** The same tensor, or a shallow copy of it (cloneModel copies tensor objects and shares their bytes). */
function sameTensor(a: Tensor | undefined, b: Tensor): boolean {
  if (a === b) return true;
  return a !== undefined && a.data !== undefined && a.data === b.data && a.dataType === b.dataType && a.dims.join() === b.dims.join();
}

/**
 * Splits a patch made of several independent replacements into one patch per group of removed nodes:
 * each group's added nodes are those that compute its outputs back to values that existed before the
 * patch (a decomposed layer's in / core / out convs, back to the layer's input), with the initializers
 * they read and the ones its removed nodes stopped reading. The walk stops at values of `before`, not
 * only at values the patch did not add: when two replaced layers are adjacent (MobileNetV2's project
 * conv feeding the next block's expand conv), the first one's output is written by an added node, and
 * walking through it would hand the first layer's nodes to the second group too, so the two groups'
 * patches would both write them and conflict. Added nodes that feed no group's outputs stay unassigned
 * (none do in the replacements split here).
 */
export function splitPatch(before: Model, patch: GraphPatch, groups: ReadonlyArray<readonly string[]>): GraphPatch[] {
  const byName = new Map(before.graph.nodes.map((n) => [n.name || n.outputs[0] || n.opType, n]));
  const producer = new Map<string, Node>();
  for (const n of patch.added) for (const o of n.outputs) if (o) producer.set(o, n);
  const existed = new Set<string>([...before.graph.inputs.map((v) => v.name), ...before.graph.initializers.keys()]);
  for (const n of before.graph.nodes) for (const o of n.outputs) existed.add(o);
  const fresh = new Map(patch.initializers.map((t) => [t.name, t]));
  const dropped = new Set(patch.dropped);
  return groups.map((names) => {
    const removed = names.map((name) => byName.get(name)).filter((n): n is Node => n !== undefined);
    const added = new Set<Node>();
    const own = new Set(removed.flatMap((n) => n.outputs.filter((o) => o !== '')));
    const stack = [...own];
    while (stack.length) {
      const p = producer.get(stack.pop() as string);
      if (!p || added.has(p)) continue;
      added.add(p);
      stack.push(...p.inputs.filter((i) => i !== '' && (!existed.has(i) || own.has(i))));
    }
    const addedNodes = patch.added.filter((n) => added.has(n));
    const reads = new Set(addedNodes.flatMap((n) => n.inputs));
    return {
      removed: removed.map(nodeKey),
      removedNames: removed.map((n) => n.name || n.outputs[0] || n.opType),
      added: addedNodes,
      initializers: [...reads].map((r) => fresh.get(r)).filter((t): t is Tensor => t !== undefined),
      dropped: [...new Set(removed.flatMap((n) => n.inputs))].filter((i) => dropped.has(i)),
    };
  });
}

/** Elements of the initializers a patch adds: the parameters a retraining would learn. */
export function patchParams(patch: GraphPatch): number {
  return patch.initializers.reduce((a, t) => a + numel(t.dims), 0);
}

/**
 * `model` with the patch applied, or why it cannot be (a node it replaces is gone or rewired, or a
 * name it adds is taken). The input model is not modified; untouched nodes and tensors are shared.
 */
export function applyPatch(model: Model, patch: GraphPatch): Model | string {
  const graph = model.graph;
  const removed = new Set(patch.removed);
  const present = new Set<string>();
  for (const n of graph.nodes) {
    const k = nodeKey(n);
    if (removed.has(k)) present.add(k);
  }
  const missing = patch.removed.findIndex((k) => !present.has(k));
  if (missing >= 0) return `node '${patch.removedNames[missing] ?? '?'}' is no longer in the model (another change replaced it)`;
  const nodes: Node[] = [];
  const taken = new Set<string>();
  let inserted = false;
  for (const n of graph.nodes) {
    if (removed.has(nodeKey(n))) {
      if (!inserted) nodes.push(...patch.added);
      inserted = true;
      continue;
    }
    nodes.push(n);
    for (const o of n.outputs) if (o) taken.add(o);
  }
  if (!inserted) nodes.push(...patch.added);
  for (const n of patch.added) {
    const clash = n.outputs.find((o) => o && taken.has(o));
    if (clash) return `value '${clash}' it writes is already written by another node`;
  }
  const initializers = new Map(graph.initializers);
  for (const t of patch.initializers) initializers.set(t.name, t);
  const read = new Set<string>();
  for (const n of nodes) for (const i of n.inputs) read.add(i);
  for (const v of graph.outputs) read.add(v.name);
  for (const d of patch.dropped) if (!read.has(d)) initializers.delete(d);
  const produced = new Set<string>();
  for (const n of nodes) for (const o of n.outputs) produced.add(o);
  const out: Model = { ...model, graph: { ...graph, nodes, initializers, valueInfo: graph.valueInfo.filter((v) => produced.has(v.name)) } };
  topologicalSort(out.graph);
  return out;
}

/** A candidate with its patch, built once on the model it was proposed for. */
export interface PreparedCandidate {
  candidate: PlanCandidate;
  patch: GraphPatch;
}

export async function prepare(base: Model, candidate: PlanCandidate): Promise<PreparedCandidate> {
  return { candidate, patch: diffModels(base, await candidate.build(base)) };
}

/** Several disjoint patches as one (a block of decomposed layers measured together). */
export function joinPatches(patches: readonly GraphPatch[]): GraphPatch {
  return {
    removed: patches.flatMap((p) => p.removed),
    removedNames: patches.flatMap((p) => p.removedNames),
    added: patches.flatMap((p) => p.added),
    initializers: patches.flatMap((p) => p.initializers),
    dropped: patches.flatMap((p) => p.dropped),
  };
}

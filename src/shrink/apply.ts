/**
 * Graph surgery for depth compression, in two steps:
 *
 * 1. `linearize(folded, items)`: the network to retrain. The chosen activations become the identity;
 *    a block whose path became linear is replaced by its one conv (its shortcut is added into the
 *    kernel: kept unmerged, the shortcut could not follow padding moved across the Add); and, with
 *    padding 'push', the padding of every conv of a merged run after the first moves onto the convs
 *    before it (src/rewrite/linear-conv.ts, pushPadding). The convs of a run stay separate, so retraining
 *    sees the same parameters as before, in a linear chain.
 * 2. `mergeGroups(linearized, groups)`: each run of convs becomes one conv. Exact by construction: after
 *    the push only the first conv of a run is padded, which is the case composeConvs accepts without
 *    condition; it is checked anyway ('exact' mode) and a violation throws.
 *
 * The difference between the original network with the activations removed and the linearized one is
 * the moved padding only: outputs whose windows do not reach a border are identical.
 */
import type { Graph, Model, Node } from '../ir/graph.js';
import { getInts, getString, makeAttr, removeAttr, setAttr } from '../ir/attributes.js';
import { floatTensor } from '../ir/tensor.js';
import { NameGen, removeDeadCode, replaceUses, topologicalSort } from '../ir/topology.js';
import { cloneModel } from '../rewrite/engine.js';
import { inferTypes } from '../shapes/infer.js';
import { RebirthError } from '../errors.js';
import { composeConvs, type LinearConv, type PaddingMode } from '../rewrite/linear-conv.js';
import { collapseBlock, type Item } from './candidates.js';
import { linearConvOfNode, type Activation, type ModelStructure } from './structure.js';

/** Conv node names of one run in the linearized model, in order; merged into one conv after retraining. */
export interface MergeGroup {
  convs: string[];
}

export interface Linearized {
  model: Model;
  groups: MergeGroup[];
  /** Names of the activations made the identity. */
  removed: string[];
  /**
   * Every conv whose function the plan changed: the convs of each merged run (also a lone collapsed
   * block) and of each block's merged groups. The convs retraining has to move most.
   */
  changed: string[];
  /**
   * The value each changed item writes for the rest of the network (a run's last conv output, a
   * collapsed or skipped block's output): the same name and shape as in the folded network, so a
   * retraining can match it to the original's (shrinkAndRetrain's `hints`).
   */
  boundaries: string[];
}

/** Give every node a unique non-empty name (plans and merge groups refer to nodes by name). */
export function nameNodes(model: Model): void {
  const seen = new Set<string>();
  const names = new NameGen(model.graph);
  for (const n of model.graph.nodes) {
    if (!n.name || seen.has(n.name)) n.name = names.fresh(n.name || `${n.opType}_${n.outputs[0] ?? ''}`);
    seen.add(n.name);
  }
}

/** A Conv node computing `conv`, with fresh float32 initializers named after it. */
export function convNode(graph: Graph, names: NameGen, name: string, input: string, output: string, conv: LinearConv): Node {
  const w = names.fresh(`${name}_w`);
  const b = names.fresh(`${name}_b`);
  graph.initializers.set(w, floatTensor(w, [conv.cout, conv.cin / conv.group, ...conv.kernel], Float32Array.from(conv.weight)));
  graph.initializers.set(b, floatTensor(b, [conv.cout], Float32Array.from(conv.bias)));
  const attributes = [
    makeAttr('kernel_shape', conv.kernel), makeAttr('strides', conv.strides), makeAttr('pads', conv.pads), makeAttr('dilations', conv.dilations),
  ];
  if (conv.group !== 1) attributes.push(makeAttr('group', conv.group));
  return { name, opType: 'Conv', domain: '', inputs: [input, w, b], outputs: [output], attributes, docString: '' };
}

function removeNodes(graph: Graph, doomed: ReadonlySet<Node>): void {
  graph.nodes = graph.nodes.filter((n) => !doomed.has(n));
}

/** Make an activation the identity: its readers read its input. */
function removeActivation(graph: Graph, byName: ReadonlyMap<string, Node>, act: Activation): void {
  const nodes = act.nodes.map((n) => byName.get(n.name));
  removeNodes(graph, new Set(nodes.filter((n): n is Node => n !== undefined)));
  replaceUses(graph, act.output, act.input);
}

function padsOf(node: Node, rank: number): number[] {
  if (getString(node, 'auto_pad', 'NOTSET') === 'VALID') return new Array<number>(2 * rank).fill(0);
  return getInts(node, 'pads', new Array<number>(2 * rank).fill(0));
}

/** Move the padding of convs[1..] onto the convs before them (last to first), so only convs[0] pads. */
export function pushPads(graph: Graph, convs: readonly Node[]): void {
  for (let k = convs.length - 1; k >= 1; k--) {
    const a = convs[k - 1] as Node;
    const b = convs[k] as Node;
    const rank = (graph.initializers.get(a.inputs[1] ?? '')?.dims.length ?? 4) - 2;
    const sA = getInts(a, 'strides', new Array<number>(rank).fill(1));
    const pb = padsOf(b, rank);
    if (pb.every((p) => p === 0)) continue;
    const pa = padsOf(a, rank);
    removeAttr(a, 'auto_pad');
    removeAttr(b, 'auto_pad');
    setAttr(a, 'pads', pa.map((p, i) => p + (sA[i % rank] as number) * (pb[i] as number)));
    setAttr(b, 'pads', new Array<number>(2 * rank).fill(0));
  }
}

/** The network to retrain for `items` (see the file comment). Nodes are found by name in a copy of `folded`. */
export function linearize(folded: Model, structure: ModelStructure, items: readonly Item[], padding: PaddingMode = 'push'): Linearized {
  const model = cloneModel(folded);
  const graph = model.graph;
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const names = new NameGen(graph);
  const groups: MergeGroup[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  const boundaries: string[] = [];
  const drop = (act: Activation): void => {
    removeActivation(graph, byName, act);
    removed.push(act.name);
  };
  const node = (name: string): Node => {
    const n = byName.get(name);
    if (!n) throw new RebirthError(`linearize: no node named '${name}' in the model; the plan was made for another model`);
    return n;
  };
  for (const item of items) {
    const chain = structure.chains[item.chain];
    if (!chain || item.kind === 'keep') continue;
    if (item.kind === 'block') {
      const u = chain.units[item.first];
      if (u?.kind !== 'block') throw new RebirthError(`linearize: item ${item.id} is not a block`);
      for (const g of item.groups ?? []) {
        if (g.length < 2) continue;
        for (const i of g.slice(0, -1)) {
          const act = u.pathSlots[i];
          if (act) drop(act);
        }
        const convs = g.map((i) => node(u.path[i]?.name ?? ''));
        if (padding === 'push') pushPads(graph, convs);
        groups.push({ convs: convs.map((n) => n.name) });
        changed.push(...convs.map((n) => n.name));
      }
      boundaries.push(u.output);
      continue;
    }
    if (item.kind === 'skip') {
      const u = chain.units[item.first];
      if (u?.kind !== 'block') throw new RebirthError(`linearize: item ${item.id} is not a block`);
      const add = node(u.add.name);
      removeNodes(graph, new Set([...u.path, ...u.pathSlots.flatMap((a) => a?.nodes ?? [])].map((n) => node(n.name))));
      for (const a of u.pathSlots) if (a) removed.push(a.name);
      if (u.shortcut) {
        // The shortcut conv writes the block's output in place of the Add.
        const s = node(u.shortcut.name);
        s.outputs[0] = u.output;
        removeNodes(graph, new Set([add]));
      } else {
        removeNodes(graph, new Set([add]));
        replaceUses(graph, u.output, u.input);
      }
      // Without a shortcut conv the block's output is its input now: nothing of its own to match.
      if (u.shortcut) boundaries.push(u.output);
      continue;
    }
    const convs: Node[] = [];
    for (let k = item.first; k <= item.last; k++) {
      const u = chain.units[k];
      if (!u) continue;
      if (u.kind === 'conv') {
        convs.push(node(u.node.name));
      } else {
        const merged = collapseBlock(folded.graph, structure, u, padding);
        if (typeof merged === 'string') throw new RebirthError(`linearize: block '${u.add.name}' cannot collapse: ${merged}`);
        const doomed = new Set([...u.path, ...(u.shortcut ? [u.shortcut] : []), u.add, ...u.pathSlots.flatMap((s) => s?.nodes ?? [])].map((n) => node(n.name)));
        for (const s of u.pathSlots) if (s) removed.push(s.name);
        const at = graph.nodes.indexOf(node(u.add.name));
        const conv = convNode(graph, names, u.add.name, u.input, u.output, merged);
        graph.nodes.splice(at, 0, conv);
        removeNodes(graph, doomed);
        byName.set(conv.name, conv);
        convs.push(conv);
      }
    }
    // After the blocks are replaced, so that their convs' input names are rewired too.
    for (let k = item.first; k < item.last; k++) {
      const slot = chain.slots[k];
      if (slot) drop(slot);
    }
    if (padding === 'push') pushPads(graph, convs);
    if (convs.length > 1) groups.push({ convs: convs.map((n) => n.name) });
    changed.push(...convs.map((n) => n.name));
    const last = convs[convs.length - 1]?.outputs[0];
    if (last) boundaries.push(last);
  }
  removeDeadCode(graph);
  topologicalSort(graph);
  return { model, groups, removed, changed, boundaries };
}

/** Each group of convs as one conv, exactly (throws if a group is not exactly mergeable). */
export function mergeGroups(linearized: Model, groups: readonly MergeGroup[]): Model {
  const model = cloneModel(linearized);
  const graph = model.graph;
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const names = new NameGen(graph);
  const types = inferTypes(model, { batch: 1, strict: false }).types;
  for (const group of groups) {
    const nodes = group.convs.map((n) => {
      const found = byName.get(n);
      if (!found || found.opType !== 'Conv') throw new RebirthError(`merge: no conv named '${n}' in the retrained model`);
      return found;
    });
    const first = nodes[0] as Node;
    const last = nodes[nodes.length - 1] as Node;
    const shape = types.get(first.inputs[0] ?? '')?.shape;
    const spatial = shape?.slice(2);
    const inputSize = spatial && spatial.every((d): d is number => typeof d === 'number') ? spatial : undefined;
    let acc = linearConvOfNode(graph, first);
    for (const n of nodes.slice(1)) {
      const next = composeConvs(acc, linearConvOfNode(graph, n), { padding: 'exact', ...(inputSize ? { inputSize } : {}) });
      if (typeof next === 'string') throw new RebirthError(`merge: '${first.name}'..'${n.name}' is not exactly one conv (${next}); linearize the model with padding 'push' first`);
      acc = next;
    }
    const merged = convNode(graph, names, last.name, first.inputs[0] as string, last.outputs[0] as string, acc);
    graph.nodes.splice(graph.nodes.indexOf(last), 1, merged);
    removeNodes(graph, new Set(nodes.slice(0, -1)));
    byName.set(merged.name, merged);
  }
  removeDeadCode(graph);
  topologicalSort(graph);
  return model;
}

import type { Graph, Node } from './graph.js';
import { RebirthError } from '../errors.js';

/** Name -> node that produces it (graph inputs and initializers have no producer). */
export function producers(graph: Graph): Map<string, Node> {
  const map = new Map<string, Node>();
  for (const n of graph.nodes) for (const o of n.outputs) if (o) map.set(o, n);
  return map;
}

/** Name -> nodes that read it, in graph order; a node reading a value twice is listed once. */
export function consumers(graph: Graph): Map<string, Node[]> {
  const map = new Map<string, Node[]>();
  for (const n of graph.nodes) {
    for (const i of new Set(n.inputs)) {
      if (!i) continue;
      const list = map.get(i);
      if (list) list.push(n);
      else map.set(i, [n]);
    }
    // Values read inside subgraphs (outer-scope references) count as uses by the node owning the subgraph.
    for (const name of outerScopeReads(n)) {
      const list = map.get(name);
      if (!list) map.set(name, [n]);
      else if (!list.includes(n)) list.push(n);
    }
  }
  return map;
}

/** Names a node's subgraphs read from the enclosing scope. */
export function outerScopeReads(node: Node): Set<string> {
  const reads = new Set<string>();
  for (const a of node.attributes) {
    const graphs = a.kind === 'graph' ? [a.value] : a.kind === 'graphs' ? a.value : [];
    for (const g of graphs) {
      const local = new Set<string>([...g.inputs.map((v) => v.name), ...g.initializers.keys()]);
      for (const n of g.nodes) for (const o of n.outputs) local.add(o);
      for (const n of g.nodes) {
        for (const i of n.inputs) if (i && !local.has(i)) reads.add(i);
        for (const r of outerScopeReads(n)) if (!local.has(r)) reads.add(r);
      }
    }
  }
  return reads;
}

export function graphOutputNames(graph: Graph): Set<string> {
  return new Set(graph.outputs.map((o) => o.name));
}

/**
 * Kahn's algorithm, stable: among ready nodes the one earliest in the current order goes first, so an
 * already sorted graph is unchanged. Throws naming a node on a cycle.
 */
export function topologicalSort(graph: Graph): void {
  const produced = producers(graph);
  const index = new Map(graph.nodes.map((n, i) => [n, i]));
  const pending = new Map<Node, number>();
  const dependents = new Map<Node, Node[]>();
  for (const n of graph.nodes) {
    const deps = new Set<Node>();
    for (const i of [...n.inputs, ...outerScopeReads(n)]) {
      const p = i ? produced.get(i) : undefined;
      if (p && p !== n) deps.add(p);
    }
    pending.set(n, deps.size);
    for (const d of deps) {
      const list = dependents.get(d);
      if (list) list.push(n);
      else dependents.set(d, [n]);
    }
  }
  const ready = graph.nodes.filter((n) => pending.get(n) === 0);
  const order: Node[] = [];
  while (ready.length) {
    ready.sort((a, b) => (index.get(a) ?? 0) - (index.get(b) ?? 0));
    const n = ready.shift() as Node;
    order.push(n);
    for (const d of dependents.get(n) ?? []) {
      const left = (pending.get(d) ?? 0) - 1;
      pending.set(d, left);
      if (left === 0) ready.push(d);
    }
  }
  if (order.length !== graph.nodes.length) {
    const stuck = graph.nodes.find((n) => (pending.get(n) ?? 0) > 0);
    throw new RebirthError(`graph '${graph.name}' has a cycle through node '${stuck?.name ?? '?'}' (${stuck?.opType ?? '?'})`);
  }
  graph.nodes = order;
}

/** Remove nodes whose outputs nobody reads and initializers nobody uses. Returns whether anything changed. */
export function removeDeadCode(graph: Graph): boolean {
  const live = new Set(graphOutputNames(graph));
  const keep: Node[] = [];
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const n = graph.nodes[k] as Node;
    if (n.outputs.some((o) => o && live.has(o)) || hasSideEffects(n)) {
      keep.push(n);
      for (const i of n.inputs) if (i) live.add(i);
      for (const r of outerScopeReads(n)) live.add(r);
    }
  }
  keep.reverse();
  let changed = keep.length !== graph.nodes.length;
  graph.nodes = keep;
  for (const name of [...graph.initializers.keys()]) {
    if (!live.has(name) && !graph.inputs.some((v) => v.name === name)) {
      graph.initializers.delete(name);
      changed = true;
    }
  }
  const before = graph.valueInfo.length;
  const known = new Set<string>();
  for (const n of graph.nodes) for (const o of n.outputs) known.add(o);
  graph.valueInfo = graph.valueInfo.filter((v) => known.has(v.name));
  return changed || before !== graph.valueInfo.length;
}

/** Nodes of non-default domains may have effects we cannot see; keep them. */
function hasSideEffects(n: Node): boolean {
  return n.domain !== '' && n.domain !== 'ai.onnx';
}

/** Redirect every read of `from` to `to` (node inputs, subgraph outer reads, graph outputs keep their name). */
export function replaceUses(graph: Graph, from: string, to: string): void {
  for (const n of graph.nodes) n.inputs = n.inputs.map((i) => (i === from ? to : i));
}

/** Fresh value/node names that do not collide with anything in the graph. */
export class NameGen {
  private readonly used = new Set<string>();
  constructor(graph?: Graph) {
    if (!graph) return;
    for (const v of [...graph.inputs, ...graph.outputs, ...graph.valueInfo]) this.used.add(v.name);
    for (const k of graph.initializers.keys()) this.used.add(k);
    for (const n of graph.nodes) {
      this.used.add(n.name);
      for (const o of n.outputs) this.used.add(o);
      for (const i of n.inputs) this.used.add(i);
    }
  }
  fresh(base: string): string {
    if (!this.used.has(base)) {
      this.used.add(base);
      return base;
    }
    for (let k = 1; ; k++) {
      const name = `${base}_${k}`;
      if (!this.used.has(name)) {
        this.used.add(name);
        return name;
      }
    }
  }
}

// The rewrite engine: rules are pattern + check + replacement (the onnxscript-rewriter shape). A rule
// is indexed by the op type of its root node; `match` inspects the neighbourhood of a root and either
// returns what `apply` needs, or a one-line reason why the rewrite would not be exact (kept for
// `--explain`), or null when the pattern is simply absent (not worth reporting).
import type { Attribute, Dim, Graph, Model, Node } from '../ir/graph.js';
import { DataType, type Tensor } from '../ir/tensor.js';
import { NameGen, outerScopeReads, topologicalSort } from '../ir/topology.js';
import { inferTypes } from '../shapes/infer.js';
import { isDefaultDomain } from '../ops/table.js';
import { RebirthError } from '../errors.js';

export interface Rule<M extends object> {
  name: string;
  /** Op type(s) of the node `match` is called on (default domain only). */
  root: string | readonly string[];
  /** One line: what the rewrite does. */
  description: string;
  /**
   * 'always': exact and never slower, applied whenever it matches. 'measure': exact, but whether it
   * pays depends on the backend, so the optimize pipeline applies it only where a measurement says so.
   */
  policy: 'always' | 'measure';
  match(node: Node, ctx: RewriteContext): M | string | null;
  apply(match: M, ctx: RewriteContext): void;
}

/** A rule with its match type hidden, so rules of different match types can share a list. */
export interface AnyRule {
  readonly name: string;
  readonly root: string | readonly string[];
  readonly description: string;
  readonly policy: 'always' | 'measure';
  match(node: Node, ctx: RewriteContext): object | string | null;
  apply(match: object, ctx: RewriteContext): void;
}

/**
 * Erase a rule's match type. The matches a rule produced are remembered (weakly), so `apply` can check
 * it is handed one of its own rather than trusting a cast.
 */
export function defineRule<M extends object>(rule: Rule<M>): AnyRule {
  const mine = new WeakSet<object>();
  const own = (m: object): m is M => mine.has(m);
  return {
    name: rule.name,
    root: rule.root,
    description: rule.description,
    policy: rule.policy,
    match(node, ctx) {
      const m = rule.match(node, ctx);
      if (m !== null && typeof m !== 'string') mine.add(m);
      return m;
    },
    apply(m, ctx) {
      if (!own(m)) throw new RebirthError(`rule '${rule.name}' was asked to apply a match it did not produce`);
      rule.apply(m, ctx);
    },
  };
}

export interface Refusal {
  rule: string;
  /** The root node's name, or `<OpType>#<index>` when it has none. */
  node: string;
  reason: string;
}

export interface PassResult {
  changed: boolean;
  firings: Record<string, number>;
  /** Matches refused in the final (unchanged) sweep: the state of the returned graph. */
  refusals: Refusal[];
  steps: number;
  /** True when maxSteps stopped the rewriting before a fixpoint. */
  capped: boolean;
}

export interface PassOptions {
  /** Upper bound on applied rewrites (default 10000); a safety net against rules that undo each other. */
  maxSteps?: number;
  /** Last word on a match: true applies it; false or a reason string records a refusal instead. */
  decide?: (rule: AnyRule, match: object, ctx: RewriteContext) => boolean | string;
  /** Only try roots this accepts (e.g. the candidates a measurement approved). */
  only?: (node: Node) => boolean;
}

/** Newest opset of the default domain whose operator definitions the rules know (ONNX 1.20). */
export const MAX_OPSET = 25;

export { isDefaultDomain };

/** The version of the default ONNX domain a model imports (ONNX: absent means not imported). */
export function defaultOpset(model: Model): number | undefined {
  return model.opsetImports.find((o) => isDefaultDomain(o.domain))?.version;
}

export function nodeId(node: Node, index: number): string {
  return node.name !== '' ? node.name : `${node.opType}#${index}`;
}

/** A value's element type and shape, as far as they are known. */
export interface ValueType {
  elemType?: number;
  shape?: Dim[];
}

/**
 * The graph as seen by rules: use-def maps kept current by the engine, plus the small set of edits
 * rules make. Rebuilt (`refresh`) after every applied rewrite so matches always see the current graph.
 */
export class RewriteContext {
  readonly model: Model;
  readonly graph: Graph;
  readonly opset: number | undefined;
  private producerOf = new Map<string, Node>();
  private consumersOf = new Map<string, Node[]>();
  private outputs = new Set<string>();
  private inputs = new Set<string>();
  private index = new Map<Node, number>();
  private names: NameGen;
  /** Values whose initializer / Constant producer may have lost its last reader. */
  private retired = new Set<string>();
  /** Inferred value types of the current graph; undefined until asked for after a change. */
  private inferred: Map<string, { elemType?: number; shape?: Dim[] }> | undefined;

  constructor(model: Model) {
    this.model = model;
    this.graph = model.graph;
    this.opset = defaultOpset(model);
    this.names = new NameGen(this.graph);
    this.refresh();
  }

  refresh(): void {
    const g = this.graph;
    this.inferred = undefined;
    this.producerOf.clear();
    this.consumersOf.clear();
    this.index.clear();
    g.nodes.forEach((n, i) => {
      this.index.set(n, i);
      for (const o of n.outputs) if (o) this.producerOf.set(o, n);
    });
    for (const n of g.nodes) {
      const reads = new Set(n.inputs.filter((i) => i !== ''));
      for (const r of outerScopeReads(n)) reads.add(r);
      for (const r of reads) {
        const list = this.consumersOf.get(r);
        if (list) list.push(n);
        else this.consumersOf.set(r, [n]);
      }
    }
    this.outputs = new Set(g.outputs.map((v) => v.name));
    this.inputs = new Set(g.inputs.map((v) => v.name));
  }

  producer(name: string): Node | undefined {
    return this.producerOf.get(name);
  }

  /** Nodes reading `name`, including nodes whose subgraphs read it from the outer scope. */
  consumers(name: string): Node[] {
    return this.consumersOf.get(name) ?? [];
  }

  isGraphOutput(name: string): boolean {
    return this.outputs.has(name);
  }

  isGraphInput(name: string): boolean {
    return this.inputs.has(name);
  }

  /** True while the node is part of the graph (it may have been removed by an earlier rewrite). */
  contains(node: Node): boolean {
    return this.index.has(node);
  }

  id(node: Node): string {
    return nodeId(node, this.index.get(node) ?? -1);
  }

  initializer(name: string): Tensor | undefined {
    return this.graph.initializers.get(name);
  }

  /**
   * Element type and shape of a value: inferred over the op table (src/shapes/infer.ts, lenient, recomputed
   * after each rewrite on first use), else as declared (graph inputs/outputs, value_info, constants).
   */
  valueType(name: string): ValueType | undefined {
    if (this.inferred === undefined) {
      try {
        this.inferred = inferTypes(this.model, { strict: false }).types;
      } catch {
        // A model the shape engine rejects still has its declared types; rules then see only those.
        this.inferred = new Map();
      }
    }
    const t = this.inferred.get(name);
    if (t && (t.elemType !== undefined || t.shape !== undefined)) {
      return { ...(t.elemType !== undefined ? { elemType: t.elemType } : {}), ...(t.shape ? { shape: t.shape } : {}) };
    }
    const g = this.graph;
    const info = g.inputs.find((v) => v.name === name) ?? g.valueInfo.find((v) => v.name === name) ?? g.outputs.find((v) => v.name === name);
    if (info && (info.elemType !== undefined || info.shape !== undefined)) {
      return { ...(info.elemType !== undefined ? { elemType: info.elemType } : {}), ...(info.shape ? { shape: info.shape } : {}) };
    }
    const c = this.initializer(name) ?? constantNodeTensor(this.producer(name));
    if (c) return { elemType: c.dataType, shape: [...c.dims] };
    return undefined;
  }

  fresh(base: string): string {
    return this.names.fresh(base);
  }

  /** Add an initializer under a fresh name derived from `base`; returns the name used. */
  addInitializer(base: string, tensor: Tensor): string {
    const name = this.fresh(base);
    this.graph.initializers.set(name, { ...tensor, name });
    return name;
  }

  /**
   * Give a rewritten weight its new value. An initializer only the matched nodes read is replaced in
   * place (same name, same position in the file); a value produced by a Constant node gets a new
   * initializer, and the node reading it is pointed there.
   */
  setWeight(reader: Node, inputIndex: number, tensor: Tensor, base: string): void {
    const current = reader.inputs[inputIndex] ?? '';
    if (current !== '' && this.graph.initializers.has(current) && !this.isGraphInput(current)) {
      this.graph.initializers.set(current, { ...tensor, name: current });
      return;
    }
    if (current !== '') this.retired.add(current);
    const name = this.addInitializer(base, tensor);
    while (reader.inputs.length <= inputIndex) reader.inputs.push('');
    reader.inputs[inputIndex] = name;
  }

  /** Remove nodes; the values they read are retired (dropped at the end of the step if now unread). */
  removeNodes(nodes: readonly Node[]): void {
    const gone = new Set(nodes);
    for (const n of nodes) for (const i of n.inputs) if (i) this.retired.add(i);
    this.graph.nodes = this.graph.nodes.filter((n) => !gone.has(n));
  }

  /** Mark a value as possibly unread (its initializer or Constant node is dropped if nothing reads it). */
  retire(name: string): void {
    if (name) this.retired.add(name);
  }

  /** Insert nodes just before `anchor` (or at the end); the engine re-sorts topologically afterwards. */
  insertBefore(anchor: Node | undefined, nodes: readonly Node[]): void {
    const at = anchor ? this.graph.nodes.indexOf(anchor) : -1;
    if (at < 0) this.graph.nodes.push(...nodes);
    else this.graph.nodes.splice(at, 0, ...nodes);
  }

  /** Redirect every read of `from` (node inputs and subgraph outer-scope reads) to `to`. */
  replaceReads(from: string, to: string): void {
    for (const n of this.graph.nodes) renameReadsInNode(n, from, to);
  }

  /**
   * Rename a value everywhere: its producer's output, every read, and graph outputs / value_info.
   * Used when a removed node's output is a graph output and its producer has to take over the name.
   */
  renameValue(from: string, to: string): void {
    for (const n of this.graph.nodes) {
      n.outputs = n.outputs.map((o) => (o === from ? to : o));
      renameReadsInNode(n, from, to);
    }
    this.graph.valueInfo = this.graph.valueInfo.filter((v) => v.name !== from);
  }

  /** Drop retired initializers and Constant nodes that nothing reads any more. */
  collectGarbage(): void {
    if (this.retired.size === 0) return;
    this.refresh();
    for (;;) {
      let removed = false;
      for (const name of this.retired) {
        if (this.consumers(name).length > 0 || this.isGraphOutput(name)) continue;
        if (this.graph.initializers.has(name) && !this.isGraphInput(name)) {
          this.graph.initializers.delete(name);
          removed = true;
        }
        const p = this.producer(name);
        if (p && p.opType === 'Constant' && isDefaultDomain(p.domain) && p.outputs.every((o) => o === '' || (this.consumers(o).length === 0 && !this.isGraphOutput(o)))) {
          this.graph.nodes = this.graph.nodes.filter((n) => n !== p);
          removed = true;
        }
        this.retired.delete(name);
      }
      if (!removed) break;
      this.refresh();
    }
    this.retired.clear();
  }
}

/** The tensor a Constant node holds, when it is given as a tensor / float(s) / int(s) attribute. */
export function constantNodeTensor(node: Node | undefined): Tensor | undefined {
  if (!node || node.opType !== 'Constant' || !isDefaultDomain(node.domain) || node.attributes.length !== 1) return undefined;
  const a = node.attributes[0] as Attribute;
  const base = { name: node.outputs[0] ?? '', storage: 'raw' as const, docString: '' };
  if (a.name === 'value' && a.kind === 'tensor') return { ...a.value, name: base.name };
  if (a.name === 'value_float' && a.kind === 'float') return { ...base, dataType: DataType.FLOAT, dims: [], data: bytesOf(Float32Array.of(a.value)) };
  if (a.name === 'value_floats' && a.kind === 'floats') return { ...base, dataType: DataType.FLOAT, dims: [a.value.length], data: bytesOf(Float32Array.from(a.value)) };
  if (a.name === 'value_int' && a.kind === 'int') return { ...base, dataType: DataType.INT64, dims: [], data: bytesOf(BigInt64Array.of(a.value)) };
  if (a.name === 'value_ints' && a.kind === 'ints') return { ...base, dataType: DataType.INT64, dims: [a.value.length], data: bytesOf(BigInt64Array.from(a.value)) };
  return undefined;
}

function bytesOf(a: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function renameReadsInNode(n: Node, from: string, to: string): void {
  n.inputs = n.inputs.map((i) => (i === from ? to : i));
  for (const a of n.attributes) {
    const graphs = a.kind === 'graph' ? [a.value] : a.kind === 'graphs' ? a.value : [];
    for (const g of graphs) renameOuterReads(g, from, to);
  }
}

/** Rename outer-scope reads inside a subgraph, stopping where the subgraph defines the name itself. */
function renameOuterReads(g: Graph, from: string, to: string): void {
  const local = g.inputs.some((v) => v.name === from) || g.initializers.has(from) || g.nodes.some((n) => n.outputs.includes(from));
  if (local) return;
  for (const n of g.nodes) renameReadsInNode(n, from, to);
  g.outputs = g.outputs.map((v) => (v.name === from ? { ...v, name: to } : v));
}

function rulesByRoot(rules: readonly AnyRule[]): Map<string, AnyRule[]> {
  const byRoot = new Map<string, AnyRule[]>();
  const seen = new Set<string>();
  for (const r of rules) {
    if (seen.has(r.name)) throw new RebirthError(`rule '${r.name}' is listed twice; list each rule once`);
    seen.add(r.name);
    for (const op of typeof r.root === 'string' ? [r.root] : r.root) {
      const list = byRoot.get(op);
      if (list) list.push(r);
      else byRoot.set(op, [r]);
    }
  }
  return byRoot;
}

/**
 * Apply rules until none matches (a fixpoint) or `maxSteps` rewrites were made. Each sweep visits the
 * nodes in graph order and tries the rules indexed by the node's op type; after each rewrite the
 * use-def maps are rebuilt and the graph is re-sorted topologically. Mutates `model`.
 */
export function runPasses(model: Model, rules: readonly AnyRule[], options: PassOptions = {}): PassResult {
  const maxSteps = options.maxSteps ?? 10_000;
  const byRoot = rulesByRoot(rules);
  const firings: Record<string, number> = {};
  for (const r of rules) firings[r.name] = 0;
  const ctx = new RewriteContext(model);
  let steps = 0;
  let capped = false;
  let refusals: Refusal[] = [];
  for (;;) {
    let changed = false;
    refusals = [];
    for (const node of [...ctx.graph.nodes]) {
      if (!ctx.contains(node) || !isDefaultDomain(node.domain)) continue;
      const candidates = byRoot.get(node.opType);
      if (!candidates) continue;
      if (options.only && !options.only(node)) continue;
      const id = ctx.id(node);
      for (const rule of candidates) {
        const m = rule.match(node, ctx);
        if (m === null) continue;
        if (typeof m === 'string') {
          refusals.push({ rule: rule.name, node: id, reason: m });
          continue;
        }
        const verdict = options.decide ? options.decide(rule, m, ctx) : true;
        if (verdict !== true) {
          refusals.push({ rule: rule.name, node: id, reason: verdict === false ? 'declined by the decide hook' : verdict });
          continue;
        }
        if (steps >= maxSteps) {
          capped = true;
          break;
        }
        rule.apply(m, ctx);
        steps++;
        firings[rule.name] = (firings[rule.name] ?? 0) + 1;
        changed = true;
        ctx.collectGarbage();
        topologicalSort(ctx.graph);
        ctx.refresh();
        break;
      }
      if (capped) break;
    }
    if (!changed || capped) break;
  }
  if (steps > 0) pruneValueInfo(ctx.graph);
  return { changed: steps > 0, firings, refusals, steps, capped };
}

/** Every match and refusal of one rule in the current graph (for measuring candidates one by one). */
export function findMatches(model: Model, rule: AnyRule): { matches: Array<{ node: Node; id: string }>; refusals: Refusal[] } {
  const ctx = new RewriteContext(model);
  const matches: Array<{ node: Node; id: string }> = [];
  const refusals: Refusal[] = [];
  const roots = new Set(typeof rule.root === 'string' ? [rule.root] : rule.root);
  for (const node of ctx.graph.nodes) {
    if (!isDefaultDomain(node.domain) || !roots.has(node.opType)) continue;
    const m = rule.match(node, ctx);
    if (m === null) continue;
    if (typeof m === 'string') refusals.push({ rule: rule.name, node: ctx.id(node), reason: m });
    else matches.push({ node, id: ctx.id(node) });
  }
  return { matches, refusals };
}

/** value_info entries for values that no longer exist would mislead later tools; drop them. */
function pruneValueInfo(graph: Graph): void {
  const known = new Set<string>([...graph.inputs.map((v) => v.name), ...graph.initializers.keys()]);
  for (const n of graph.nodes) for (const o of n.outputs) known.add(o);
  graph.valueInfo = graph.valueInfo.filter((v) => known.has(v.name));
}

/**
 * The engine's postconditions, as a list of problems (empty when the graph is well formed): acyclic and
 * topologically ordered, every value produced once, non-empty node names unique, every read defined.
 */
export function checkGraph(graph: Graph): string[] {
  const problems: string[] = [];
  const defined = new Set<string>([...graph.inputs.map((v) => v.name), ...graph.initializers.keys()]);
  const produced = new Set<string>();
  const nodeNames = new Set<string>();
  graph.nodes.forEach((n, k) => {
    const id = nodeId(n, k);
    if (n.name !== '') {
      if (nodeNames.has(n.name)) problems.push(`node name '${n.name}' is used twice`);
      nodeNames.add(n.name);
    }
    for (const i of [...n.inputs, ...outerScopeReads(n)]) {
      if (i !== '' && !defined.has(i)) problems.push(`node '${id}' reads '${i}' before it is defined (cycle, bad order or dangling input)`);
    }
    for (const o of n.outputs) {
      if (o === '') continue;
      if (produced.has(o) || defined.has(o)) problems.push(`value '${o}' is defined twice (again by node '${id}')`);
      produced.add(o);
      defined.add(o);
    }
  });
  for (const o of graph.outputs) if (!defined.has(o.name)) problems.push(`graph output '${o.name}' is not produced`);
  return problems;
}

/** Deep copy of what rules mutate (nodes, attribute lists, subgraphs, value infos, initializer map); tensor bytes are shared. */
export function cloneModel(model: Model): Model {
  return { ...model, opsetImports: model.opsetImports.map((o) => ({ ...o })), metadata: [...model.metadata], graph: cloneGraph(model.graph) };
}

export function cloneGraph(g: Graph): Graph {
  return {
    ...g,
    inputs: g.inputs.map((v) => ({ ...v })),
    outputs: g.outputs.map((v) => ({ ...v })),
    valueInfo: g.valueInfo.map((v) => ({ ...v })),
    initializers: new Map([...g.initializers].map(([k, t]) => [k, { ...t }])),
    nodes: g.nodes.map(cloneNode),
  };
}

function cloneNode(n: Node): Node {
  return {
    ...n,
    inputs: [...n.inputs],
    outputs: [...n.outputs],
    attributes: n.attributes.map((a): Attribute => {
      if (a.kind === 'graph') return { ...a, value: cloneGraph(a.value) };
      if (a.kind === 'graphs') return { ...a, value: a.value.map(cloneGraph) };
      return { ...a };
    }),
  };
}

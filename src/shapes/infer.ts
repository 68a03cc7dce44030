/**
 * Shape inference over the op table (src/ops): element type and shape of every value, symbolic dims
 * (a batch 'N') carried through, and the contents of small tensors (Shape -> Gather -> Concat -> Reshape
 * chains, computed pads, shape checks) from the table's value rules, so that exported PyTorch graphs get
 * exact shapes. If nodes are the engine's own business (the table has no control flow): a known condition
 * selects the branch, inferred in a scope that sees the enclosing graph. docs/shapes.md has the whole story.
 *
 * Nodes whose op the table does not know (or of other domains) pass through: their outputs take the
 * model's declared value_info if any, else stay unknown. That is an error only when a later table op
 * needs the rank of such a value; the error names that node and where the unknown value came from.
 */
import type { Dim, Graph, Model, Node, ValueInfo } from '../ir/graph.js';
import { dataTypeName, type Tensor } from '../ir/tensor.js';
import { findAttr } from '../ir/attributes.js';
import { producers, topologicalSort } from '../ir/topology.js';
import { RebirthError } from '../errors.js';
import { NeedShape, OpContext, nodeLabel, type ShapeEnv } from '../ops/context.js';
import { dimsConflict, formatShape } from '../ops/dims.js';
import { constantTensorOf, foldedValue } from '../ops/plumbing.js';
import { isDefaultDomain, nodeInfo } from '../ops/table.js';
import type { ValueType } from '../ops/types.js';

/** Opset assumed when a model imports no default-domain opset (rebirth's own default). */
const FALLBACK_OPSET = 13;

export interface InferOptions {
  /**
   * Default true: throw when a table op needs the rank of a value nobody could infer, and when a graph
   * output's declared type contradicts the inferred one. False: leave such values unknown and go on.
   */
  strict?: boolean;
  /**
   * Substitute this size for the leading dim of every graph input whose leading dim is not a number
   * (a symbolic or unknown batch), and for every other use of the same symbol. For FLOPs at batch 1.
   */
  batch?: number;
}

export interface ShapeInference {
  opset: number;
  /** Every value's type: graph inputs, initializers, node outputs. */
  types: Map<string, ValueType>;
  /** Constant tensors by value name: initializers and Constant node outputs. */
  constants: Map<string, Tensor>;
  /** In lenient mode: nodes whose outputs stayed unknown, with the reason. */
  unresolved: Map<Node, string>;
  /** Nodes in the order they were inferred (topological). */
  order: Node[];
}

/** Version of the default ONNX domain the model imports. */
export function modelOpset(model: Model): number {
  const o = model.opsetImports.find((i) => isDefaultDomain(i.domain));
  return o ? o.version : FALLBACK_OPSET;
}

function declaredType(v: ValueInfo | undefined): ValueType {
  if (!v) return {};
  return { ...(v.elemType !== undefined ? { elemType: v.elemType } : {}), ...(v.shape ? { shape: [...v.shape] } : {}) };
}

/** Inferred type, with dims it left unknown filled from a declaration of the same rank. */
function withDeclared(inferred: ValueType, declared: ValueInfo | undefined): ValueType {
  if (!declared) return inferred;
  const out: ValueType = { ...inferred };
  out.elemType ??= declared.elemType;
  if (!out.shape) {
    if (declared.shape) out.shape = [...declared.shape];
  } else if (declared.shape && declared.shape.length === out.shape.length && !out.shape.some((d, k) => dimsConflict(d, declared.shape?.[k] ?? null))) {
    out.shape = out.shape.map((d, k) => (d === null ? (declared.shape?.[k] ?? null) : d));
  }
  return out;
}

function bindBatch(graph: Graph, batch: number): Map<string, number> {
  const symbols = new Map<string, number>();
  for (const v of graph.inputs) {
    if (graph.initializers.has(v.name)) continue;
    const d = v.shape?.[0];
    if (typeof d === 'string') symbols.set(d, batch);
  }
  return symbols;
}

/** Value types and constants visible to a graph: its own, then its enclosing graphs' (for If branches). */
class Scope {
  readonly types = new Map<string, ValueType>();
  readonly constants = new Map<string, Tensor>();
  constructor(readonly parent?: Scope) {}

  type(name: string): ValueType | undefined {
    return this.types.get(name) ?? this.parent?.type(name);
  }

  constant(name: string): Tensor | undefined {
    return this.constants.get(name) ?? this.parent?.constant(name);
  }

  /** Known contents of a value: folded shape arithmetic, or a small integer / bool constant. */
  value(name: string): Dim[] | undefined {
    const known = this.type(name)?.value;
    if (known) return known;
    const t = this.constant(name);
    return t ? foldedValue(t) : undefined;
  }
}

/** Initializers are constants even when also listed as graph inputs (IR < 4 models list every weight there). */
function enterInitializers(graph: Graph, scope: Scope): void {
  for (const [name, t] of graph.initializers) {
    const value = foldedValue(t);
    scope.types.set(name, { elemType: t.dataType, shape: [...t.dims], ...(value ? { value } : {}) });
    scope.constants.set(name, t);
  }
}

interface Pass {
  opset: number;
  strict: boolean;
  unresolved: Map<Node, string>;
}

/** The then / else branch an If node takes when its condition is known, else undefined. */
export function takenBranch(node: Node, condition: readonly Dim[] | undefined): Graph | undefined {
  if (!condition || condition.length !== 1 || typeof condition[0] !== 'number') return undefined;
  const a = findAttr(node, condition[0] !== 0 ? 'then_branch' : 'else_branch');
  return a?.kind === 'graph' ? a.value : undefined;
}

/** Output types of a branch graph inferred in a scope nested in `outer`. */
function branchTypes(branch: Graph, outer: Scope, pass: Pass): ValueType[] {
  const scope = new Scope(outer);
  enterInitializers(branch, scope);
  // Branch failures must not fail the model: a branch not taken may be invalid for these shapes.
  inferGraph(branch, scope, { ...pass, strict: false, unresolved: new Map() });
  return branch.outputs.map((o) => scope.types.get(o.name) ?? outer.type(o.name) ?? declaredType(o));
}

/**
 * If: with a known condition (shape checks in torch exports, e.g. `If(Equal(dim, 1))` around a Squeeze),
 * the taken branch's types, contents included. Otherwise what both branches agree on: the spec lets the
 * branches differ in shape, so differing dims become unknown and differing ranks an unknown rank.
 */
function ifTypes(node: Node, scope: Scope, pass: Pass): ValueType[] {
  const taken = takenBranch(node, scope.value(node.inputs[0] ?? ''));
  if (taken) return branchTypes(taken, scope, pass);
  const branches = ['then_branch', 'else_branch'].map((n) => findAttr(node, n)).filter((a) => a?.kind === 'graph');
  if (branches.length !== 2) return [];
  const [a, b] = branches.map((g) => branchTypes((g as { value: Graph }).value, scope, pass)) as [ValueType[], ValueType[]];
  return node.outputs.map((_, k) => {
    const x = a[k];
    const y = b[k];
    const elemType = x?.elemType === y?.elemType ? x?.elemType : undefined;
    const shape = x?.shape && y?.shape && x.shape.length === y.shape.length ? x.shape.map((d, j) => (d === y.shape?.[j] ? d : null)) : undefined;
    return { ...(elemType !== undefined ? { elemType } : {}), ...(shape ? { shape } : {}) };
  });
}

/** Infer the nodes of `graph` into `scope`, whose inputs and initializers the caller has entered. */
function inferGraph(graph: Graph, scope: Scope, pass: Pass): Node[] {
  const declared = new Map<string, ValueInfo>();
  for (const v of [...graph.valueInfo, ...graph.outputs]) declared.set(v.name, v);
  const env: ShapeEnv = { opset: pass.opset, type: (name) => scope.type(name), constant: (name) => scope.constant(name) };
  const sorted: Graph = { ...graph, nodes: [...graph.nodes] };
  topologicalSort(sorted);
  let produced: Map<string, Node> | undefined;

  for (const node of sorted.nodes) {
    const info = nodeInfo(node);
    let outs: ValueType[];
    if (node.opType === 'If' && isDefaultDomain(node.domain)) {
      outs = ifTypes(node, scope, pass);
    } else if (!info) {
      outs = [];
      pass.unresolved.set(node, isDefaultDomain(node.domain) ? `op ${node.opType} is not in the op table` : `domain '${node.domain}' is not the default ONNX domain`);
    } else {
      try {
        outs = info.inferShape(new OpContext(node, info, env));
      } catch (e) {
        if (!(e instanceof NeedShape)) throw e;
        if (pass.strict) {
          produced ??= producers(graph);
          throw new RebirthError(needShapeMessage(node, e, graph, produced, pass.unresolved));
        }
        outs = [];
        pass.unresolved.set(node, `the shape of input '${node.inputs[e.inputIndex] ?? ''}' is unknown`);
      }
      if (node.opType === 'Constant') {
        const t = constantTensorOf(node);
        if (t && node.outputs[0]) scope.constants.set(node.outputs[0], t);
      }
    }
    node.outputs.forEach((o, k) => {
      if (o) scope.types.set(o, withDeclared(outs[k] ?? {}, declared.get(o)));
    });
  }
  return sorted.nodes;
}

/**
 * Infer every value's type without touching the model. Throws a RebirthError naming the node for a
 * model that cannot be valid (channel mismatch, bad reshape ...) in either mode.
 */
export function inferTypes(model: Model, options: InferOptions = {}): ShapeInference {
  const strict = options.strict ?? true;
  const graph = model.graph;
  const opset = modelOpset(model);
  const scope = new Scope();
  const { types, constants } = scope;
  const unresolved = new Map<Node, string>();

  const bound = options.batch === undefined ? new Map<string, number>() : bindBatch(graph, options.batch);
  for (const v of graph.inputs) {
    if (graph.initializers.has(v.name)) continue;
    const t = declaredType(v);
    if (t.shape && options.batch !== undefined) {
      t.shape = t.shape.map((d, k) => (typeof d === 'string' && bound.has(d) ? (bound.get(d) as number) : k === 0 && d === null ? (options.batch as number) : d));
    }
    types.set(v.name, t);
  }
  enterInitializers(graph, scope);

  const order = inferGraph(graph, scope, { opset, strict, unresolved });
  if (strict) checkOutputs(graph, types);
  return { opset, types, constants, unresolved, order };
}

function needShapeMessage(node: Node, e: NeedShape, graph: Graph, produced: Map<string, Node>, unresolved: Map<Node, string>): string {
  const name = node.inputs[e.inputIndex] ?? '';
  const p = produced.get(name);
  let origin: string;
  if (p) {
    const why = unresolved.get(p);
    origin = `it comes from ${nodeLabel(p)}${p.domain && !isDefaultDomain(p.domain) ? ` of domain '${p.domain}'` : ''}, ${why ?? 'whose output shape could not be inferred'}`;
  } else if (graph.inputs.some((v) => v.name === name)) origin = `graph input '${name}' declares no shape`;
  else origin = `no node produces it and it is neither a graph input nor an initializer`;
  return `${nodeLabel(node)}: needs the shape of input '${name}' (${e.why}) but it is unknown: ${origin}; declare the shape in the model's value_info or graph inputs`;
}

function checkOutputs(graph: Graph, types: Map<string, ValueType>): void {
  let produced: Map<string, Node> | undefined;
  const source = (name: string): string => {
    produced ??= producers(graph);
    const p = produced.get(name);
    return p ? nodeLabel(p) : `value '${name}'`;
  };
  for (const out of graph.outputs) {
    const t = types.get(out.name);
    if (!t) continue;
    if (out.elemType !== undefined && t.elemType !== undefined && out.elemType !== t.elemType) {
      throw new RebirthError(`graph output '${out.name}' is declared ${dataTypeName(out.elemType)} but ${source(out.name)} produces ${dataTypeName(t.elemType)}; fix the output's declared type`);
    }
    if (out.shape && t.shape) {
      const conflict = out.shape.length !== t.shape.length || out.shape.some((d, k) => dimsConflict(d, t.shape?.[k] ?? null));
      if (conflict) {
        throw new RebirthError(`graph output '${out.name}' is declared ${formatShape(out.shape)} but ${source(out.name)} produces ${formatShape(t.shape)}; fix the output's declared shape or the layers before it`);
      }
    }
  }
}

function sameShape(a: readonly Dim[] | undefined, b: readonly Dim[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((d, k) => d === b[k]);
}

/**
 * Infer shapes and record them in the model: a value_info entry (element type and shape) for every
 * node output that is not a graph output, updated in place when one exists; graph outputs that declare
 * no shape (or unknown dims) get the inferred ones. Throws a RebirthError naming the node on an invalid
 * model; see InferOptions.strict for what counts as one.
 */
export function inferShapes(model: Model, options: Omit<InferOptions, 'batch'> = {}): void {
  const { types } = inferTypes(model, options);
  const graph = model.graph;
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const external = new Set([...graph.inputs.map((v) => v.name), ...graph.initializers.keys()]);
  const existing = new Map(graph.valueInfo.map((v) => [v.name, v]));
  for (const node of graph.nodes) {
    for (const o of node.outputs) {
      if (!o || outputs.has(o) || external.has(o)) continue;
      const t = types.get(o);
      if (!t || (t.elemType === undefined && t.shape === undefined)) continue;
      const info = existing.get(o);
      if (info) {
        if (t.elemType !== undefined && info.elemType !== t.elemType) info.elemType = t.elemType;
        if (t.shape && !sameShape(info.shape, t.shape)) info.shape = [...t.shape];
      } else {
        const added: ValueInfo = { name: o, docString: '', ...(t.elemType !== undefined ? { elemType: t.elemType } : {}), ...(t.shape ? { shape: [...t.shape] } : {}) };
        graph.valueInfo.push(added);
        existing.set(o, added);
      }
    }
  }
  for (const out of graph.outputs) {
    const t = types.get(out.name);
    if (!t) continue;
    if (out.elemType === undefined && t.elemType !== undefined) out.elemType = t.elemType;
    if (!out.shape && t.shape) out.shape = [...t.shape];
    else if (out.shape && t.shape && out.shape.length === t.shape.length && out.shape.some((d) => d === null)) {
      const filled = out.shape.map((d, k) => (d === null ? (t.shape?.[k] ?? null) : d));
      if (!sameShape(filled, out.shape)) out.shape = filled;
    }
  }
}

/**
 * The inferred shape of one value (undefined when its rank is unknown). Infers leniently: values that
 * depend on ops rebirth does not know come back undefined rather than failing.
 */
export function shapeOf(model: Model, valueName: string): Dim[] | undefined {
  const { types } = inferTypes(model, { strict: false });
  if (!types.has(valueName)) {
    throw new RebirthError(`no value named '${valueName}' in graph '${model.graph.name}'; check the name (graph inputs, initializers and node outputs count)`);
  }
  return types.get(valueName)?.shape;
}

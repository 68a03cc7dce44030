/**
 * Constant folding of shape subgraphs, what onnx-simplifier does for PyTorch exports. torch.onnx.export
 * traces `x.view(x.size(0), -1)` as Shape -> Gather -> Unsqueeze -> Concat -> Reshape, and
 * nn.LocalResponseNorm as a Pad whose pads are computed (ConstantOfShape -> Concat -> Reshape -> Slice ->
 * Transpose -> Reshape -> Cast) and an If on `Equal(Shape(..)[1], 1)` around a Squeeze. The engine
 * (infer.ts) already knows the contents of those small tensors from the op table's value rules; this
 * pass writes them into the model:
 *
 * - a node whose every output has fully known contents becomes initializers (a Constant node where the
 *   output is a graph output), so the Reshape / Pad / Squeeze after it get constant inputs;
 * - an If whose condition is known is replaced by the nodes of the branch it takes;
 * - a Reshape whose computed target is known except for a symbolic batch gets a constant target that
 *   still follows the batch: 0 (copy the input's dim) where the input has the same symbol at that
 *   position, or -1 for a single remaining symbol;
 * - nodes nothing reads any more are removed.
 *
 * Floating-point initializers are weights and stay variables: nothing computed from them is folded, so
 * training and merging still see every parameter (onnx-simplifier folds through them too).
 */
import type { Dim, Graph, Model, Node } from '../ir/graph.js';
import { tensorValue } from '../ir/builder.js';
import { DataType, type Tensor } from '../ir/tensor.js';
import { NameGen, graphOutputNames, outerScopeReads, removeDeadCode, topologicalSort } from '../ir/topology.js';
import { isFloatType, nodeLabel } from '../ops/context.js';
import { allNums, knownNumel } from '../ops/dims.js';
import { foldedValue } from '../ops/plumbing.js';
import { isDefaultDomain } from '../ops/table.js';
import type { ValueType } from '../ops/types.js';
import { inferTypes, modelOpset, takenBranch, type ShapeInference } from './infer.js';

export interface ShapeFoldResult {
  model: Model;
  /** Nodes replaced by constants (labels as in errors: `node 'name' (Op)`). */
  folded: string[];
  /** If nodes replaced by the branch their known condition takes. */
  inlined: string[];
  /** Reshape nodes whose computed target became a constant (with 0 / -1 for a symbolic batch). */
  reshapes: string[];
  /** Nodes gone in all: folded ones and those only they read. */
  removed: number;
}

/** Element types a folded value is written back as. */
const WRITABLE = new Set<number>([DataType.INT64, DataType.INT32, DataType.FLOAT, DataType.DOUBLE, DataType.BOOL]);

/** Each round folds everything it can see; another is needed only after an If is inlined. */
const MAX_ROUNDS = 16;

const INT64_LIMIT = 2 ** 63;

function cloneGraph(g: Graph): Graph {
  return {
    ...g,
    inputs: [...g.inputs], outputs: [...g.outputs], valueInfo: [...g.valueInfo], initializers: new Map(g.initializers),
    nodes: g.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attributes: [...n.attributes] })),
  };
}

/** The model as inference should see it: floating-point initializers become inputs (known shape, unknown contents). */
function withWeightsAsInputs(model: Model): Model {
  const g = model.graph;
  const weights = [...g.initializers].filter(([, t]) => isFloatType(t.dataType));
  if (weights.length === 0) return model;
  const names = new Set(weights.map(([n]) => n));
  const initializers = new Map([...g.initializers].filter(([n]) => !names.has(n)));
  const inputs = [...g.inputs.filter((v) => !names.has(v.name)), ...weights.map(([n, t]) => tensorValue(n, [...t.dims], t.dataType))];
  return { ...model, graph: { ...g, inputs, initializers } };
}

function knownValue(inference: ShapeInference, name: string): Dim[] | undefined {
  const known = inference.types.get(name)?.value;
  if (known) return known;
  const t = inference.constants.get(name);
  return t ? foldedValue(t) : undefined;
}

/** A folded value as a tensor of its element type, or undefined when it cannot be written exactly. */
function tensorOf(name: string, t: ValueType | undefined): Tensor | undefined {
  if (!t || t.elemType === undefined || !WRITABLE.has(t.elemType) || !allNums(t.shape) || !t.value || !allNums(t.value)) return undefined;
  const values = t.value;
  if (knownNumel(t.shape) !== values.length) return undefined;
  let data: Uint8Array;
  switch (t.elemType) {
    case DataType.INT64: {
      // 2^63 is where JS numbers land for INT64_MAX and INT64_MIN (Slice's "to the end" bounds).
      if (!values.every((v) => Number.isSafeInteger(v) || Math.abs(v) === INT64_LIMIT)) return undefined;
      const arr = BigInt64Array.from(values, (v) => (v === INT64_LIMIT ? 2n ** 63n - 1n : BigInt(v)));
      data = new Uint8Array(arr.buffer);
      break;
    }
    case DataType.INT32:
      if (!values.every((v) => Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31)) return undefined;
      data = new Uint8Array(Int32Array.from(values).buffer);
      break;
    case DataType.FLOAT:
      data = new Uint8Array(Float32Array.from(values).buffer);
      break;
    case DataType.DOUBLE:
      data = new Uint8Array(Float64Array.from(values).buffer);
      break;
    default:
      data = Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0));
  }
  return { name, dataType: t.elemType, dims: [...t.shape], data, storage: 'raw', docString: '' };
}

/**
 * A constant target for a Reshape whose computed target is known up to symbolic dims: 0 where the input
 * has the same symbol at that position (copy it), else -1 for a single symbol the engine solved to the
 * same value. Undefined when neither applies.
 */
function staticTarget(node: Node, inference: ShapeInference, opset: number): number[] | undefined {
  if (opset < 5 || !node.inputs[1] || inference.constants.has(node.inputs[1])) return undefined;
  const allowZero = node.attributes.some((a) => a.name === 'allowzero' && a.kind === 'int' && a.value !== 0n);
  const target = knownValue(inference, node.inputs[1]);
  // A fully numeric target is folded with the node that computes it; only symbolic ones are handled here.
  if (!target || allowZero || target.some((d) => d === null) || allNums(target)) return undefined;
  const input = inference.types.get(node.inputs[0] ?? '')?.shape;
  const output = inference.types.get(node.outputs[0] ?? '')?.shape;
  const out = target.map((d, k) => (typeof d === 'number' ? d : input?.[k] === d ? 0 : undefined));
  const open = out.flatMap((d, k) => (d === undefined ? [k] : []));
  if (open.length === 1 && !out.includes(-1) && output?.[open[0] as number] === target[open[0] as number]) out[open[0] as number] = -1;
  return out.every((d): d is number => d !== undefined) ? out : undefined;
}

/** Names defined inside the subgraphs of `nodes` (at any depth). */
function subgraphNames(nodes: readonly Node[], into = new Set<string>()): Set<string> {
  for (const n of nodes) {
    for (const a of n.attributes) {
      const graphs = a.kind === 'graph' ? [a.value] : a.kind === 'graphs' ? a.value : [];
      for (const g of graphs) {
        for (const v of [...g.inputs, ...g.outputs]) into.add(v.name);
        for (const k of g.initializers.keys()) into.add(k);
        for (const m of g.nodes) for (const o of m.outputs) if (o) into.add(o);
        subgraphNames(g.nodes, into);
      }
    }
  }
  return into;
}

/**
 * The nodes of the branch an If takes, wired in its place: values the branch defines keep their names
 * unless they collide (then they get fresh ones), its initializers join the graph's, and its outputs take
 * the If's output names. Undefined when a renamed value is read by a nested subgraph (left alone).
 */
function inlineBranch(node: Node, branch: Graph, graph: Graph, names: NameGen): Node[] | undefined {
  const rename = new Map<string, string>();
  const produced = new Set<string>();
  for (const n of branch.nodes) for (const o of n.outputs) if (o) produced.add(o);
  // Branch outputs made by a branch node take the If's output name directly.
  const identities: Node[] = [];
  branch.outputs.forEach((o, k) => {
    const target = node.outputs[k];
    if (!target) return;
    if (produced.has(o.name) && !rename.has(o.name)) rename.set(o.name, target);
    else {
      identities.push({ name: names.fresh(`${node.name || 'If'}/Identity`), opType: 'Identity', domain: '', inputs: [o.name], outputs: [target], attributes: [], docString: '' });
    }
  });
  // A name the main graph or another subgraph already uses is renamed, so nothing shadows anything.
  const others = subgraphNames(graph.nodes.filter((n) => n !== node));
  const fresh = (v: string): string => {
    let name = names.fresh(v);
    while (others.has(name)) name = names.fresh(v);
    return name;
  };
  const local = [...branch.initializers.keys(), ...produced].filter((v) => !rename.has(v));
  for (const v of local) rename.set(v, fresh(v));
  const renamed = new Set([...rename].filter(([a, b]) => a !== b).map(([a]) => a));
  if (branch.nodes.some((n) => [...outerScopeReads(n)].some((r) => renamed.has(r)))) return undefined;
  for (const [n, t] of branch.initializers) {
    const name = rename.get(n) ?? n;
    graph.initializers.set(name, { ...t, name });
  }
  const map = (v: string): string => (v ? (rename.get(v) ?? v) : v);
  const nodes = branch.nodes.map((n) => ({
    ...n, name: names.fresh(n.name || n.opType), inputs: n.inputs.map(map), outputs: n.outputs.map(map), attributes: [...n.attributes],
  }));
  for (const id of identities) id.inputs = id.inputs.map(map);
  return [...nodes, ...identities];
}

export interface FoldShapeOptions {
  /** Values to keep computable although no graph output needs them (a loss on an intermediate value). */
  keep?: Iterable<string>;
}

/** removeDeadCode with `keep` counted as graph outputs. */
function prune(graph: Graph, keep: ReadonlySet<string>): void {
  const outputs = graph.outputs;
  const produced = new Set(graph.nodes.flatMap((n) => n.outputs));
  const extra = [...keep].filter((k) => produced.has(k) && !outputs.some((o) => o.name === k)).map((name) => ({ name, docString: '' }));
  graph.outputs = [...outputs, ...extra];
  removeDeadCode(graph);
  graph.outputs = outputs;
}

/**
 * Fold the shape subgraphs of `model` into constants (see the file comment); returns a new model and
 * what changed. The input model is not modified. Exact: every folded value is what ONNX Runtime would
 * compute for any input the model accepts (its declared input shapes; a symbolic batch stays free).
 */
export function foldShapeSubgraphs(model: Model, options: FoldShapeOptions = {}): ShapeFoldResult {
  const keep = new Set(options.keep ?? []);
  const graph = cloneGraph(model.graph);
  const result: Model = { ...model, graph };
  const opset = modelOpset(model);
  const names = new NameGen(graph);
  const folded: string[] = [];
  const inlined: string[] = [];
  const reshapes: string[] = [];
  const before = graph.nodes.length;
  let changedAny = false;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const inference = inferTypes(withWeightsAsInputs(result), { strict: false });
    const outputs = graphOutputNames(graph);
    const next: Node[] = [];
    let changed = false;
    for (const node of graph.nodes) {
      if (!isDefaultDomain(node.domain) || node.opType === 'Constant') {
        next.push(node);
        continue;
      }
      if (node.opType === 'If') {
        const branch = takenBranch(node, knownValue(inference, node.inputs[0] ?? ''));
        const nodes = branch ? inlineBranch(node, branch, graph, names) : undefined;
        if (nodes) {
          next.push(...nodes);
          inlined.push(nodeLabel(node));
          changed = true;
          continue;
        }
      }
      const live = node.outputs.filter((o) => o);
      const tensors = live.map((o) => tensorOf(o, inference.types.get(o)));
      if (live.length > 0 && tensors.every((t) => t !== undefined)) {
        for (const t of tensors) {
          if (outputs.has(t.name)) {
            next.push({ name: names.fresh(`${node.name || node.opType}/folded`), opType: 'Constant', domain: '', inputs: [], outputs: [t.name], attributes: [{ name: 'value', kind: 'tensor', value: t }], docString: '' });
          } else graph.initializers.set(t.name, t);
        }
        folded.push(nodeLabel(node));
        changed = true;
        continue;
      }
      if (node.opType === 'Reshape') {
        const target = staticTarget(node, inference, opset);
        if (target) {
          const name = names.fresh(`${node.outputs[0] || node.name}_target`);
          graph.initializers.set(name, { name, dataType: DataType.INT64, dims: [target.length], data: new Uint8Array(BigInt64Array.from(target, (v) => BigInt(v)).buffer), storage: 'raw', docString: '' });
          node.inputs[1] = name;
          reshapes.push(nodeLabel(node));
          changed = true;
        }
      }
      next.push(node);
    }
    graph.nodes = next;
    if (!changed) break;
    changedAny = true;
    prune(graph, keep);
    topologicalSort(graph);
  }
  if (!changedAny) return { model, folded, inlined, reshapes, removed: 0 };
  return { model: result, folded, inlined, reshapes, removed: before - graph.nodes.length };
}

/**
 * What depth compression can act on: chains of convolutions (and residual blocks) separated by
 * elementwise activations, found in a model whose BatchNorms are folded.
 *
 * A *unit* has one input value and one output value and is linear apart from activations inside it:
 * - a conv unit: one Conv;
 * - a block unit: a residual block, Add(path(x), shortcut(x)), whose path is convs separated by
 *   activations (or by nothing) and whose shortcut is x itself or one Conv of x. The path must end in a
 *   conv that feeds the Add directly (ResNet's branch2b, MobileNetV2's project conv after folding).
 * A *chain* is a maximal run of units u0 -> slot0 -> u1 -> slot1 -> ..., where each slot is the
 * activation between two units or nothing (MobileNetV2's linear bottleneck), every intermediate value
 * has one reader and is not a graph output, and the end slot is what follows the last unit.
 *
 * Removing the activations of slots i..j-1 (and every activation inside the blocks among u_i..u_j)
 * makes u_i..u_j linear, and src/rewrite/linear-conv.ts turns it into one conv.
 */
import type { Graph, Model, Node } from '../ir/graph.js';
import { getInt, getInts, getString } from '../ir/attributes.js';
import { DataType, tensorToFloat32 } from '../ir/tensor.js';
import { consumers, graphOutputNames, producers } from '../ir/topology.js';
import { inferTypes } from '../shapes/infer.js';
import type { ConvShape, LinearConv } from '../rewrite/linear-conv.js';
import { RebirthError } from '../errors.js';

/** Single-node elementwise activations real CNNs put between convs (ReLU6 is Clip). */
export const UNARY_ACTIVATIONS: ReadonlySet<string> = new Set([
  'Relu', 'Clip', 'LeakyRelu', 'PRelu', 'Elu', 'Selu', 'Celu', 'Gelu', 'HardSwish', 'Mish', 'Softplus', 'Tanh', 'ThresholdedRelu',
]);

/** The gates of x * gate(x) activations: SiLU/Swish (Sigmoid) and HardSwish as PyTorch may export it (HardSigmoid). */
const GATES: ReadonlySet<string> = new Set(['Sigmoid', 'HardSigmoid']);

export interface Activation {
  /** The nodes, in order: one, or the gate then the Mul for x * gate(x). */
  nodes: Node[];
  input: string;
  output: string;
  /** 'ReLU', 'ReLU6', 'SiLU', ... for tables. */
  kind: string;
  /** The node name used in tables and plans (the Mul for gated ones). */
  name: string;
}

export interface ConvUnit {
  kind: 'conv';
  node: Node;
  input: string;
  output: string;
}

export interface BlockUnit {
  kind: 'block';
  input: string;
  output: string;
  add: Node;
  /** Path convs in order, and the slot after each but the last (an activation or null). */
  path: Node[];
  pathSlots: Array<Activation | null>;
  /** The shortcut conv, or null for the identity. */
  shortcut: Node | null;
}

export type Unit = ConvUnit | BlockUnit;

export interface Chain {
  /** A label: the first unit's name. */
  name: string;
  units: Unit[];
  /** slots[k] follows units[k]; the last one is the end slot (kept by every plan). */
  slots: Array<Activation | null>;
}

export interface ModelStructure {
  chains: Chain[];
  /** Per-sample shape (CxHxW...) of every value whose shape is known, at batch 1. */
  shapes: Map<string, number[]>;
}

export function unitName(u: Unit): string {
  return u.kind === 'conv' ? u.node.name || u.output : u.add.name || u.output;
}

function activationKind(nodes: readonly Node[], graph: Graph): string {
  const n = nodes[0] as Node;
  if (nodes.length === 2) return n.opType === 'Sigmoid' ? 'SiLU' : 'HardSwish';
  if (n.opType === 'Relu') return 'ReLU';
  if (n.opType === 'Clip') {
    const bound = (i: number): number | undefined => {
      const t = graph.initializers.get(n.inputs[i] ?? '');
      return t && t.dataType === DataType.FLOAT ? tensorToFloat32(t)[0] : undefined;
    };
    const low = n.inputs.length > 1 ? bound(1) : getFloatAttr(n, 'min');
    const high = n.inputs.length > 2 ? bound(2) : getFloatAttr(n, 'max');
    return low === 0 && high === 6 ? 'ReLU6' : `Clip(${low ?? '-inf'}, ${high ?? 'inf'})`;
  }
  return n.opType;
}

function getFloatAttr(node: Node, name: string): number | undefined {
  const a = node.attributes.find((x) => x.name === name);
  return a && a.kind === 'float' ? a.value : undefined;
}

/** Graph analysis shared by the walkers below. */
class View {
  readonly produced: Map<string, Node>;
  readonly readers: Map<string, Node[]>;
  readonly outputs: Set<string>;
  readonly constants: Set<string>;

  constructor(readonly graph: Graph) {
    this.produced = producers(graph);
    this.readers = consumers(graph);
    this.outputs = graphOutputNames(graph);
    const inputs = new Set(graph.inputs.map((v) => v.name));
    this.constants = new Set([...graph.initializers.keys()].filter((k) => !inputs.has(k)));
  }

  readersOf(value: string): Node[] {
    return this.readers.get(value) ?? [];
  }

  /** The value is read only by `node` (once) and is not a graph output. */
  private(value: string, node: Node): boolean {
    const r = this.readersOf(value);
    return r.length === 1 && r[0] === node && !this.outputs.has(value) && node.inputs.filter((i) => i === value).length === 1;
  }

  /** Constant float weights, default domain, plain geometry: a conv a chain can contain. */
  isPlainConv(node: Node): boolean {
    if (node.opType !== 'Conv' || (node.domain !== '' && node.domain !== 'ai.onnx') || node.outputs.length !== 1) return false;
    const w = this.graph.initializers.get(node.inputs[1] ?? '');
    if (!w || w.dataType !== DataType.FLOAT || !this.constants.has(w.name) || w.dims.length !== 4) return false;
    const b = node.inputs[2];
    if (b && !(this.constants.has(b) && this.graph.initializers.get(b)?.dataType === DataType.FLOAT)) return false;
    const autoPad = getString(node, 'auto_pad', 'NOTSET');
    return autoPad === 'NOTSET' || autoPad === 'VALID';
  }

  /** The activation reading `value` as its only reader, if any. */
  activationAfter(value: string): Activation | null {
    if (this.outputs.has(value)) return null;
    const r = this.readersOf(value);
    if (r.length === 1) {
      const n = r[0] as Node;
      const rest = n.inputs.slice(1).filter((i) => i !== '');
      if (UNARY_ACTIVATIONS.has(n.opType) && n.inputs[0] === value && n.outputs.length >= 1 && rest.every((i) => this.constants.has(i))
        && n.outputs.slice(1).every((o) => o === '' || this.readersOf(o).length === 0)) {
        return { nodes: [n], input: value, output: n.outputs[0] as string, kind: activationKind([n], this.graph), name: n.name || (n.outputs[0] as string) };
      }
    }
    if (r.length === 2) {
      const gate = r.find((n) => GATES.has(n.opType) && n.inputs[0] === value);
      const mul = r.find((n) => n.opType === 'Mul');
      if (gate && mul && gate.outputs[0] && this.private(gate.outputs[0], mul)
        && [...mul.inputs].sort().join('\u0000') === [value, gate.outputs[0]].sort().join('\u0000')) {
        return { nodes: [gate, mul], input: value, output: mul.outputs[0] as string, kind: activationKind([gate, mul], this.graph), name: mul.name || (mul.outputs[0] as string) };
      }
    }
    return null;
  }

  /** The value after the optional activation following `value`, and that activation. */
  slotAfter(value: string): { slot: Activation | null; next: string } {
    const act = this.activationAfter(value);
    return act ? { slot: act, next: act.output } : { slot: null, next: value };
  }

  /** A unit reading `value`, if the value's readers form one. */
  unitAt(value: string): Unit | null {
    if (this.outputs.has(value)) return null;
    const r = this.readersOf(value);
    if (r.length === 1) {
      const n = r[0] as Node;
      if (this.isPlainConv(n) && n.inputs[0] === value && n.inputs.indexOf(value, 1) < 0) {
        return { kind: 'conv', node: n, input: value, output: n.outputs[0] as string };
      }
      return null;
    }
    if (r.length !== 2) return null;
    const adds = r.filter((n) => n.opType === 'Add');
    if (adds.length > 1) return null;
    const convs = r.filter((n) => this.isPlainConv(n) && n.inputs[0] === value && n.inputs.indexOf(value, 1) < 0);
    if (convs.length + adds.length !== r.length || convs.length === 0) return null;
    // Candidate paths: from each conv reading x, follow conv [activation] conv ... to an Add.
    for (const start of convs) {
      const walked = this.walkPath(start);
      if (!walked) continue;
      const add = walked.add;
      const other = add.inputs[0] === walked.last.outputs[0] ? add.inputs[1] : add.inputs[0];
      if (add.inputs.length !== 2 || add.outputs.length !== 1) continue;
      let shortcut: Node | null = null;
      if (other === value) {
        if (r.length !== 2 || !r.includes(add)) continue;
      } else {
        // A projection shortcut: x is read by the two convs only.
        const s = convs.find((c) => c !== start && c.outputs[0] === other);
        if (!s || r.length !== 2 || adds.length !== 0 || !this.private(other ?? '', add)) continue;
        shortcut = s;
      }
      return { kind: 'block', input: value, output: add.outputs[0] as string, add, path: walked.convs, pathSlots: walked.slots, shortcut };
    }
    return null;
  }

  private walkPath(start: Node): { convs: Node[]; slots: Array<Activation | null>; add: Node; last: Node } | null {
    const convs = [start];
    const slots: Array<Activation | null> = [];
    let cur = start;
    for (let guard = 0; guard < 64; guard++) {
      const out = cur.outputs[0] as string;
      if (this.outputs.has(out)) return null;
      const r = this.readersOf(out);
      if (r.length === 1 && (r[0] as Node).opType === 'Add') {
        return this.private(out, r[0] as Node) ? { convs, slots, add: r[0] as Node, last: cur } : null;
      }
      const { slot, next } = this.slotAfter(out);
      const nr = this.readersOf(next);
      const conv = nr[0];
      if (nr.length !== 1 || !conv || !this.isPlainConv(conv) || conv.inputs[0] !== next || this.outputs.has(next)) return null;
      slots.push(slot);
      convs.push(conv);
      cur = conv;
    }
    return null;
  }
}

function unitNodes(u: Unit): Node[] {
  if (u.kind === 'conv') return [u.node];
  return [...u.path, ...u.pathSlots.flatMap((s) => s?.nodes ?? []), ...(u.shortcut ? [u.shortcut] : []), u.add];
}

/** Chains of the model, earliest first. Every unit of a chain has a known input shape. */
export function analyzeStructure(model: Model): ModelStructure {
  const graph = model.graph;
  const view = new View(graph);
  const shapes = new Map<string, number[]>();
  const inferred = inferTypes(model, { batch: 1, strict: false });
  for (const [name, t] of inferred.types) {
    if (t.shape && t.shape.every((d): d is number => typeof d === 'number')) shapes.set(name, t.shape.slice(1));
  }
  const claimed = new Set<Node>();
  const chains: Chain[] = [];
  const starts = [...graph.inputs.map((v) => v.name), ...graph.nodes.flatMap((n) => n.outputs)];
  const walk = (first: Unit): void => {
    const units: Unit[] = [];
    const slots: Array<Activation | null> = [];
    let unit: Unit | null = first;
    for (;;) {
      if (!unit || unitNodes(unit).some((n) => claimed.has(n))) break;
      units.push(unit);
      for (const n of unitNodes(unit)) claimed.add(n);
      const { slot, next } = view.slotAfter(unit.output);
      slots.push(slot);
      if (slot) for (const n of slot.nodes) claimed.add(n);
      unit = shapes.has(next) ? view.unitAt(next) : null;
    }
    if (units.length > 0) chains.push({ name: unitName(units[0] as Unit), units, slots });
  };
  for (const start of starts) {
    if (!shapes.has(start)) continue;
    const strict = view.unitAt(start);
    if (strict) {
      walk(strict);
      continue;
    }
    // The first conv of a chain may share its input with other readers (an Inception module's 1x1
    // reducers): merging rewrites what follows it, not what it reads.
    for (const n of view.readersOf(start)) {
      if (view.isPlainConv(n) && n.inputs[0] === start && !claimed.has(n)) walk({ kind: 'conv', node: n, input: start, output: n.outputs[0] as string });
    }
  }
  return { chains, shapes };
}

/** The Conv node's weights and geometry as a LinearConv (float64 copies). Assumes View.isPlainConv. */
export function linearConvOfNode(graph: Graph, node: Node): LinearConv {
  const w = graph.initializers.get(node.inputs[1] ?? '');
  if (!w) throw new RebirthError(`conv '${node.name}' has no weight initializer; only convs with constant weights can merge`);
  const b = node.inputs[2] ? graph.initializers.get(node.inputs[2]) : undefined;
  const [cout, cinPerGroup, ...kernel] = w.dims as [number, number, ...number[]];
  const s = kernel.length;
  const group = getInt(node, 'group', 1);
  const valid = getString(node, 'auto_pad', 'NOTSET') === 'VALID';
  return {
    cin: cinPerGroup * group, cout, group, kernel,
    strides: getInts(node, 'strides', new Array<number>(s).fill(1)),
    dilations: getInts(node, 'dilations', new Array<number>(s).fill(1)),
    pads: valid ? new Array<number>(2 * s).fill(0) : getInts(node, 'pads', new Array<number>(2 * s).fill(0)),
    weight: Float64Array.from(tensorToFloat32(w)),
    bias: b ? Float64Array.from(tensorToFloat32(b)) : new Float64Array(cout),
  };
}

/** The Conv node's shape (no weight copy; the bias is read to know whether it is zero). */
export function convShapeOfNode(graph: Graph, node: Node): ConvShape {
  const w = graph.initializers.get(node.inputs[1] ?? '');
  if (!w) throw new RebirthError(`conv '${node.name}' has no weight initializer; only convs with constant weights can merge`);
  const b = node.inputs[2] ? graph.initializers.get(node.inputs[2]) : undefined;
  const [cout, cinPerGroup, ...kernel] = w.dims as [number, number, ...number[]];
  const s = kernel.length;
  const group = getInt(node, 'group', 1);
  const valid = getString(node, 'auto_pad', 'NOTSET') === 'VALID';
  return {
    cin: cinPerGroup * group, cout, group, kernel,
    strides: getInts(node, 'strides', new Array<number>(s).fill(1)),
    dilations: getInts(node, 'dilations', new Array<number>(s).fill(1)),
    pads: valid ? new Array<number>(2 * s).fill(0) : getInts(node, 'pads', new Array<number>(2 * s).fill(0)),
    biased: b ? tensorToFloat32(b).some((v) => v !== 0) : false,
  };
}

/** Every activation of a chain a plan may remove: slot activations between units and inside blocks. */
export function chainActivations(chain: Chain): Activation[] {
  const out: Activation[] = [];
  chain.units.forEach((u, k) => {
    if (u.kind === 'block') for (const s of u.pathSlots) if (s) out.push(s);
    const slot = chain.slots[k];
    if (slot && k < chain.units.length - 1) out.push(slot);
  });
  return out;
}

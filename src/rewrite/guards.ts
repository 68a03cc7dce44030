// The checks every rewrite shares, in one place so each rule states its conditions declaratively:
// the opset defines the op the way the rule assumes, attributes are ones the spec defines (absent ones
// take the spec default; anything unknown refuses), weights are constants that cannot change at run
// time, intermediates vanish safely (one reader, not a graph output), and a rewritten weight is not
// read by a node outside the match (else rewriting it would change that node too).
import type { Node } from '../ir/graph.js';
import { DataType, dataTypeName, tensorToFloat32, tensorToNumbers, type Tensor } from '../ir/tensor.js';
import { opInfo, type AttrSpec } from '../ops/table.js';
import type { AttrDefault } from '../ops/types.js';
import { MAX_OPSET, constantNodeTensor, isDefaultDomain, type RewriteContext } from './engine.js';

/**
 * Oldest opset whose definition of each op the rules implement. Older definitions had other semantics
 * (legacy broadcast/axis on arithmetic and Gemm, is_test on BatchNormalization and Dropout, a string
 * `to` on Cast, `paddings` on Pad, a shape attribute on Reshape), so rules refuse them. Attribute names,
 * types, defaults and the opsets they exist in come from the op table (src/ops/table.ts).
 */
const MIN_OPSET: Readonly<Record<string, number>> = {
  Conv: 1, ConvTranspose: 1, Gemm: 7, BatchNormalization: 7, Mul: 7, Add: 7, Sub: 7, Div: 7, Dropout: 7,
  Identity: 1, Pad: 2, Reshape: 5, Transpose: 1, Cast: 6, AveragePool: 1, MaxPool: 1, Relu: 1, Clip: 6,
};

/** Validated attributes of one node; getters fill in the spec default when the attribute is absent. */
export class Attrs {
  constructor(
    private readonly node: Node,
    private readonly spec: Readonly<Record<string, AttrSpec>>,
    private readonly opset: number,
  ) {}

  has(name: string): boolean {
    return this.node.attributes.some((a) => a.name === name);
  }

  /** The spec default at this opset (the table's older default below its `until`). */
  private fallback(name: string): AttrDefault | undefined {
    const s = this.spec[name];
    if (!s) return undefined;
    if (s.olderDefault && this.opset < s.olderDefault.until) return s.olderDefault.value;
    return s.default;
  }

  int(name: string): number {
    const a = this.node.attributes.find((x) => x.name === name);
    if (a && a.kind === 'int') return Number(a.value);
    const d = this.fallback(name);
    return typeof d === 'number' ? d : 0;
  }

  float(name: string): number {
    const a = this.node.attributes.find((x) => x.name === name);
    if (a && a.kind === 'float') return a.value;
    const d = this.fallback(name);
    return typeof d === 'number' ? d : 0;
  }

  string(name: string): string {
    const a = this.node.attributes.find((x) => x.name === name);
    if (a && a.kind === 'string') return new TextDecoder().decode(a.value);
    const d = this.fallback(name);
    return typeof d === 'string' ? d : '';
  }

  ints(name: string): number[] | undefined {
    const a = this.node.attributes.find((x) => x.name === name);
    if (a && a.kind === 'ints') return a.value.map((v) => Number(v));
    const d = this.fallback(name);
    return Array.isArray(d) ? [...d] : undefined;
  }
}

/** Short label for messages: `'conv1' (Conv)`. */
export function label(node: Node): string {
  return `'${node.name || node.outputs[0] || '?'}' (${node.opType})`;
}

/**
 * The node is an op of the default domain, the model's opset defines it the way the rules know, and
 * every attribute it carries is one that opset defines, with the right kind. Returns its attributes.
 */
export function checkNode(ctx: RewriteContext, node: Node): Attrs | string {
  if (!isDefaultDomain(node.domain)) return `${label(node)} is in domain '${node.domain}', not the default ONNX domain`;
  const info = opInfo(node.opType);
  const minOpset = MIN_OPSET[node.opType];
  if (!info || minOpset === undefined) return `${label(node)}: the rewrite rules do not know op ${node.opType}`;
  const opset = ctx.opset;
  if (opset === undefined) return 'the model does not import the default ONNX domain';
  if (opset > MAX_OPSET) return `opset ${opset} is newer than the rules know (up to ${MAX_OPSET})`;
  if (opset < minOpset) return `${label(node)}: ${node.opType} before opset ${minOpset} has legacy semantics the rules do not handle (model opset ${opset})`;
  for (const a of node.attributes) {
    const s = info.attributes[a.name];
    if (!s || (s.since !== undefined && opset < s.since) || (s.until !== undefined && opset >= s.until)) {
      return `${label(node)}: attribute '${a.name}' is not part of ${node.opType} at opset ${opset}`;
    }
    if (a.kind !== s.type) return `${label(node)}: attribute '${a.name}' is a ${a.kind}, the spec says ${s.type}`;
  }
  return new Attrs(node, info.attributes, opset);
}

/** A constant the rewrite may read: an initializer that is not also a graph input, or a Constant node's value. */
export function constantTensor(ctx: RewriteContext, name: string, role: string): Tensor | string {
  if (name === '') return `${role} is missing`;
  if (ctx.isGraphInput(name)) return `${role} '${name}' is a graph input, so it can change at run time`;
  const init = ctx.initializer(name);
  if (init) return init;
  const p = ctx.producer(name);
  const c = constantNodeTensor(p);
  if (c) return c;
  return p ? `${role} '${name}' is computed by ${label(p)}, not a constant` : `${role} '${name}' is not defined in the graph`;
}

/** Values of a float32 constant, widened to float64 for the folding arithmetic. */
export function floatConstant(ctx: RewriteContext, name: string, role: string): { tensor: Tensor; values: Float64Array } | string {
  const t = constantTensor(ctx, name, role);
  if (typeof t === 'string') return t;
  if (t.dataType !== DataType.FLOAT) return `${role} '${name}' is ${dataTypeName(t.dataType)}; only float32 weights are folded`;
  if (!t.data) return `${role} '${name}' has no readable data`;
  return { tensor: t, values: Float64Array.from(tensorToFloat32(t)) };
}

/** Values of an integer constant (pads, shapes, axes, split sizes). */
export function intConstant(ctx: RewriteContext, name: string, role: string): number[] | string {
  const t = constantTensor(ctx, name, role);
  if (typeof t === 'string') return t;
  if (t.dataType !== DataType.INT64 && t.dataType !== DataType.INT32) return `${role} '${name}' is ${dataTypeName(t.dataType)}, expected int64`;
  return tensorToNumbers(t);
}

/** The value is read only by `reader` and is not a graph output, so removing its producer loses nothing. */
export function singleUse(ctx: RewriteContext, value: string, reader: Node): string | undefined {
  if (ctx.isGraphOutput(value)) return `'${value}' is a graph output, so it must stay`;
  const readers = ctx.consumers(value);
  if (readers.length !== 1 || readers[0] !== reader) {
    return `'${value}' has ${readers.length} readers (${readers.map(label).join(', ')}); folding needs it to feed only ${label(reader)}`;
  }
  return undefined;
}

/** Weights the rewrite changes are read by no node outside the match. */
export function exclusiveWeights(ctx: RewriteContext, names: readonly string[], match: readonly Node[]): string | undefined {
  for (const name of names) {
    if (name === '') continue;
    const outside = ctx.consumers(name).filter((n) => !match.includes(n));
    if (outside.length > 0) return `weight '${name}' is shared with ${label(outside[0] as Node)}; rewriting it would change that node too`;
    if (ctx.isGraphOutput(name)) return `weight '${name}' is also a graph output`;
  }
  return undefined;
}

export interface MatchSpec<T extends readonly Node[]> {
  /** All nodes the rewrite replaces or edits. */
  nodes: T;
  /** Values produced and read inside the match that disappear: one reader each, none a graph output. */
  intermediates?: ReadonlyArray<{ value: string; reader: Node }>;
  /** Constant inputs the rewrite changes: must be constants, read by no node outside the match. */
  rewritten?: readonly string[];
}

/**
 * The one shared guard: every node is a known op at the model's opset with spec attributes,
 * intermediates are private to the match, rewritten weights are constants private to the match.
 * Returns each node's attributes (in `nodes` order), or the first reason to refuse.
 */
export function guard<const T extends readonly Node[]>(ctx: RewriteContext, spec: MatchSpec<T>): { [K in keyof T]: Attrs } | string {
  const attrs: Attrs[] = [];
  for (const n of spec.nodes) {
    const a = checkNode(ctx, n);
    if (typeof a === 'string') return a;
    attrs.push(a);
  }
  for (const { value, reader } of spec.intermediates ?? []) {
    const why = singleUse(ctx, value, reader);
    if (why) return why;
  }
  for (const w of spec.rewritten ?? []) {
    if (w === '') continue;
    const t = constantTensor(ctx, w, 'weight');
    if (typeof t === 'string') return t;
  }
  // One Attrs per node, in order: the mapped tuple type states exactly that.
  return exclusiveWeights(ctx, spec.rewritten ?? [], spec.nodes) ?? (attrs as { [K in keyof T]: Attrs });
}

/** float64 values -> a float32 tensor (the folded weights are stored at the model's precision). */
export function float32Tensor(name: string, dims: readonly number[], values: Float64Array | readonly number[]): Tensor {
  const arr = Float32Array.from(values);
  return { name, dataType: DataType.FLOAT, dims: [...dims], storage: 'raw', docString: '', data: new Uint8Array(arr.buffer) };
}

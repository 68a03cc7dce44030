// What a gradient rule (and a training-mode forward hook, and a loss) sees: a small emitter over the
// training graph's GraphBuilder plus the facts it may need (static shapes, element type, opset), and for
// rules the forward node, dL/d(output k), which inputs need a gradient and what the training forward saved.
import type { Dim, Node } from '../ir/graph.js';
import { makeAttr, type AttrInput } from '../ir/attributes.js';
import type { GraphBuilder } from '../ir/builder.js';
import { DataType, dataTypeName, type Tensor } from '../ir/tensor.js';
import { RebirthError } from '../errors.js';
import { allNums } from '../ops/dims.js';
import type { ShapeInfo } from '../shapes/info.js';

/** State shared by every emitter working on one training graph. */
export interface EmitterState {
  builder: GraphBuilder;
  info: ShapeInfo;
  /** Default-domain opset of the training graph (>= 18). */
  opset: number;
  /** Float element type of the trained values (FLOAT or DOUBLE). */
  dtype: number;
  /** Constant initializers by content, so equal constants are emitted once. */
  constants: Map<string, string>;
}

export type Attrs = Record<string, AttrInput | undefined>;

function rawBytes(dataType: number, values: readonly number[]): Uint8Array {
  let arr: Float32Array | Float64Array | BigInt64Array | BigUint64Array | Uint32Array | Uint8Array;
  if (dataType === DataType.FLOAT) arr = Float32Array.from(values);
  else if (dataType === DataType.DOUBLE) arr = Float64Array.from(values);
  else if (dataType === DataType.INT64) arr = BigInt64Array.from(values, (v) => BigInt(v));
  else if (dataType === DataType.UINT32) arr = Uint32Array.from(values);
  else if (dataType === DataType.UINT64) arr = BigUint64Array.from(values, (v) => BigInt(v));
  else if (dataType === DataType.BOOL) arr = Uint8Array.from(values, (v) => (v ? 1 : 0));
  else throw new RebirthError(`autodiff: cannot make a ${dataTypeName(dataType)} constant; only float, double, int64, uint32, uint64 and bool are emitted`);
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}

export function makeTensor(name: string, dataType: number, dims: readonly number[], values: readonly number[]): Tensor {
  return { name, dataType, dims: [...dims], storage: 'raw', docString: '', data: rawBytes(dataType, values) };
}

/** Emits nodes into the training graph. Node names carry `prefix` so a graph dump shows who made what. */
export class Emitter {
  constructor(protected readonly st: EmitterState, readonly prefix: string) {}

  get builder(): GraphBuilder {
    return this.st.builder;
  }

  get opset(): number {
    return this.st.opset;
  }

  /** Float element type of the training graph (FLOAT or DOUBLE). */
  get dtype(): number {
    return this.st.dtype;
  }

  get info(): ShapeInfo {
    return this.st.info;
  }

  /** One node, one output; returns the output name. */
  op(opType: string, inputs: string[], attrs: Attrs = {}): string {
    return this.st.builder.node(opType, inputs, attrs, { name: `${this.prefix}/${opType}` })[0] as string;
  }

  /** One node with `outputs` outputs (a count, or names to use). */
  ops(opType: string, inputs: string[], attrs: Attrs, outputs: number | string[]): string[] {
    return this.st.builder.node(opType, inputs, attrs, { name: `${this.prefix}/${opType}`, outputs });
  }

  /**
   * A node whose outputs keep exactly the given names: a training-mode forward hook re-emits a node under
   * the names downstream nodes already read (the builder's NameGen has reserved them, so `op` would rename).
   */
  emitExact(opType: string, inputs: string[], attrs: Attrs, outputs: string[]): void {
    const name = this.st.builder.names.fresh(`${this.prefix}/${opType}`);
    const attributes = Object.entries(attrs).filter((e): e is [string, AttrInput] => e[1] !== undefined).map(([k, v]) => makeAttr(k, v));
    this.st.builder.graph.nodes.push({ name, opType, domain: '', inputs, outputs, attributes, docString: '' });
  }

  /** A fresh value name. */
  fresh(base: string): string {
    return this.st.builder.names.fresh(base);
  }

  /** A constant initializer of the graph's float type unless `dataType` says otherwise. Deduplicated. */
  constant(values: number | readonly number[], dims?: readonly number[], dataType: number = this.st.dtype): string {
    const list = typeof values === 'number' ? [values] : [...values];
    const shape = dims ?? (typeof values === 'number' ? [] : [list.length]);
    const key = `${dataType}|${shape.join(',')}|${list.join(',')}`;
    const hit = this.st.constants.get(key);
    if (hit) return hit;
    const name = this.st.builder.initializer(makeTensor('autodiff_const', dataType, shape, list));
    this.st.info.set(name, { elemType: dataType, shape: [...shape] });
    this.st.constants.set(key, name);
    return name;
  }

  /** A 1-D int64 constant (axes, shapes, pads, starts...). */
  ints(values: readonly number[]): string {
    return this.constant(values, [values.length], DataType.INT64);
  }

  shapeOf(value: string): Dim[] | undefined {
    return this.st.info.shape(value);
  }

  setShape(value: string, shape: Dim[] | undefined, elemType: number = this.st.dtype): void {
    this.st.info.set(value, { elemType, shape });
  }

  rank(value: string): number | undefined {
    return this.st.info.shape(value)?.length;
  }

  /** Static dims or undefined. */
  staticShape(value: string): number[] | undefined {
    const s = this.st.info.shape(value);
    return allNums(s) ? s : undefined;
  }

  add(a: string, b: string): string { return this.op('Add', [a, b]); }
  sub(a: string, b: string): string { return this.op('Sub', [a, b]); }
  mul(a: string, b: string): string { return this.op('Mul', [a, b]); }
  div(a: string, b: string): string { return this.op('Div', [a, b]); }
  neg(a: string): string { return this.op('Neg', [a]); }
  scale(a: string, factor: number): string { return factor === 1 ? a : this.mul(a, this.constant(factor)); }
  reshape(x: string, dims: readonly number[] | string): string {
    return this.op('Reshape', [x, typeof dims === 'string' ? dims : this.ints(dims)]);
  }
  transpose(x: string, perm: readonly number[]): string { return this.op('Transpose', [x], { perm: [...perm] }); }
  unsqueeze(x: string, axes: readonly number[]): string { return this.op('Unsqueeze', [x, this.ints(axes)]); }
  squeeze(x: string, axes: readonly number[]): string { return this.op('Squeeze', [x, this.ints(axes)]); }
  slice(x: string, starts: readonly number[], ends: readonly number[], axes: readonly number[]): string {
    return this.op('Slice', [x, this.ints(starts), this.ints(ends), this.ints(axes)]);
  }
  cast(x: string, to: number = this.st.dtype): string { return this.op('Cast', [x], { to }); }
  shape(x: string): string { return this.op('Shape', [x]); }

  /**
   * Reduce over `axes` (all axes when undefined). ReduceSum takes axes as an input since opset 13; the other
   * reductions only since 18, so the form depends on the training opset.
   */
  reduce(opType: string, x: string, axes: readonly number[] | undefined, keepdims: boolean): string {
    const keep = keepdims ? 1 : 0;
    if (axes === undefined) return this.op(opType, [x], { keepdims: keep });
    if (opType === 'ReduceSum' || this.st.opset >= 18) return this.op(opType, [x, this.ints(axes)], { keepdims: keep });
    return this.op(opType, [x], { axes: [...axes], keepdims: keep });
  }

  /** Zeros shaped like `value` (float type of the graph). */
  zerosLike(value: string): string {
    const s = this.staticShape(value);
    const dims = s ? this.ints(s) : this.shape(value);
    return this.op('ConstantOfShape', [dims], { value: makeTensor('value', this.st.dtype, [1], [0]) });
  }

  /** The number of elements of `value` over `axes` (all when undefined), as a float scalar value. */
  countOf(value: string, axes?: readonly number[]): string {
    const s = this.shapeOf(value);
    if (s) {
      const picked = axes ? axes.map((a) => s[a < 0 ? a + s.length : a] ?? null) : s;
      if (allNums(picked)) return this.constant(picked.reduce((a, b) => a * b, 1));
    }
    if (!axes) return this.cast(this.op('Size', [value]));
    const dims = this.op('Gather', [this.shape(value), this.ints(axes)], { axis: 0 });
    return this.cast(this.reduce('ReduceProd', dims, [0], false));
  }

  /**
   * Sum `grad` (shaped `gradShape`, by default whatever is recorded for it) down to the shape of `like`:
   * the adjoint of numpy broadcasting. Static shapes give one ReduceSum over the known axes (keepdims) and a
   * Reshape when leading axes were added; otherwise the axes are computed in the graph: pad Shape(like)
   * with ones to grad's rank, reduce where it is 1 (noop_with_empty_axes), Reshape to Shape(like).
   */
  sumToShape(grad: string, like: string, gradShape: Dim[] | undefined = this.shapeOf(grad)): string {
    const target = this.shapeOf(like);
    if (target && gradShape && target.every((d) => d !== null) && gradShape.length >= target.length) {
      const lead = gradShape.length - target.length;
      const axes: number[] = [];
      for (let i = 0; i < gradShape.length; i++) {
        if (i < lead) axes.push(i);
        else if (target[i - lead] === 1 && gradShape[i] !== 1) axes.push(i);
      }
      if (axes.length === 0) return grad;
      const summed = this.reduce('ReduceSum', grad, axes, true);
      if (lead === 0) return summed;
      return this.squeeze(summed, Array.from({ length: lead }, (_, i) => i));
    }
    const targetShape = this.shape(like);
    const rankDiff = this.op('Sub', [this.op('Size', [this.shape(grad)]), this.op('Size', [targetShape])]);
    const ones = this.op('ConstantOfShape', [this.reshape(rankDiff, [1])], { value: makeTensor('value', DataType.INT64, [1], [1]) });
    const padded = this.op('Concat', [ones, targetShape], { axis: 0 });
    const axes = this.reshape(this.op('NonZero', [this.op('Equal', [padded, this.ints([1])])]), [-1]);
    const summed = this.op('ReduceSum', [grad, axes], { keepdims: 1, noop_with_empty_axes: 1 });
    return this.reshape(summed, targetShape);
  }
}

/** Everything a gradient rule gets. */
export class GradContext extends Emitter {
  constructor(
    st: EmitterState,
    readonly node: Node,
    private readonly outGrads: readonly (string | undefined)[],
    private readonly needed: readonly boolean[],
    private readonly savedValues: ReadonlyMap<string, string>,
  ) {
    super(st, `grad/${node.name || node.opType}`);
  }

  get inputs(): readonly string[] {
    return this.node.inputs;
  }

  get outputs(): readonly string[] {
    return this.node.outputs;
  }

  /** Name of dL/d(output k), or undefined when no gradient flows into that output. */
  gradOut(k: number): string | undefined {
    return this.outGrads[k];
  }

  /** dL/d(output k), or zeros shaped like output k when none flows (for ops that need every output's grad). */
  gradOutOrZeros(k: number): string {
    return this.outGrads[k] ?? this.zerosLike(this.node.outputs[k] as string);
  }

  /** Whether input k needs a gradient (it is, or depends on, a trainable parameter). */
  needs(k: number): boolean {
    return this.needed[k] === true;
  }

  /** A value the training-mode forward saved for this node (e.g. MaxPool indices, BN's normalized input). */
  saved(key: string): string | undefined {
    return this.savedValues.get(key);
  }

  /** Shape of input/output k of the node, or a RebirthError naming what is missing. */
  requireStatic(value: string, why: string): number[] {
    const s = this.staticShape(value);
    if (!s) throw this.fail(`the shape of '${value}' must be static to ${why} (got [${(this.shapeOf(value) ?? ['?']).join(',')}]); give the model's inputs static non-batch dims`);
    return s;
  }

  requireRank(value: string): number {
    const r = this.rank(value);
    if (r === undefined) throw this.fail(`the rank of '${value}' is unknown; give the model's inputs shapes`);
    return r;
  }

  fail(message: string): RebirthError {
    return new RebirthError(`autodiff: node '${this.node.name || this.node.opType}' (${this.node.opType}): ${message}`);
  }
}

/** Settings of the training-mode forward. */
export interface TrainSettings {
  /**
   * 'seed': masks hashed in-graph from an int64 seed input fed each step (reproducible and resumable);
   * 'ort': ONNX Runtime's Dropout with a fixed seed attribute; 'input': masks are graph inputs fed each step;
   * 'none': Dropout stays the identity.
   */
  dropoutMasks: 'seed' | 'ort' | 'input' | 'none';
  seed: number;
  /** Running variance update: ONNX's population variance, or PyTorch's unbiased (n/(n-1)) one. */
  runningVariance: 'population' | 'unbiased';
  /** BatchNormalization uses batch statistics and updates its running statistics ('train' mode, BN not frozen). */
  batchNormTraining: boolean;
}

/** Graph inputs and outputs the training-mode forward adds. */
export interface TrainExtras {
  /** Running-statistic initializer -> graph output holding its updated value. */
  stateOutputs: Map<string, string>;
  /** Dropout node -> its mask input (bool, shaped like the node's input). */
  maskInputs: Map<string, { input: string; ratio: number }>;
  /** The int64 scalar seed input of 'seed' dropout masks, once a Dropout node asked for it. */
  seedInput?: string;
}

/** What a training-mode forward hook gets: emit the node's training forward and save what backward needs. */
export class ForwardContext extends Emitter {
  readonly saved = new Map<string, string>();

  constructor(
    st: EmitterState,
    readonly node: Node,
    readonly settings: TrainSettings,
    readonly extras: TrainExtras,
    /** Index of the node in the forward graph (stable across builds: seeds dropout). */
    readonly nodeIndex: number,
    /** Whether any input needs a gradient (hooks that only serve backward can skip work otherwise). */
    readonly onGradientPath: boolean,
    /** Training-mode semantics (BN batch statistics, dropout on) rather than inference semantics. */
    readonly training: boolean,
  ) {
    super(st, `train/${node.name || node.opType}`);
  }

  /** Emit the node unchanged. */
  emitAsIs(): void {
    this.st.builder.graph.nodes.push(this.node);
  }

  save(key: string, value: string): void {
    this.saved.set(key, value);
  }

  fail(message: string): RebirthError {
    return new RebirthError(`autodiff: node '${this.node.name || this.node.opType}' (${this.node.opType}): ${message}`);
  }
}

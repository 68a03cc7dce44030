/**
 * What an op-table rule sees of one node: its inputs' inferred types and constant contents, its
 * attributes with the table's opset-aware defaults, and (for the cost rules) its outputs' types.
 */
import type { Dim, Node } from '../ir/graph.js';
import { findAttr } from '../ir/attributes.js';
import { DataType, numel, tensorToFloat32, tensorToNumbers, type Tensor } from '../ir/tensor.js';
import { RebirthError } from '../errors.js';
import { MAX_FOLDED_ELEMENTS, type AttrDefault, type AttrSpec, type InputSpec, type OpCategory, type ValueType } from './types.js';

/** One row of the op table (src/ops/table.ts); its rules read the node through an OpContext. */
export interface OpInfo {
  opType: string;
  category: OpCategory;
  /** One line: what the op computes. */
  summary: string;
  inputs: readonly InputSpec[];
  /** Output names in order; optional ones are marked with a trailing '?'. */
  outputs: readonly string[];
  attributes: Readonly<Record<string, AttrSpec>>;
  /**
   * Output types, one per node output (a shorter list leaves the rest unknown). Throws a RebirthError
   * through `ctx.fail` on a model that cannot be valid (channel mismatch, bad axis ...), and calls
   * `ctx.requireShape` where it cannot go on without an input's rank.
   */
  inferShape(ctx: OpContext): ValueType[];
  /**
   * Floating-point operations for one run of the node, given the inferred input and output types.
   * Undefined when a needed dimension is not a number. Conventions: see FLOPS_CONVENTION.
   */
  flops(ctx: OpContext): number | undefined;
  /** Elements of constant weight inputs (see InputSpec.weight). */
  params(ctx: OpContext): number;
}

/** What the shape engine provides to a rule. */
export interface ShapeEnv {
  /** Version of the default ONNX domain the model imports. */
  opset: number;
  type(name: string): ValueType | undefined;
  /** The tensor behind a constant value: an initializer or a Constant node's output. */
  constant(name: string): Tensor | undefined;
}

/**
 * Thrown by `requireShape` when a rule cannot go on without an input's rank; the engine turns it into a
 * RebirthError naming the node and where the unknown shape came from (or, when lenient, into unknown
 * outputs).
 */
export class NeedShape extends Error {
  constructor(readonly inputIndex: number, readonly why: string) {
    super(why);
    this.name = 'NeedShape';
  }
}

/** Constants larger than this are not read as integer lists (they are weights or index tables, not shapes). */
const MAX_CONSTANT_LIST = 4096;

const INTEGER_TYPES = new Set<number>([DataType.INT64, DataType.INT32]);
const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

export function isFloatType(elemType: number | undefined): boolean {
  return elemType !== undefined && FLOAT_TYPES.has(elemType);
}

export function nodeLabel(node: Node): string {
  return `node '${node.name || node.outputs[0] || '?'}' (${node.opType})`;
}

export class OpContext {
  constructor(
    readonly node: Node,
    readonly info: OpInfo,
    private readonly env: ShapeEnv,
    /** Output types, available to the FLOPs and params rules (not to inferShape). */
    readonly outputTypes: readonly ValueType[] = [],
  ) {}

  get opset(): number {
    return this.env.opset;
  }

  get label(): string {
    return nodeLabel(this.node);
  }

  /** A user-facing error about this node: the message should say what is wrong and what would fix it. */
  fail(message: string): never {
    throw new RebirthError(`${this.label}: ${message}`);
  }

  /** Number of input slots, omitted optional ones included. */
  get inputCount(): number {
    return this.node.inputs.length;
  }

  /** Input slot i is given (not past the end and not ''). */
  has(i: number): boolean {
    const name = this.node.inputs[i];
    return name !== undefined && name !== '';
  }

  inputName(i: number): string {
    return this.node.inputs[i] ?? '';
  }

  input(i: number): ValueType | undefined {
    return this.has(i) ? this.env.type(this.inputName(i)) : undefined;
  }

  shape(i: number): Dim[] | undefined {
    return this.input(i)?.shape;
  }

  elemType(i: number): number | undefined {
    return this.input(i)?.elemType;
  }

  /** The input's shape, or a NeedShape signal when its rank is unknown. */
  requireShape(i: number, why: string): Dim[] {
    const shape = this.shape(i);
    if (shape === undefined) throw new NeedShape(i, why);
    return shape;
  }

  /** The tensor behind input i when it is constant. */
  constant(i: number): Tensor | undefined {
    return this.has(i) ? this.env.constant(this.inputName(i)) : undefined;
  }

  /**
   * Known contents of an input, flattened: integer constants, small floating-point constants (the
   * operands of shape arithmetic, e.g. Range bounds), or values folded from shape arithmetic.
   */
  value(i: number): Dim[] | undefined {
    const known = this.input(i)?.value;
    if (known) return known;
    const t = this.constant(i);
    if (!t || !t.data) return undefined;
    if (INTEGER_TYPES.has(t.dataType)) return numel(t.dims) <= MAX_CONSTANT_LIST ? tensorToNumbers(t) : undefined;
    if (t.dataType === DataType.BOOL && numel(t.dims) <= MAX_FOLDED_ELEMENTS) return Array.from(t.data, (b) => (b ? 1 : 0));
    if (FLOAT_TYPES.has(t.dataType) && t.dataType !== DataType.BFLOAT16 && numel(t.dims) <= MAX_FOLDED_ELEMENTS) return Array.from(tensorToFloat32(t));
    return undefined;
  }

  /** Contents of a small constant floating-point or integer input (Resize scales, Range bounds). */
  numbers(i: number): number[] | undefined {
    const ints = this.intValues(i);
    if (ints) return ints;
    const t = this.constant(i);
    if (!t || !FLOAT_TYPES.has(t.dataType) || t.dataType === DataType.BFLOAT16 || !t.data || numel(t.dims) > MAX_CONSTANT_LIST) return undefined;
    return Array.from(tensorToFloat32(t));
  }

  /** Known contents of an integer input when every element is a number. */
  intValues(i: number): number[] | undefined {
    const v = this.value(i);
    return v?.every((d): d is number => typeof d === 'number') ? v : undefined;
  }

  output(i: number): ValueType | undefined {
    return this.outputTypes[i];
  }

  /** Count of outputs the node actually produces (non-empty names). */
  get outputCount(): number {
    return this.node.outputs.filter((o) => o !== '').length;
  }

  hasOutput(i: number): boolean {
    const o = this.node.outputs[i];
    return o !== undefined && o !== '';
  }

  // ---- attributes, with the table's defaults -------------------------------------------------

  private spec(name: string): AttrSpec {
    const spec = this.info.attributes[name];
    // A rule reading an attribute its row does not declare is a bug in the table, not in the model.
    if (!spec) throw new Error(`op table: ${this.info.opType} reads undeclared attribute '${name}'`);
    return spec;
  }

  hasAttr(name: string): boolean {
    this.spec(name);
    return findAttr(this.node, name) !== undefined;
  }

  private defaultOf(name: string): AttrDefault | undefined {
    const spec = this.spec(name);
    if (spec.olderDefault && this.opset < spec.olderDefault.until) return spec.olderDefault.value;
    return spec.default;
  }

  private missing(name: string): never {
    if (this.spec(name).required) this.fail(`required attribute '${name}' is missing; add it`);
    throw new Error(`op table: ${this.info.opType}.${name} has no static default; read it with an opt* accessor`);
  }

  optInt(name: string): number | undefined {
    const a = findAttr(this.node, name);
    this.spec(name);
    if (a) {
      if (a.kind === 'int') return Number(a.value);
      if (a.kind === 'float' && Number.isInteger(a.value)) return a.value;
      this.fail(`attribute '${name}' is ${a.kind}, expected an int`);
    }
    const d = this.defaultOf(name);
    return typeof d === 'number' ? d : undefined;
  }

  int(name: string): number {
    return this.optInt(name) ?? this.missing(name);
  }

  optFloat(name: string): number | undefined {
    const a = findAttr(this.node, name);
    this.spec(name);
    if (a) {
      if (a.kind === 'float') return a.value;
      if (a.kind === 'int') return Number(a.value);
      this.fail(`attribute '${name}' is ${a.kind}, expected a float`);
    }
    const d = this.defaultOf(name);
    return typeof d === 'number' ? d : undefined;
  }

  float(name: string): number {
    return this.optFloat(name) ?? this.missing(name);
  }

  optString(name: string): string | undefined {
    const a = findAttr(this.node, name);
    this.spec(name);
    if (a) {
      if (a.kind === 'string') return new TextDecoder().decode(a.value);
      this.fail(`attribute '${name}' is ${a.kind}, expected a string`);
    }
    const d = this.defaultOf(name);
    return typeof d === 'string' ? d : undefined;
  }

  string(name: string): string {
    return this.optString(name) ?? this.missing(name);
  }

  optInts(name: string): number[] | undefined {
    const a = findAttr(this.node, name);
    this.spec(name);
    if (a) {
      if (a.kind === 'ints') return a.value.map((v) => Number(v));
      // Some exporters write a one-element list as a scalar.
      if (a.kind === 'int') return [Number(a.value)];
      this.fail(`attribute '${name}' is ${a.kind}, expected a list of ints`);
    }
    const d = this.defaultOf(name);
    return Array.isArray(d) ? [...d] : undefined;
  }

  optFloats(name: string): number[] | undefined {
    const a = findAttr(this.node, name);
    this.spec(name);
    if (a) {
      if (a.kind === 'floats') return a.value;
      if (a.kind === 'ints') return a.value.map((v) => Number(v));
      this.fail(`attribute '${name}' is ${a.kind}, expected a list of floats`);
    }
    const d = this.defaultOf(name);
    return Array.isArray(d) ? [...d] : undefined;
  }

  ints(name: string): number[] {
    return this.optInts(name) ?? this.missing(name);
  }

  /** Input spec for slot i (the variadic last spec covers the rest). */
  inputSpec(i: number): InputSpec | undefined {
    const specs = this.info.inputs;
    if (i < specs.length) return specs[i];
    const last = specs[specs.length - 1];
    return last?.variadic ? last : undefined;
  }

  /** Elements of floating-point constant inputs in weight slots. */
  weightElements(): number {
    let total = 0;
    const seen = new Set<string>();
    for (let i = 0; i < this.inputCount; i++) {
      if (!this.inputSpec(i)?.weight || seen.has(this.inputName(i))) continue;
      const t = this.constant(i);
      if (t && FLOAT_TYPES.has(t.dataType)) {
        seen.add(this.inputName(i));
        total += numel(t.dims);
      }
    }
    return total;
  }
}

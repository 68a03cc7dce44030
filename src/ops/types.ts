/**
 * The shape of one row of the op table (src/ops/table.ts). A row documents an ONNX operator of the
 * default domain as rebirth sees it: which DeepRebirth category it falls in, its inputs and attributes
 * with their spec defaults (across opsets). The row itself (OpInfo, with its three rules: output types,
 * FLOPs and parameters) is declared beside the context the rules read, in src/ops/context.ts.
 */
import type { Dim } from '../ir/graph.js';

/**
 * DeepRebirth's split of layers:
 * - 'tensor': layers that carry a weight tensor and do the dense arithmetic (Conv, ConvTranspose, Gemm,
 *   MatMul). They are what merging folds the other layers into.
 * - 'non-tensor': layers on the activation path without a weight tensor of that kind (pooling, LRN,
 *   BatchNormalization, activations, Concat, Split, Dropout, Softmax, Flatten/Reshape/Identity/Pad,
 *   elementwise arithmetic). DeepRebirth measures these to cost a large share of mobile latency for few
 *   FLOPs, and merges them away.
 * - 'other': shape and constant plumbing (Constant, Shape, Gather, Cast, ConstantOfShape, Range) and
 *   every op the table does not know. Such nodes compute on metadata, not on activations, so they are
 *   never merge candidates and are reported apart.
 */
export type OpCategory = 'tensor' | 'non-tensor' | 'other';

export const OP_CATEGORIES: readonly OpCategory[] = ['tensor', 'non-tensor', 'other'];

/** The ONNX attribute types the table uses. */
export type AttrType = 'int' | 'ints' | 'float' | 'floats' | 'string' | 'strings' | 'tensor' | 'graph';

export type AttrDefault = number | number[] | string;

/**
 * One attribute as the ONNX spec defines it. Exactly one of `default`, `required` or `whenAbsent`
 * describes what happens when a node omits it (checked by test/ops/table.test.ts).
 */
export interface AttrSpec {
  type: AttrType;
  /** The spec's static default (for the newest opset in which the attribute exists). */
  default?: AttrDefault;
  /** Older opsets whose default differs: the default applies to opsets below `until`. */
  olderDefault?: { until: number; value: AttrDefault };
  /** The node is invalid without it (in the opsets where the attribute exists). */
  required?: true;
  /** What absence means when the spec has no static default ("1 per spatial axis", "equal split"). */
  whenAbsent?: string;
  /** First opset with the attribute (default 1). */
  since?: number;
  /** First opset without it (it moved to an input or was dropped); absent when still current. */
  until?: number;
  /** Why the attribute went away or how it relates to an input, for readers of the table. */
  note?: string;
}

export interface InputSpec {
  name: string;
  /** May be omitted (or given as ''). */
  optional?: true;
  /** Takes any number of tensors (Concat, Sum, Max ...). Only the last input may be variadic. */
  variadic?: true;
  /**
   * A floating-point constant here (an initializer or a Constant node output) counts as parameters of
   * the layer: weights, biases, BatchNorm statistics, PReLU slopes, constant operands of arithmetic.
   * Shape-like inputs (Reshape's shape, Pad's pads, Split's split ...) never do.
   */
  weight?: true;
  since?: number;
  until?: number;
  note?: string;
}

/**
 * What rebirth knows about one value: element type, shape, and for small integer tensors (shapes, axes)
 * the contents, so that Shape -> Gather -> Concat -> Reshape chains resolve.
 */
export interface ValueType {
  /** TensorProto.DataType code; undefined when unknown. */
  elemType?: number;
  /** Undefined when the rank is unknown; dims are numbers, symbolic names (strings) or null (unknown). */
  shape?: Dim[];
  /**
   * Known contents, flattened row-major, of a small tensor in shape arithmetic (at most
   * MAX_FOLDED_ELEMENTS elements): integer and bool (0 / 1) constants, Shape outputs (symbolic dims stay
   * strings), and what the value rules of Gather, Concat, Slice, Transpose, Cast, Where, comparisons and
   * arithmetic compute from them. src/shapes/fold.ts writes fully known contents back as constants, so
   * every rule must give exactly what ONNX Runtime computes, rounding included.
   */
  value?: Dim[];
}

/** Tensors up to this size have their contents tracked through shape arithmetic. */
export const MAX_FOLDED_ELEMENTS = 64;

/**
 * How the FLOPs rules count, in one place so the conventions are consistent:
 * - A multiply-add is 2 FLOPs. Conv/ConvTranspose/Gemm/MatMul cost 2 x (number of multiply-adds).
 *   A bias is free: a K-term dot product plus a bias is exactly K multiplies and K adds, the bias being
 *   the accumulator's initial value. Gemm's alpha != 1 and beta != 1 (with C) each add one multiply per
 *   output element.
 * - Elementwise ops cost per output element: 1 for Add/Sub/Mul/Div/Relu/Max/..., and for composite
 *   activations the count of elementary operations (LeakyRelu 2, Clip 2, Sigmoid 3, HardSigmoid 4,
 *   HardSwish 5, Softmax/LogSoftmax 5: max, subtract, exp, sum, divide/log-subtract). exp, log, tanh,
 *   sqrt and erf count as 1.
 * - BatchNormalization (inference) is 2 per element: the statistics fold into one scale and one shift.
 * - LRN is 2*size + 4 per element: size squares and size-1 adds for the window sum, then scale, add bias,
 *   power, divide.
 * - MaxPool costs kernel-1 comparisons per output element, AveragePool kernel (kernel-1 adds and a
 *   divide); the window is counted whole even where it overlaps padding. Global pools and reductions
 *   cost one operation per input element (ReduceSum one fewer per output element).
 * - Data movement costs nothing: Concat, Split, Reshape, Flatten, Transpose, Identity, Pad, Gather, Slice,
 *   Cast, Squeeze/Unsqueeze, Constant, Shape. Dropout is the identity at inference and costs nothing.
 */
export const FLOPS_CONVENTION = 'multiply-add = 2 FLOPs; bias free; data movement 0; see src/ops/types.ts';

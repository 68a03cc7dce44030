// An explicit zero Pad (constant mode, value 0, spatial axes only, no cropping) before a Conv folds into
// the Conv's own pads: a convolution's implicit padding is zero padding, so the two compute the same sums.
// Pools are subtler, because their padding is not zeros:
// - AveragePool with count_include_pad=1 divides by the full window including padding, so explicit zeros
//   and implicit pads are counted the same. With count_include_pad=0 the implicit pads would be left out
//   of the divisor while the explicit zeros were counted: not exact, unless the pool has no pads of its
//   own, in which case switching it to count_include_pad=1 reproduces the original divisor.
// - MaxPool pads with -inf. Zero padding agrees only when the input is >= 0 (then a zero never beats the
//   window's real maximum) and every window still covers at least one real element (pads < kernel);
//   the input is proven >= 0 when it comes from Relu, Clip(min >= 0), Sigmoid, Softmax, Abs or Exp.
// ceil_mode=1 windows can overhang the padded input, where runtimes differ in what they count: refused.
import type { Node } from '../../ir/graph.js';
import { setAttr } from '../../ir/attributes.js';
import { defineRule, type RewriteContext } from '../engine.js';
import { checkNode, floatConstant, guard, intConstant, label, type Attrs } from '../guards.js';
import { convGeometry } from '../linear.js';

interface FoldPad {
  pad: Node;
  consumer: Node;
  pads: number[];
  countIncludePad: boolean;
  clearAutoPad: boolean;
}

const FOLD_INTO: ReadonlySet<string> = new Set(['Conv', 'AveragePool', 'MaxPool']);

/** Rank of the consumer's data input, from its weight or kernel. */
function consumerRank(ctx: RewriteContext, consumer: Node, attrs: Attrs): number | undefined {
  if (consumer.opType === 'Conv') {
    const w = consumer.inputs[1] ?? '';
    return ctx.initializer(w)?.dims.length ?? ctx.valueType(w)?.shape?.length;
  }
  const k = attrs.ints('kernel_shape');
  return k ? k.length + 2 : undefined;
}

/** A Conv's weight dims (numbers only), from the initializer, recorded shape or kernel_shape. */
function convWeightDims(ctx: RewriteContext, conv: Node, attrs: Attrs): number[] | undefined {
  const w = conv.inputs[1] ?? '';
  const init = ctx.initializer(w);
  if (init) return init.dims;
  const shape = ctx.valueType(w)?.shape;
  if (shape && shape.every((d): d is number => typeof d === 'number')) return shape;
  const k = attrs.ints('kernel_shape');
  return k ? [0, 0, ...k] : undefined;
}

/** Proven >= 0 by the op that produced it. */
function nonNegative(ctx: RewriteContext, value: string): boolean {
  const p = ctx.producer(value);
  if (!p) return false;
  switch (p.opType) {
    case 'Relu':
    case 'Sigmoid':
    case 'Softmax':
    case 'Abs':
    case 'Exp':
      return true;
    case 'Clip': {
      const attrs = checkNode(ctx, p);
      if (typeof attrs === 'string') return false;
      if ((ctx.opset ?? 0) < 11) return attrs.has('min') && attrs.float('min') >= 0;
      const min = floatConstant(ctx, p.inputs[1] ?? '', 'min');
      return typeof min !== 'string' && min.values.length === 1 && (min.values[0] ?? -1) >= 0;
    }
    default:
      return false;
  }
}

/** The Pad's amounts over all `rank` axes (begins then ends), or why they cannot be folded. */
function padAmounts(ctx: RewriteContext, pad: Node, attrs: Attrs, rank: number): number[] | string {
  if (attrs.string('mode') !== 'constant') return `${label(pad)} uses mode '${attrs.string('mode')}', not zero padding`;
  let pads: number[];
  if ((ctx.opset ?? 0) < 11) {
    pads = attrs.ints('pads') ?? [];
    if (attrs.float('value') !== 0) return `${label(pad)} pads with ${attrs.float('value')}, not 0`;
  } else {
    const p = intConstant(ctx, pad.inputs[1] ?? '', `pads of ${label(pad)}`);
    if (typeof p === 'string') return p;
    pads = p;
    const valueName = pad.inputs[2] ?? '';
    if (valueName !== '') {
      const v = floatConstant(ctx, valueName, `constant_value of ${label(pad)}`);
      if (typeof v === 'string') return v;
      if (v.values.some((x) => x !== 0)) return `${label(pad)} pads with ${v.values[0]}, not 0`;
    }
    const axesName = pad.inputs[3] ?? '';
    if (axesName !== '') {
      const axes = intConstant(ctx, axesName, `axes of ${label(pad)}`);
      if (typeof axes === 'string') return axes;
      if (pads.length !== 2 * axes.length) return `${label(pad)}: ${pads.length} pads for ${axes.length} axes`;
      const full = new Array<number>(2 * rank).fill(0);
      axes.forEach((a, k) => {
        const axis = a < 0 ? a + rank : a;
        full[axis] = pads[k] ?? 0;
        full[axis + rank] = pads[k + axes.length] ?? 0;
      });
      pads = full;
    }
  }
  if (pads.length !== 2 * rank) return `${label(pad)} has ${pads.length} pads for a rank-${rank} input`;
  if (pads.some((p) => p < 0)) return `${label(pad)} has negative pads (cropping), which no conv padding expresses`;
  if (pads[0] !== 0 || pads[1] !== 0 || pads[rank] !== 0 || pads[rank + 1] !== 0) return `${label(pad)} pads the batch or channel axis`;
  return pads;
}

export const foldPad = defineRule<FoldPad>({
  name: 'fold-pad',
  root: 'Pad',
  description: 'fold a zero Pad into the following Conv, AveragePool (count_include_pad) or MaxPool (input >= 0)',
  policy: 'always',
  match(pad, ctx) {
    const out = pad.outputs[0] ?? '';
    const readers = ctx.consumers(out);
    if (!readers.some((r) => FOLD_INTO.has(r.opType))) return null;
    const consumer = readers.find((r) => FOLD_INTO.has(r.opType)) as Node;
    if (consumer.inputs[0] !== out || consumer.inputs.indexOf(out, 1) > 0) return null;
    const attrs = guard(ctx, { nodes: [pad, consumer], intermediates: [{ value: out, reader: consumer }] });
    if (typeof attrs === 'string') return attrs;
    const [padAttrs, cAttrs] = attrs;
    const rank = consumerRank(ctx, consumer, cAttrs);
    if (rank === undefined) return `${label(consumer)}: the rank of its input is unknown`;
    const amounts = padAmounts(ctx, pad, padAttrs, rank);
    if (typeof amounts === 'string') return amounts;
    const s = rank - 2;
    const begin = amounts.slice(2, rank);
    const end = amounts.slice(rank + 2);

    const kernelDims = consumer.opType === 'Conv' ? convWeightDims(ctx, consumer, cAttrs) : [0, 0, ...(cAttrs.ints('kernel_shape') ?? [])];
    if (!kernelDims || kernelDims.length !== rank) return `${label(consumer)}: its kernel size is unknown`;
    const geometry = convGeometry(consumer, cAttrs, kernelDims);
    if (typeof geometry === 'string') return geometry;
    if (geometry.autoPad !== 'NOTSET') return `${label(consumer)} has auto_pad ${geometry.autoPad}: its padding depends on the input size, which the fold changes`;
    const own = geometry.pads;
    const pads = own.map((p, i) => p + (i < s ? (begin[i] ?? 0) : (end[i - s] ?? 0)));
    let countIncludePad = false;
    if (consumer.opType !== 'Conv') {
      if (cAttrs.int('ceil_mode') !== 0) return `${label(consumer)} has ceil_mode=1: overhanging windows count padding differently`;
      if (geometry.dilations.some((d) => d !== 1)) return `${label(consumer)} has dilations; only undilated pools are folded`;
      // Pool pads must stay below the kernel (ONNX Runtime rejects the model otherwise; for MaxPool it
      // also keeps a real element in every window, see above).
      const k = geometry.kernel;
      if (pads.some((p, i) => p >= (k[i % s] ?? 0))) return `${label(consumer)}: folded pads [${pads.join(',')}] would reach the kernel [${k.join(',')}]`;
    }
    if (consumer.opType === 'AveragePool' && cAttrs.int('count_include_pad') === 0) {
      if (own.some((p) => p !== 0)) return `${label(consumer)} has count_include_pad=0 and pads of its own: folded zeros would leave the divisor`;
      countIncludePad = true;
    }
    if (consumer.opType === 'MaxPool') {
      const indices = consumer.outputs[1] ?? '';
      if (indices !== '' && (ctx.consumers(indices).length > 0 || ctx.isGraphOutput(indices))) return `${label(consumer)}: its Indices output is used and would change`;
      if (!nonNegative(ctx, pad.inputs[0] ?? '')) return `${label(consumer)} pads with -inf; zero padding is exact only for an input proven >= 0 (e.g. after Relu)`;
    }
    return { pad, consumer, pads, countIncludePad, clearAutoPad: cAttrs.has('auto_pad') };
  },
  apply({ pad, consumer, pads, countIncludePad, clearAutoPad }, ctx) {
    consumer.inputs[0] = pad.inputs[0] as string;
    if (clearAutoPad) consumer.attributes = consumer.attributes.filter((a) => a.name !== 'auto_pad');
    setAttr(consumer, 'pads', { ints: pads });
    if (countIncludePad) setAttr(consumer, 'count_include_pad', 1);
    ctx.removeNodes([pad]);
  },
});

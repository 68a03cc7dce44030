// Two convolutions with nothing nonlinear between them compose into one, because convolution is linear.
// The algebra (any kernels, strides, dilations and groups; the derivation and the border condition) is in
// src/rewrite/linear-conv.ts; in short, conv2 after conv1 is one conv with stride s1 s2, taps at
// t2 d2 s1 + t1 d1 (kernel k1 + k2 - 1 for two stride-1 convs), pads p1 + s1 p2, bias
// b2 + (sum of conv2's taps) b1, and the largest group count the connectivity allows (depthwise after
// depthwise stays depthwise; 1x1 then depthwise becomes dense).
//
// Exact only away from one trap: conv2's padding pads conv1's *output* with zeros, while the merged conv
// pads the *input* and sees conv1's formula extended past the border (its bias, plus whatever of its
// window still reaches real pixels). So with padding on conv2 the rule requires conv1's bias to be zero
// and conv1's window one step past the border to lie entirely in its own zero padding (a 1x1 conv
// without pads; the end border needs known sizes), and refuses otherwise: two 3x3 'same' convs are not
// one 5x5 'same' conv at the borders. (`rebirth shrink` moves such padding onto the first conv before
// retraining instead; that changes the network, so it is not a rule here.)
//
// Only applied where it lowers the multiply-accumulate count: with known spatial sizes exactly, otherwise
// against a lower bound of the unmerged cost (conv1 runs on at least as many pixels as conv2 outputs).
import type { Node } from '../../ir/graph.js';
import { setAttr } from '../../ir/attributes.js';
import { defineRule } from '../engine.js';
import { float32Tensor, floatConstant, guard, label, type Attrs } from '../guards.js';
import { convGeometry, convOutputSpatial } from '../linear.js';
import { composeConvs, macsPerOutput, type LinearConv } from '../linear-conv.js';
import type { RewriteContext } from '../engine.js';

interface MergeConvs {
  conv1: Node;
  conv2: Node;
  merged: LinearConv;
  hasBias: boolean;
}

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** A Conv node's weights and geometry as a LinearConv, or why not (auto_pad SAME_*, non-constant weights). */
export function linearConvOf(ctx: RewriteContext, node: Node, attrs: Attrs): { conv: LinearConv; hasBias: boolean } | string {
  const w = floatConstant(ctx, node.inputs[1] ?? '', `weight of ${label(node)}`);
  if (typeof w === 'string') return w;
  const b = node.inputs[2] ? floatConstant(ctx, node.inputs[2], `bias of ${label(node)}`) : undefined;
  if (typeof b === 'string') return b;
  const g = convGeometry(node, attrs, w.tensor.dims);
  if (typeof g === 'string') return g;
  if (g.autoPad !== 'NOTSET') return `${label(node)} has auto_pad ${g.autoPad}`;
  const [cout, cinPerGroup] = w.tensor.dims as [number, number];
  if (g.group < 1 || cout % g.group !== 0) return `${label(node)}: group ${g.group} does not divide its ${cout} outputs`;
  if (b && b.values.length !== cout) return `${label(node)}: bias has ${b.values.length} values for ${cout} channels`;
  return {
    conv: {
      cin: cinPerGroup * g.group, cout, group: g.group, kernel: g.kernel, strides: g.strides, dilations: g.dilations, pads: g.pads,
      weight: w.values, bias: b ? b.values : new Float64Array(cout),
    },
    hasBias: b !== undefined,
  };
}

export const mergeLinearConvs = defineRule<MergeConvs>({
  name: 'merge-linear-convs',
  root: 'Conv',
  description: 'merge two convolutions with nothing nonlinear between them (any kernels, strides, groups) into one, where exact and it lowers FLOPs',
  policy: 'always',
  match(conv2, ctx) {
    const mid = conv2.inputs[0] ?? '';
    const conv1 = ctx.producer(mid);
    if (!conv1 || conv1.opType !== 'Conv' || conv1.outputs[0] !== mid || conv2.inputs.indexOf(mid, 1) > 0) return null;
    const attrs = guard(ctx, {
      nodes: [conv1, conv2],
      intermediates: [{ value: mid, reader: conv2 }],
      rewritten: [conv2.inputs[1] ?? '', conv2.inputs[2] ?? ''],
    });
    if (typeof attrs === 'string') return attrs;
    const a = linearConvOf(ctx, conv1, attrs[0]);
    if (typeof a === 'string') return a;
    const b = linearConvOf(ctx, conv2, attrs[1]);
    if (typeof b === 'string') return b;
    if (b.conv.cin !== a.conv.cout || a.conv.kernel.length !== b.conv.kernel.length) return `${label(conv2)} does not take ${label(conv1)}'s ${a.conv.cout} channels`;
    const inputShape = ctx.valueType(conv1.inputs[0] ?? '')?.shape;
    const spatial = inputShape?.slice(2);
    const inputSize = spatial && spatial.every((d): d is number => typeof d === 'number') ? spatial : undefined;
    const merged = composeConvs(a.conv, b.conv, { padding: 'exact', ...(inputSize ? { inputSize } : {}) });
    if (typeof merged === 'string') return `${label(conv1)} -> ${label(conv2)}: ${merged}`;

    // Multiply-accumulates per output pixel of conv2, scaled by the pixel counts when shapes are known.
    const g1 = { kernel: a.conv.kernel, strides: a.conv.strides, dilations: a.conv.dilations, pads: a.conv.pads, group: a.conv.group, autoPad: 'NOTSET' };
    const g2 = { ...g1, kernel: b.conv.kernel, strides: b.conv.strides, dilations: b.conv.dilations, pads: b.conv.pads, group: b.conv.group };
    const p1 = convOutputSpatial(inputShape, g1);
    const p2 = p1 ? convOutputSpatial([0, 0, ...p1], g2) : undefined;
    const after = macsPerOutput(merged);
    let before: number;
    if (p1 && p2) {
      before = (macsPerOutput(a.conv) * product(p1)) / product(p2) + macsPerOutput(b.conv);
    } else {
      // Unknown sizes: conv2 must not output more pixels than conv1 does, so that P1 >= P2 bounds the cost below.
      const s = b.conv.kernel.length;
      const shrinks = b.conv.kernel.every((k, i) => (b.conv.pads[i] ?? 0) + (b.conv.pads[i + s] ?? 0) <= (b.conv.dilations[i] ?? 1) * (k - 1));
      if (!shrinks) return `${label(conv2)} enlarges its input and spatial sizes are unknown, so the FLOPs cannot be compared`;
      before = macsPerOutput(a.conv) + macsPerOutput(b.conv);
    }
    if (after >= before) return `merging would not lower FLOPs (${Math.round(before)} -> ${after} MACs per output pixel)`;
    return { conv1, conv2, merged, hasBias: a.hasBias || b.hasBias };
  },
  apply({ conv1, conv2, merged, hasBias }, ctx) {
    conv2.inputs[0] = conv1.inputs[0] as string;
    const weightDims = [merged.cout, merged.cin / merged.group, ...merged.kernel];
    ctx.setWeight(conv2, 1, float32Tensor('', weightDims, merged.weight), `${conv2.name || 'conv'}_W`);
    if (hasBias) ctx.setWeight(conv2, 2, float32Tensor('', [merged.cout], merged.bias), `${conv2.name || 'conv'}_B`);
    conv2.attributes = conv2.attributes.filter((x) => !['auto_pad', 'kernel_shape', 'strides', 'pads', 'dilations', 'group'].includes(x.name));
    setAttr(conv2, 'kernel_shape', { ints: merged.kernel });
    setAttr(conv2, 'strides', { ints: merged.strides });
    setAttr(conv2, 'pads', { ints: merged.pads });
    setAttr(conv2, 'dilations', { ints: merged.dilations });
    if (merged.group !== 1) setAttr(conv2, 'group', merged.group);
    ctx.removeNodes([conv1]);
  },
});

// Two convolutions with nothing nonlinear between them compose into one, because convolution is linear:
//
// (A) k x k conv1, then 1 x 1 conv2 (pads 0, any stride s2):
//     y2[o] = sum_m W2[o,m] (sum_i W1[m,i] * x_i + b1[m]) + b2[o]
//     W[o,i,:] = sum_m W2[o,m] W1[m,i,:],  b[o] = b2[o] + sum_m W2[o,m] b1[m]
//     with conv1's kernel, pads and dilations and stride s1*s2: conv2 samples every s2-th output of
//     conv1, whose windows start s1*s2 input positions apart, and the output sizes agree because
//     floor(floor(A / s1) / s2) = floor(A / (s1 s2)).
// (B) 1 x 1 conv1 (stride 1, pads 0), then k x k conv2:
//     W[o,i,:] = sum_m W2[o,m,:] W1[m,i],  b[o] = b2[o] + sum_m (sum_taps W2[o,m,:]) b1[m]
//     with conv2's geometry. conv2's padding pads conv1's *output* with zeros, while the merged conv pads
//     the *input*; at a padded position the original sees 0 but the merged conv sees W1 * 0 + b1 = b1.
//     So (B) is exact only when conv2 has no padding or conv1 has no (or an all-zero) bias.
// Only applied where it lowers the multiply-accumulate count: with known spatial sizes exactly, otherwise
// against a lower bound of the unmerged cost (conv1 runs on at least as many pixels as conv2 outputs).
import type { Node } from '../../ir/graph.js';
import { setAttr } from '../../ir/attributes.js';
import { defineRule } from '../engine.js';
import { float32Tensor, floatConstant, guard, label } from '../guards.js';
import { convGeometry, convOutputSpatial, type ConvGeometry } from '../linear.js';

interface MergeConvs {
  conv1: Node;
  conv2: Node;
  weight: Float64Array;
  weightDims: number[];
  bias: Float64Array | undefined;
  geometry: ConvGeometry;
}

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

export const mergeLinearConvs = defineRule<MergeConvs>({
  name: 'merge-linear-convs',
  root: 'Conv',
  description: 'merge a k x k and a 1 x 1 convolution with nothing nonlinear between them, where that lowers FLOPs',
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
    const w1 = floatConstant(ctx, conv1.inputs[1] ?? '', `weight of ${label(conv1)}`);
    if (typeof w1 === 'string') return w1;
    const w2 = floatConstant(ctx, conv2.inputs[1] ?? '', `weight of ${label(conv2)}`);
    if (typeof w2 === 'string') return w2;
    const b1 = conv1.inputs[2] ? floatConstant(ctx, conv1.inputs[2], `bias of ${label(conv1)}`) : undefined;
    if (typeof b1 === 'string') return b1;
    const b2 = conv2.inputs[2] ? floatConstant(ctx, conv2.inputs[2], `bias of ${label(conv2)}`) : undefined;
    if (typeof b2 === 'string') return b2;
    const g1 = convGeometry(conv1, attrs[0], w1.tensor.dims);
    if (typeof g1 === 'string') return g1;
    const g2 = convGeometry(conv2, attrs[1], w2.tensor.dims);
    if (typeof g2 === 'string') return g2;
    for (const [n, g] of [[conv1, g1], [conv2, g2]] as const) {
      if (g.group !== 1) return `${label(n)} is grouped (group=${g.group}); only dense convolutions are merged`;
      if (g.autoPad !== 'NOTSET') return `${label(n)} has auto_pad ${g.autoPad}`;
    }
    const [cmid, cin] = w1.tensor.dims as [number, number];
    const cout = w2.tensor.dims[0] as number;
    if (w2.tensor.dims[1] !== cmid || w1.tensor.dims.length !== w2.tensor.dims.length) return `${label(conv2)} does not take ${label(conv1)}'s ${cmid} channels`;
    const s = g1.kernel.length;
    const is1x1 = (g: ConvGeometry): boolean => g.kernel.every((k) => k === 1);
    const noPads = (g: ConvGeometry): boolean => g.pads.every((p) => p === 0);
    const k1 = product(g1.kernel);
    const k2 = product(g2.kernel);

    let geometry: ConvGeometry;
    let caseA: boolean;
    if (is1x1(g2) && noPads(g2)) {
      caseA = true;
      geometry = { ...g1, strides: g1.strides.map((st, i) => st * (g2.strides[i] ?? 1)) };
    } else if (is1x1(g1) && noPads(g1) && g1.strides.every((st) => st === 1)) {
      caseA = false;
      if (!noPads(g2) && b1 && b1.values.some((v) => v !== 0)) {
        return `${label(conv2)} pads ${label(conv1)}'s output with zeros, but the merged conv would see ${label(conv1)}'s bias there`;
      }
      geometry = g2;
    } else if (is1x1(g2)) {
      return `${label(conv2)} is 1x1 but has pads: its border outputs are its bias alone, which one conv cannot express`;
    } else {
      return `neither ${label(conv1)} nor ${label(conv2)} is a 1x1 convolution without padding (and stride 1 when first)`;
    }

    // Multiply-accumulates per output pixel of conv2, scaled by the pixel counts when shapes are known.
    const km = caseA ? k1 : k2;
    const after = cout * cin * km;
    const inputShape = ctx.valueType(conv1.inputs[0] ?? '')?.shape;
    const p1 = convOutputSpatial(inputShape, g1);
    const p2 = p1 ? convOutputSpatial([0, 0, ...p1], g2) : undefined;
    let before: number;
    if (p1 && p2) {
      const merged = convOutputSpatial(inputShape, geometry);
      if (!merged || merged.some((d, i) => d !== p2[i])) return `merged output size [${merged?.join(',')}] differs from [${p2.join(',')}]`;
      before = (cmid * cin * k1 * product(p1)) / product(p2) + cout * cmid * k2;
    } else {
      // Unknown sizes: conv2 must not output more pixels than conv1 does, so that P1 >= P2 bounds the cost below.
      const shrinks = g2.kernel.every((k, i) => (g2.pads[i] ?? 0) + (g2.pads[i + s] ?? 0) <= (g2.dilations[i] ?? 1) * (k - 1));
      if (!shrinks) return `${label(conv2)} enlarges its input and spatial sizes are unknown, so the FLOPs cannot be compared`;
      before = cmid * cin * k1 + cout * cmid * k2;
    }
    if (after >= before) return `merging would not lower FLOPs (${Math.round(before)} -> ${after} MACs per output pixel)`;

    const spatial = caseA ? k1 : k2;
    const weight = new Float64Array(cout * cin * spatial);
    const bias = b1 || b2 ? new Float64Array(cout) : undefined;
    const W1 = w1.values;
    const W2 = w2.values;
    for (let o = 0; o < cout; o++) {
      for (let m = 0; m < cmid; m++) {
        if (caseA) {
          const a = W2[o * cmid + m] ?? 0;
          if (a === 0) continue;
          for (let i = 0; i < cin; i++) {
            const src = (m * cin + i) * spatial;
            const dst = (o * cin + i) * spatial;
            for (let t = 0; t < spatial; t++) weight[dst + t] = (weight[dst + t] ?? 0) + a * (W1[src + t] ?? 0);
          }
        } else {
          const src2 = (o * cmid + m) * spatial;
          for (let i = 0; i < cin; i++) {
            const a = W1[m * cin + i] ?? 0;
            if (a === 0) continue;
            const dst = (o * cin + i) * spatial;
            for (let t = 0; t < spatial; t++) weight[dst + t] = (weight[dst + t] ?? 0) + a * (W2[src2 + t] ?? 0);
          }
        }
      }
      if (bias) {
        let acc = b2 ? (b2.values[o] ?? 0) : 0;
        if (b1) {
          for (let m = 0; m < cmid; m++) {
            let tap = 0;
            if (caseA) tap = W2[o * cmid + m] ?? 0;
            else for (let t = 0; t < spatial; t++) tap += W2[(o * cmid + m) * spatial + t] ?? 0;
            acc += tap * (b1.values[m] ?? 0);
          }
        }
        bias[o] = acc;
      }
    }
    const weightDims = [cout, cin, ...geometry.kernel];
    return { conv1, conv2, weight, weightDims, bias, geometry };
  },
  apply({ conv1, conv2, weight, weightDims, bias, geometry }, ctx) {
    conv2.inputs[0] = conv1.inputs[0] as string;
    ctx.setWeight(conv2, 1, float32Tensor('', weightDims, weight), `${conv2.name || 'conv'}_W`);
    if (bias) ctx.setWeight(conv2, 2, float32Tensor('', [weightDims[0] as number], bias), `${conv2.name || 'conv'}_B`);
    conv2.attributes = conv2.attributes.filter((a) => !['auto_pad', 'kernel_shape', 'strides', 'pads', 'dilations'].includes(a.name));
    setAttr(conv2, 'kernel_shape', { ints: geometry.kernel });
    setAttr(conv2, 'strides', { ints: geometry.strides });
    setAttr(conv2, 'pads', { ints: geometry.pads });
    setAttr(conv2, 'dilations', { ints: geometry.dilations });
    ctx.removeNodes([conv1]);
  },
});

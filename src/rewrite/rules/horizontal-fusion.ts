// Sibling convolutions reading the same input with the same kernel geometry (kernel, strides, pads,
// dilations, group=1) become one wider convolution followed by a Split along channels (TensorRT's
// horizontal fusion, TVM's CombineParallelConv2D). Exact: output channel o of a convolution depends only
// on W[o] and b[o], so stacking the weights along axis 0 stacks the outputs along axis 1.
// One big GEMM usually beats several small ones, but the Split copies the outputs, so whether it pays
// depends on the backend and sizes: this rule's policy is 'measure' (optimize.ts profiles each candidate).
import type { Node } from '../../ir/graph.js';
import { makeAttr } from '../../ir/attributes.js';
import { int64Tensor } from '../../ir/tensor.js';
import { defineRule, isDefaultDomain, type RewriteContext } from '../engine.js';
import { checkNode, exclusiveWeights, float32Tensor, floatConstant, label } from '../guards.js';
import { convGeometry, type ConvGeometry } from '../linear.js';

interface Member {
  conv: Node;
  weight: Float64Array;
  bias: Float64Array | undefined;
  channels: number;
}

interface HorizontalFusion {
  members: Member[];
  weightDims: number[];
  geometry: ConvGeometry;
}

/** A sibling that can join a fusion, with its geometry key; or why it cannot. */
function candidate(ctx: RewriteContext, conv: Node): { member: Member; key: string; dims: number[]; geometry: ConvGeometry } | string {
  const attrs = checkNode(ctx, conv);
  if (typeof attrs === 'string') return attrs;
  const w = floatConstant(ctx, conv.inputs[1] ?? '', `weight of ${label(conv)}`);
  if (typeof w === 'string') return w;
  const b = conv.inputs[2] ? floatConstant(ctx, conv.inputs[2], `bias of ${label(conv)}`) : undefined;
  if (typeof b === 'string') return b;
  const shared = exclusiveWeights(ctx, [conv.inputs[1] ?? '', conv.inputs[2] ?? ''], [conv]);
  if (shared) return shared;
  const g = convGeometry(conv, attrs, w.tensor.dims);
  if (typeof g === 'string') return g;
  if (g.group !== 1) return `${label(conv)} is grouped`;
  if (g.autoPad !== 'NOTSET') return `${label(conv)} has auto_pad ${g.autoPad}`;
  const dims = [...w.tensor.dims];
  const key = JSON.stringify([dims.slice(1), g.strides, g.pads, g.dilations]);
  return { member: { conv, weight: w.values, bias: b?.values, channels: dims[0] as number }, key, dims, geometry: g };
}

export const horizontalFusion = defineRule<HorizontalFusion>({
  name: 'horizontal-fusion',
  root: 'Conv',
  description: 'fuse sibling convolutions of one input with the same geometry into one wider Conv + Split',
  policy: 'measure',
  match(conv, ctx) {
    const x = conv.inputs[0] ?? '';
    const siblings = ctx.consumers(x).filter((n) => n.opType === 'Conv' && isDefaultDomain(n.domain) && n.inputs[0] === x && !n.inputs.slice(1).includes(x));
    if (siblings.length < 2 || !siblings.includes(conv)) return null;
    const mine = candidate(ctx, conv);
    if (typeof mine === 'string') return siblings[0] === conv ? mine : null;
    const group: Array<Exclude<ReturnType<typeof candidate>, string>> = [];
    for (const s of siblings) {
      const c = s === conv ? mine : candidate(ctx, s);
      if (typeof c !== 'string' && c.key === mine.key) group.push(c);
    }
    // The group is matched once, from its first member in graph order.
    if (group[0]?.member.conv !== conv) return null;
    if (group.length < 2) return `no sibling of ${label(conv)} reading '${x}' has the same kernel geometry and constant private weights`;
    const channels = group.reduce((a, c) => a + c.member.channels, 0);
    return { members: group.map((c) => c.member), weightDims: [channels, ...mine.dims.slice(1)], geometry: mine.geometry };
  },
  apply({ members, weightDims, geometry }, ctx) {
    const first = members[0] as Member;
    const per = weightDims.slice(1).reduce((a, b) => a * b, 1);
    const weight = new Float64Array(weightDims[0] as number * per);
    const anyBias = members.some((m) => m.bias);
    const bias = anyBias ? new Float64Array(weightDims[0] as number) : undefined;
    let at = 0;
    for (const m of members) {
      weight.set(m.weight, at * per);
      if (bias && m.bias) bias.set(m.bias, at);
      at += m.channels;
    }
    const base = first.conv.name || 'conv';
    const w = ctx.addInitializer(`${base}_hfused_W`, float32Tensor('', weightDims, weight));
    const b = bias ? ctx.addInitializer(`${base}_hfused_B`, float32Tensor('', [weightDims[0] as number], bias)) : undefined;
    const x = first.conv.inputs[0] as string;
    const fusedOut = ctx.fresh(`${base}_hfused_out`);
    const fused: Node = {
      name: ctx.fresh(`${base}_hfused`),
      opType: 'Conv',
      domain: '',
      inputs: b ? [x, w, b] : [x, w],
      outputs: [fusedOut],
      docString: '',
      attributes: [
        makeAttr('kernel_shape', { ints: geometry.kernel }),
        makeAttr('strides', { ints: geometry.strides }),
        makeAttr('pads', { ints: geometry.pads }),
        makeAttr('dilations', { ints: geometry.dilations }),
      ],
    };
    const sizes = members.map((m) => m.channels);
    const split: Node = {
      name: ctx.fresh(`${base}_hfused_split`),
      opType: 'Split',
      domain: '',
      inputs: [fusedOut],
      outputs: members.map((m) => m.conv.outputs[0] as string),
      docString: '',
      attributes: [makeAttr('axis', 1)],
    };
    // Split's sizes are an attribute before opset 13 and an input from 13 on.
    if ((ctx.opset ?? 0) < 13) split.attributes.push(makeAttr('split', { ints: sizes }));
    else split.inputs.push(ctx.addInitializer(`${base}_hfused_sizes`, int64Tensor('', [sizes.length], sizes)));
    ctx.insertBefore(first.conv, [fused, split]);
    ctx.removeNodes(members.map((m) => m.conv));
  },
});

/**
 * Exact merging of parallel convolutions that read one input and are concatenated on channels: SqueezeNet's
 * Fire module
 *   X = relu(squeeze 1x1(x));  out = Concat(relu(expand1x1(X)), relu(expand3x3 pad 1(X)))
 * becomes
 *   out = relu(Conv 3x3 pad 1(X)) with weight [expand1x1 as centre taps; expand3x3], bias [b1; b3].
 *
 * Why it is exact. Output channel o of a convolution depends only on W[o] and b[o], so stacking the
 * branches' weights along the output axis stacks their outputs along channels, in the Concat's order.
 * A branch with a smaller kernel k (pads p = (k-1)/2, stride 1) is embedded in the largest kernel K
 * (pads P = (K-1)/2) at offset d = (K-k)/2, with zeros elsewhere: its tap u reads x[i + u - p], and as
 * tap u + d of the big kernel it reads x[i + (u + d) - P] = x[i + u - p], the same pixel, and both read
 * the same zero padding at the border; the zero taps add nothing. ReLU acts per element, so relu(Concat)
 * = Concat(relu). Only the order of the float additions changes (tested on ORT to 1e-5).
 *
 * What it buys: one conv and one ReLU instead of n of each, and no Concat (a copy of every output). What
 * it costs: the smaller kernels' zero taps are multiplied too (Fire 1x1 + 3x3 of equal widths: 1.8x the
 * conv FLOPs; the description says how much), so whether it pays depends on the runtime, as for every
 * merge here: on SqueezeNet 1.0 it does not (docs/deeprebirth.md); `measureMerges` measures it.
 *
 * Requirements (otherwise refused, with the reason): every Concat input is a Conv, optionally followed by
 * a ReLU, all reading the same value; every conv keeps the spatial size (odd kernel, stride 1, pads
 * (k-1)/2, no dilation, group 1, constant weights); all branches have a ReLU or none does; the
 * intermediates are read only inside the module. The Inception layout (reducers, pool branch) is not this
 * pattern and goes to branch.ts.
 */
import type { Node } from '../ir/graph.js';
import { getInt, makeAttr } from '../ir/attributes.js';
import { floatTensor, tensorToFloat32 } from '../ir/tensor.js';
import { RebirthError } from '../errors.js';
import { blockPrefix, internalValueProblem, label, localName, readConv, type ConvLayer, type GraphView } from './layers.js';
import type { BuildContext, BuiltMerge } from './streamline.js';

interface FireBranch {
  conv: ConvLayer;
  relu?: Node;
}

export interface FireMatch {
  kind: 'fire';
  /** The Concat's block name ('features.3' for '/features/features.3/Concat'). */
  name: string;
  concat: Node;
  /** The value every branch reads (the squeeze ReLU's output in a Fire module). */
  input: string;
  /** In Concat order. */
  branches: FireBranch[];
  /** [KH, KW]: the largest kernel along each axis. */
  kernel: [number, number];
  relu: boolean;
  layers: string[];
  /** e.g. "2 parallel convs -> 1, exact: expand1x1 1x1 -> 64 (centre taps), expand3x3 3x3 -> 64; Conv 3x3 -> 128 + Relu (conv FLOPs x1.80)". */
  description: string;
}

/**
 * Whether `concat` joins parallel convs of one input: the match, a reason it cannot be merged, or null
 * when its inputs are not all convs (+ ReLU) of one value (then it may be an Inception module).
 */
export function matchFire(view: GraphView, concat: Node): FireMatch | string | null {
  if (concat.opType !== 'Concat' || concat.inputs.length < 2) return null;
  const traced: Array<{ conv: Node; relu?: Node }> = [];
  for (const v of concat.inputs) {
    let n = view.producers.get(v);
    let relu: Node | undefined;
    if (n?.opType === 'Relu') {
      relu = n;
      n = view.producers.get(n.inputs[0] ?? '');
    }
    if (n?.opType !== 'Conv') return null;
    traced.push({ conv: n, ...(relu ? { relu } : {}) });
  }
  const input = traced[0]?.conv.inputs[0] ?? '';
  if (!input || traced.some((t) => t.conv.inputs[0] !== input)) return null;

  const where = label(concat);
  const name = blockPrefix(concat.name || concat.outputs[0] || 'concat');
  if (new Set(concat.inputs).size !== concat.inputs.length) return `${where}: lists the same input twice`;
  const rank = view.shapes.get(concat.outputs[0] ?? '')?.length ?? 4;
  const axis = getInt(concat, 'axis', 1);
  if (axis !== 1 && axis !== 1 - rank) return `${where}: concatenates on axis ${axis}, not channels`;
  const relu = traced[0]?.relu !== undefined;
  if (traced.some((t) => (t.relu !== undefined) !== relu)) return `${where}: some parallel convs end in a ReLU and others do not; one merged conv cannot apply it to part of its channels`;
  const branches: FireBranch[] = [];
  for (const t of traced) {
    const conv = readConv(view, t.conv);
    if (typeof conv === 'string') return conv;
    if (conv.group !== 1) return `${label(t.conv)}: grouped convs are not merged`;
    if (!conv.window) return `${label(t.conv)}: its padding depends on an unknown input size`;
    const keepsSize = conv.window.every((w) => w.stride === 1 && w.kernel % 2 === 1 && w.padBegin === (w.kernel - 1) / 2 && w.padEnd === w.padBegin);
    if (!keepsSize) return `${label(t.conv)}: must keep the spatial size (odd kernel, stride 1, pads (k-1)/2) to be merged with its parallel convs`;
    for (const n of [t.conv, ...(t.relu ? [t.relu] : [])]) {
      const problem = internalValueProblem(view, n.outputs[0] ?? '');
      if (problem) return `${where}: ${problem}`;
    }
    branches.push({ conv, ...(t.relu ? { relu: t.relu } : {}) });
  }
  const inChannels = branches[0]?.conv.inPerGroup;
  if (branches.some((b) => b.conv.inPerGroup !== inChannels)) return `${where}: the parallel convs disagree on the input channel count`;
  const kernel: [number, number] = [Math.max(...branches.map((b) => b.conv.kernel[0])), Math.max(...branches.map((b) => b.conv.kernel[1]))];
  const width = branches.reduce((s, b) => s + b.conv.outChannels, 0);
  const parts = branches.map((b) => {
    const k = b.conv.kernel;
    const embedded = k[0] !== kernel[0] || k[1] !== kernel[1] ? ` (${k[0] === 1 && k[1] === 1 ? 'centre taps' : 'centred'})` : '';
    return `${localName(b.conv.node, name)} ${k.join('x')} -> ${b.conv.outChannels}${embedded}`;
  });
  // Multiply-adds per output position, before and after: the embedded kernels' zero taps are computed too.
  const macsBefore = branches.reduce((s, b) => s + b.conv.outChannels * b.conv.kernel[0] * b.conv.kernel[1], 0);
  const growth = (width * kernel[0] * kernel[1]) / macsBefore;
  const description = `${branches.length} parallel convs -> 1, exact: ${parts.join(', ')}; Conv ${kernel.join('x')} -> ${width}${relu ? ' + Relu' : ''} (conv FLOPs x${growth.toFixed(2)})`;
  const nodes = traced.flatMap((t) => [t.conv, ...(t.relu ? [t.relu] : [])]);
  const layers = [...nodes, concat].map((n) => n.name || n.outputs[0] || n.opType);
  return { kind: 'fire', name, concat, input, branches, kernel, relu, layers, description };
}

/** The nodes a Fire merge removes: every branch conv and ReLU, and the Concat. */
export function removedByFire(match: FireMatch): Node[] {
  return [...match.branches.flatMap((b) => [b.conv.node, ...(b.relu ? [b.relu] : [])]), match.concat];
}

/** The merged conv (+ ReLU); its output is the Concat's, so downstream is untouched. Always exact, whatever the init. */
export function buildFire(match: FireMatch, ctx: BuildContext): BuiltMerge {
  const [kh, kw] = match.kernel;
  const cin = match.branches[0]?.conv.inPerGroup ?? 0;
  const cout = match.branches.reduce((s, b) => s + b.conv.outChannels, 0);
  const weight = new Float32Array(cout * cin * kh * kw);
  const bias = new Float32Array(cout);
  let row = 0;
  for (const { conv } of match.branches) {
    const [h, w] = conv.kernel;
    const src = tensorOf(ctx, conv.weight);
    const dy = (kh - h) / 2;
    const dx = (kw - w) / 2;
    for (let o = 0; o < conv.outChannels; o++) {
      for (let c = 0; c < cin; c++) {
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            weight[(((row + o) * cin + c) * kh + y + dy) * kw + x + dx] = src[((o * cin + c) * h + y) * w + x] as number;
          }
        }
      }
    }
    if (conv.bias) bias.set(tensorOf(ctx, conv.bias), row);
    row += conv.outChannels;
  }
  const nodeName = ctx.names.fresh(`${match.name}/rebirth_${kh}x${kw}`);
  const wName = ctx.names.fresh(`${nodeName}_w`);
  const bName = ctx.names.fresh(`${nodeName}_b`);
  const output = match.concat.outputs[0] ?? '';
  const convOut = match.relu ? ctx.names.fresh(`${nodeName}_out`) : output;
  const nodes: Node[] = [{
    name: nodeName, opType: 'Conv', domain: '', inputs: [match.input, wName, bName], outputs: [convOut],
    attributes: [makeAttr('kernel_shape', [kh, kw]), makeAttr('strides', [1, 1]), makeAttr('pads', [(kh - 1) / 2, (kw - 1) / 2, (kh - 1) / 2, (kw - 1) / 2])],
    docString: `rebirth exact merge of the parallel convs of ${match.name}`,
  }];
  if (match.relu) nodes.push({ name: ctx.names.fresh(`${match.name}/rebirth_relu`), opType: 'Relu', domain: '', inputs: [convOut], outputs: [output], attributes: [], docString: '' });
  return { nodes, initializers: [floatTensor(wName, [cout, cin, kh, kw], weight), floatTensor(bName, [cout], bias)], layers: [] };
}

function tensorOf(ctx: BuildContext, name: string): Float32Array {
  const t = ctx.initializers.get(name);
  if (!t) throw new RebirthError(`initializer '${name}' disappeared while merging; this is a bug in src/merge`);
  return tensorToFloat32(t);
}

/**
 * Streamline (vertical) merging, DeepRebirth section "Streamline Merging": a tensor layer (Conv) followed
 * by non-tensor layers becomes one conv. Pools are absorbed by multiplying the stride, LRN is dropped,
 * ReLU is kept (one, after the merged conv). BatchNormalization must already have been folded into the
 * conv (exactly: the planner runs the rewrite engine's folds first, fold.ts); a block that still has one
 * is refused.
 *
 * Geometry of the rebirth conv, per spatial axis (derivation in geometry.ts, composeWindows):
 *   stride  S  = s_conv * prod(s_pool)
 *   kernel  K  = k_conv + sum_j (k_pool_j - 1) * c_j        (c_j = stride product before pool j;
 *                                                            one pool: K = k + (kp - 1) * s_conv)
 *   padBegin P = p_conv + sum_j p_pool_j * c_j
 *   padEnd     = the smallest >= 0 giving exactly the original output size (solvePadEnd); Caffe/ONNX
 *                ceil-mode pools make it larger than padBegin when their last window hangs off the
 *                conv output (GoogLeNet conv1 at 224: K 11, S 4, pads [3,3,4,4]).
 * With this K each output of the rebirth conv sees exactly the input pixels the original block's output
 * saw. `kernel: 'keep'` keeps k_conv instead (the paper's cheaper variant), centred in the covered field:
 * P = P_cover - floor((K_cover - k_conv) / 2), refused when that is negative.
 */
import type { Node } from '../ir/graph.js';
import { makeAttr } from '../ir/attributes.js';
import { floatTensor, tensorToFloat32, type Tensor } from '../ir/tensor.js';
import type { NameGen } from '../ir/topology.js';
import { composeWindows, solvePadEnd, windowOutputSize, type Window1D } from './geometry.js';
import { foldPools, xavierTensor, zeroTensor, type InitMethod, type RebirthLayer } from './init.js';
import { blockPrefix, internalValueProblem, label, moduleOf, readConv, readPool, soleConsumer, type ConvLayer, type GraphView, type PoolLayer } from './layers.js';
import { numericShape } from '../shapes/known.js';

export type KernelMode = 'cover' | 'keep';

export interface StreamlineOptions {
  /** 'cover' (default): kernel grows to the block's receptive field; 'keep': the conv's own kernel size. */
  kernel?: KernelMode;
}

/** Ops that may follow the conv inside a block. */
const CHAIN_OPS = new Set(['Relu', 'LRN', 'MaxPool', 'AveragePool', 'BatchNormalization']);
/** Ops whose removal is the point of the merge; a chain of only ReLUs is not a candidate. */
const REMOVABLE = new Set(['LRN', 'MaxPool', 'AveragePool']);

export interface StreamlineMatch {
  kind: 'streamline';
  /** Block name: the conv's Caffe prefix ('conv1' for 'conv1/7x7_s2'). Made unique by the planner. */
  name: string;
  conv: ConvLayer;
  /** The non-tensor nodes after the conv, in order. */
  chain: Node[];
  pools: PoolLayer[];
  keepRelu: boolean;
  /** The block's output value: kept by the rebirth layer, so downstream is untouched. */
  output: string;
  /** Original node names, conv first. */
  layers: string[];
  kernel: [number, number];
  strides: [number, number];
  /** ONNX order [top, left, bottom, right]. */
  pads: [number, number, number, number];
  inputShape: number[];
  outputShape: number[];
  /** With `inherit`, the rebirth conv reproduces the block exactly (only unpadded, whole-window average pools removed). */
  inheritExact: boolean;
  /** e.g. "Conv 7x7/2 + Relu + MaxPool 3x3/2 + LRN -> Conv 11x11/4 pads [3,3,4,4] + Relu". */
  description: string;
}

/**
 * Whether `conv` starts a streamline block: the match, a reason it cannot be merged, or null when no
 * pool/LRN follows it (nothing to merge, nothing worth explaining).
 */
export function matchStreamline(view: GraphView, conv: Node, options: StreamlineOptions = {}): StreamlineMatch | string | null {
  if (conv.opType !== 'Conv') return null;
  let chain: Node[] = [];
  let tail = conv.outputs[0] ?? '';
  let boundary: string | undefined;
  for (;;) {
    const readers = view.consumers.get(tail) ?? [];
    const followers = readers.filter((n) => CHAIN_OPS.has(n.opType) && n.inputs[0] === tail && (n.domain === '' || n.domain === 'ai.onnx'));
    if (followers.length === 0) break;
    const problem = internalValueProblem(view, tail);
    if (problem) {
      // Only worth explaining when the merge it blocks would have removed something.
      const leadsToRemovable = (n: Node): boolean => REMOVABLE.has(n.opType)
        || (n.opType === 'Relu' && (view.consumers.get(n.outputs[0] ?? '') ?? []).some((m) => REMOVABLE.has(m.opType)));
      if (followers.some(leadsToRemovable)) boundary = problem;
      break;
    }
    const next = followers[0] as Node;
    chain.push(next);
    tail = next.outputs[0] ?? '';
  }
  const lastRemovable = findLastIndex(chain, (n) => REMOVABLE.has(n.opType));
  if (lastRemovable < 0) {
    if (boundary) return `${label(conv)}: ${boundary}`;
    return decomposedLrn(view, tail) ? `${label(conv)}: its output goes through PyTorch's LocalResponseNorm, which torch.onnx exports as ~30 elementwise and shape ops (Mul(x, x), Pad, AveragePool, Pow, Div) instead of one ONNX LRN; a streamline block cannot absorb that` : null;
  }
  // A BatchNormalization after the last pool/LRN is simply outside the block; one before it would have
  // to be folded into the conv first (the planner folds first unless told not to; a BN that stays is
  // one fold-batchnorm refuses, e.g. in training mode: `rebirth optimize --explain` says why).
  const bnIndex = chain.findIndex((n) => n.opType === 'BatchNormalization');
  if (bnIndex >= 0 && bnIndex < lastRemovable) {
    return `${label(chain[bnIndex] as Node)} follows the conv and is not folded into it (folding was off, or fold-batchnorm refused it: \`rebirth optimize --explain\` says why)`;
  }
  if (bnIndex >= 0) chain = chain.slice(0, bnIndex);
  tail = chain[chain.length - 1]?.outputs[0] ?? tail;
  const name = blockName(conv, chain);

  const convLayer = readConv(view, conv);
  if (typeof convLayer === 'string') return convLayer;
  if (!convLayer.inputShape || !convLayer.window) return `${label(conv)}: the spatial size of its input '${convLayer.input}' is unknown (give the model a fixed input size)`;
  const pools: PoolLayer[] = [];
  for (const n of chain) {
    if (n.opType !== 'MaxPool' && n.opType !== 'AveragePool') continue;
    const p = readPool(view, n);
    if (typeof p === 'string') return p;
    pools.push(p);
  }
  const output = tail;
  const outputShape = numericShape(view.shapes, output);
  if (!outputShape || outputShape.length !== 4) return `${label(conv)}: the shape of the block output '${output}' is unknown`;
  const inputShape = convLayer.inputShape;

  const mode = options.kernel ?? 'cover';
  const kernel: [number, number] = [0, 0];
  const strides: [number, number] = [0, 0];
  const padBegin: [number, number] = [0, 0];
  const padEnd: [number, number] = [0, 0];
  for (const a of [0, 1] as const) {
    const axis = a === 0 ? 'height' : 'width';
    const chainWindows: Window1D[] = [convLayer.window[a], ...pools.map((p) => p.window[a])];
    const covered = composeWindows(chainWindows);
    let k = covered.kernel;
    let begin = covered.padBegin;
    if (mode === 'keep') {
      k = convLayer.kernel[a];
      begin = covered.padBegin - Math.floor((covered.kernel - k) / 2);
      if (begin < 0) {
        return `${label(conv)}: keeping the ${k}-tap kernel would need a negative ${axis} pad (${begin}) to stay centred on the block's receptive field; use kernel 'cover'`;
      }
    }
    const size = inputShape[a + 2] as number;
    const target = outputShape[a + 2] as number;
    const end = solvePadEnd(size, target, k, covered.stride, begin);
    if (end === undefined) {
      return `${label(conv)}: no conv geometry gives ${target} outputs from ${size} along ${axis} (kernel ${k}, stride ${covered.stride}, begin pad ${begin}: even zero end pad gives more)`;
    }
    kernel[a] = k;
    strides[a] = covered.stride;
    padBegin[a] = begin;
    padEnd[a] = end;
  }
  // The merged conv must also have the block's channels; pools and LRN keep them, so this only guards
  // against shape data that disagrees with the weights.
  if (outputShape[1] !== convLayer.outChannels) return `${label(conv)}: block output '${output}' has ${outputShape[1]} channels, the conv ${convLayer.outChannels}`;

  const inheritExact = mode === 'cover' && isExactAveraging(view, chain);
  const keepRelu = chain.some((n) => n.opType === 'Relu');
  const pads: [number, number, number, number] = [padBegin[0], padBegin[1], padEnd[0], padEnd[1]];
  const describe = (n: Node): string => {
    if (n.opType === 'MaxPool' || n.opType === 'AveragePool') {
      const p = pools.find((q) => q.node === n) as PoolLayer;
      return `${n.opType} ${p.window[0].kernel}x${p.window[1].kernel}/${p.window[0].stride}${p.window[0].ceil ? ' ceil' : ''}`;
    }
    return n.opType;
  };
  const description = `Conv ${convLayer.kernel.join('x')}/${convLayer.strides[0]} + ${chain.map(describe).join(' + ')} -> Conv ${kernel.join('x')}/${strides[0]}${strides[1] !== strides[0] ? `x${strides[1]}` : ''} pads [${pads.join(',')}]${keepRelu ? ' + Relu' : ''}`;
  return {
    kind: 'streamline', name, conv: convLayer, chain, pools, keepRelu, output,
    layers: [conv, ...chain].map((n) => n.name || n.outputs[0] || n.opType),
    kernel, strides, pads, inputShape, outputShape, inheritExact, description,
  };
}

/**
 * conv followed only by AveragePools (then ReLUs) with every window inside its input: linear and
 * shift-equivariant, so the folded kernel is exact. Pool padding or a ceil-mode partial window would
 * average over positions the rebirth conv sees as real pixels, so those are not exact.
 */
function isExactAveraging(view: GraphView, chain: readonly Node[]): boolean {
  let seenRelu = false;
  for (const n of chain) {
    if (n.opType === 'Relu') {
      seenRelu = true;
      continue;
    }
    if (n.opType !== 'AveragePool' || seenRelu) return false;
    const p = readPool(view, n);
    const inShape = numericShape(view.shapes, n.inputs[0] ?? '');
    if (typeof p === 'string' || !inShape) return false;
    for (const a of [0, 1] as const) {
      const w = p.window[a];
      if (w.padBegin !== 0 || w.padEnd !== 0) return false;
      const size = inShape[a + 2] as number;
      if (windowOutputSize(size, w) !== windowOutputSize(size, { ...w, ceil: false })) return false;
    }
  }
  return true;
}

/** The name of the block `conv` starts, as its match would have it, for refusals (which have no chain at hand). */
export function streamlineName(view: GraphView, conv: Node): string {
  const chain: Node[] = [];
  let value = conv.outputs[0] ?? '';
  for (;;) {
    const next = soleConsumer(view, value);
    if (!next || (next.opType !== 'Relu' && next.opType !== 'BatchNormalization')) break;
    chain.push(next);
    value = next.outputs[0] ?? '';
  }
  return blockName(conv, chain);
}

/**
 * The block's name: the conv's Caffe prefix ('conv1' for 'conv1/7x7_s2') or, in a torch export, its
 * module path ('features.0' for '/features/features.0/Conv'), unless the ReLU after the conv is called by
 * a module enclosing it: torchvision's BasicConv2d runs its conv, its bn, then F.relu itself
 * ('/conv1/conv/Conv', '/conv1/bn/...', '/conv1/Relu'), and 'conv1' is the name a torch user knows.
 */
function blockName(conv: Node, chain: readonly Node[]): string {
  const own = blockPrefix(conv.name || conv.outputs[0] || 'conv');
  if (!conv.name.startsWith('/')) return own;
  const firstRemovable = chain.findIndex((n) => REMOVABLE.has(n.opType));
  const relu = chain.slice(0, firstRemovable < 0 ? chain.length : firstRemovable).find((n) => n.opType === 'Relu');
  const outer = relu ? moduleOf(relu.name) : '';
  return outer && own.startsWith(`${outer}.`) ? outer : own;
}

/**
 * torch.onnx's export of F.local_response_norm starts, on its input x, with Mul(x, x) (the squares that
 * are averaged over channels) and ends with Div(x, ...): both read x directly.
 */
function decomposedLrn(view: GraphView, value: string): boolean {
  const readers = view.consumers.get(value) ?? [];
  return readers.some((n) => n.opType === 'Mul' && n.inputs[0] === value && n.inputs[1] === value)
    && readers.some((n) => n.opType === 'Div' && n.inputs[0] === value);
}

function findLastIndex<T>(items: readonly T[], pred: (t: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (pred(items[i] as T)) return i;
  return -1;
}

export interface BuildContext {
  names: NameGen;
  initializers: ReadonlyMap<string, Tensor>;
  init: InitMethod;
  seed: number;
}

export interface BuiltMerge {
  /** Replacement nodes, in order, to stand where the block's first node stood. */
  nodes: Node[];
  initializers: Tensor[];
  layers: RebirthLayer[];
}

/** The rebirth conv (+ ReLU) that replaces a matched block. Output value and shape are the block's. */
export function buildStreamline(match: StreamlineMatch, ctx: BuildContext): BuiltMerge {
  const { conv } = match;
  const convName = match.conv.node.name;
  const prefix = convName.startsWith('/') ? match.name : convName.includes('/') ? blockPrefix(convName) : convName || match.name;
  const nodeName = ctx.names.fresh(`${prefix}/rebirth_${match.kernel.join('x')}_s${match.strides[0]}`);
  const wName = ctx.names.fresh(`${nodeName}_w`);
  const bName = ctx.names.fresh(`${nodeName}_b`);
  const dims = [conv.outChannels, conv.inPerGroup, match.kernel[0], match.kernel[1]];

  let weight: Tensor;
  let bias: Tensor;
  let exactness: RebirthLayer['exactness'];
  let note: string;
  if (ctx.init === 'xavier') {
    weight = xavierTensor(wName, dims, ctx.seed);
    bias = zeroTensor(bName, [conv.outChannels]);
    exactness = 'random';
    note = 'Xavier (Glorot uniform) weights, zero bias';
  } else {
    const old = ctx.initializers.get(conv.weight) as Tensor;
    const oldKernel = { data: tensorToFloat32(old), dims: [conv.outChannels, conv.inPerGroup, conv.kernel[0], conv.kernel[1]] as [number, number, number, number] };
    let folded = oldKernel;
    if (match.kernel[0] !== conv.kernel[0] || match.kernel[1] !== conv.kernel[1]) {
      const scales = composeScales(match);
      folded = foldPools(oldKernel, match.pools.map((p, j) => ({
        kind: p.kind, kernel: [p.window[0].kernel, p.window[1].kernel], scale: scales[j] as [number, number],
      })));
    }
    weight = floatTensor(wName, dims, folded.data);
    const oldBias = conv.bias ? ctx.initializers.get(conv.bias) : undefined;
    bias = oldBias ? floatTensor(bName, [conv.outChannels], tensorToFloat32(oldBias)) : zeroTensor(bName, [conv.outChannels]);
    const dropped = match.chain.filter((n) => REMOVABLE.has(n.opType)).map((n) => n.opType);
    if (match.inheritExact) {
      exactness = 'exact';
      note = 'conv kernel convolved with the average pools\' box filters: exact';
    } else {
      exactness = 'approximate';
      const parts: string[] = [];
      if (match.kernel[0] === conv.kernel[0] && match.kernel[1] === conv.kernel[1]) parts.push('original kernel kept as is (pooling not folded)');
      else {
        if (dropped.includes('MaxPool')) parts.push('max pool approximated by its centre tap');
        if (dropped.includes('AveragePool')) parts.push('average pool folded as a box filter');
      }
      if (dropped.includes('LRN')) parts.push('LRN dropped');
      if (match.chain.some((n, i) => n.opType === 'Relu' && match.chain.slice(i + 1).some((m) => REMOVABLE.has(m.opType)))) parts.push('ReLU moved after the pooling');
      note = `inherited from ${conv.node.name}: ${parts.join('; ')}`;
    }
  }
  const convOut = match.keepRelu ? ctx.names.fresh(`${nodeName}_out`) : match.output;
  const attrs = [
    makeAttr('kernel_shape', [...match.kernel]),
    makeAttr('strides', [...match.strides]),
    makeAttr('pads', [...match.pads]),
    ...(conv.group !== 1 ? [makeAttr('group', conv.group)] : []),
  ];
  const nodes: Node[] = [{
    name: nodeName, opType: 'Conv', domain: '', inputs: [conv.input, wName, bName], outputs: [convOut], attributes: attrs,
    docString: `rebirth streamline merge of ${match.layers.join(', ')}`,
  }];
  if (match.keepRelu) {
    nodes.push({ name: ctx.names.fresh(`${prefix}/rebirth_relu`), opType: 'Relu', domain: '', inputs: [convOut], outputs: [match.output], attributes: [], docString: '' });
  }
  return {
    nodes,
    initializers: [weight, bias],
    layers: [{ block: match.name, kind: 'streamline', node: nodeName, params: [wName, bName], target: match.output, init: ctx.init, exactness, note }],
  };
}

/** Per pool, the stride product before it along [h, w] (the spacing of its taps in input pixels). */
function composeScales(match: StreamlineMatch): Array<[number, number]> {
  const h = composeWindows([match.conv.window?.[0] as Window1D, ...match.pools.map((p) => p.window[0])]).scales.slice(1);
  const w = composeWindows([match.conv.window?.[1] as Window1D, ...match.pools.map((p) => p.window[1])]).scales.slice(1);
  return h.map((sh, j) => [sh, w[j] as number]);
}

/**
 * Branch (horizontal) merging of Inception modules, DeepRebirth section "Branch Merging". A module is a
 * channel Concat of four branches reading one input X:
 *   plain  X -> 1x1 conv -> ReLU                          (inception_3a: 64)
 *   small  X -> 1x1 reduce -> ReLU -> 3x3 conv -> ReLU    (96 -> 128)
 *   large  X -> 1x1 reduce -> ReLU -> 5x5 conv -> ReLU    (16 -> 32)
 *   pool   X -> 3x3/1 max pool -> 1x1 pool_proj -> ReLU   (32)
 * and becomes two:
 *   X -> thinned 1x1 reduce (96 * reducerRatio = 48) -> ReLU -> 3x3 conv with 64 + 128 = 192 outputs -> ReLU
 *   X -> 1x1 reduce (16, thinned by reducer5Ratio, default 1: the paper thins only the 3x3 reducer)
 *        -> ReLU -> 5x5 conv with 32 + 32 = 64 outputs -> ReLU
 * so the Concat width (256) and its channel order are unchanged: the widened 3x3 emits its parts in the
 * Concat order of the two branches it replaces ([1x1-part, 3x3-part] for Caffe's [1x1, 3x3, 5x5,
 * pool_proj]), the widened 5x5 likewise ([5x5-part, pool-part]), and the new Concat lists the two wide
 * convs in the order of the pairs. Merged pairs must therefore be adjacent in the Concat.
 *
 * With two reduce branches of the same kernel (torchvision's GoogLeNet, whose "5x5" branch is a 3x3), the
 * pairing is chosen by the FLOPs of the merged module among those that keep the Concat order (matchInception).
 *
 * Layout 'carry' (not in the paper) instead lets each reducer carry the branch merged into its path:
 * reduce3 gets the 1x1 conv's filters as extra outputs, reduce5 gets pool_proj's, and the wide convs pass
 * them through with an identity centre tap. The widened convs then still see everything the replaced
 * branches saw (except the max pool), which makes `inherit` exact for the 1x1 part; it costs more FLOPs
 * than the paper's layout (inception_3a's 3x3 conv reads 64 + 48 channels instead of 48).
 */
import type { Node } from '../ir/graph.js';
import { getInt, makeAttr } from '../ir/attributes.js';
import { floatTensor, tensorToFloat32, type Tensor } from '../ir/tensor.js';
import { RebirthError } from '../errors.js';
import { matrixOf, projectThrough, selectRows, topChannelsByNorm, xavierTensor, zeroTensor, type Exactness, type RebirthLayer } from './init.js';
import { blockPrefix, internalValueProblem, label, localName, readConv, readPool, type ConvLayer, type GraphView } from './layers.js';
import { numericShape } from '../shapes/known.js';
import { formatNumber } from '../util/format.js';
import type { BuildContext, BuiltMerge } from './streamline.js';

export type BranchLayout = 'paper' | 'carry';

export interface BranchOptions {
  /** Fraction kept of the reducer whose branch absorbs the 1x1 branch (BVLC's 3x3). Default 0.5 (inception_3a: 96 -> 48). */
  reducerRatio?: number;
  /** Fraction kept of the reducer whose branch absorbs the pool branch (BVLC's 5x5). Default 1: the paper does not thin it. */
  reducer5Ratio?: number;
  /** Default 'paper'. */
  layout?: BranchLayout;
}

interface Branch {
  kind: 'plain' | 'reduce' | 'pool';
  /** Position among the Concat's inputs. */
  position: number;
  /** The branch output (a Concat input). */
  output: string;
  conv: ConvLayer;
  relu?: Node;
  reducer?: ConvLayer;
  reducerRelu?: Node;
  pool?: Node;
  /** Every node of the branch, input side first. */
  nodes: Node[];
}

export interface BranchMatch {
  kind: 'branch';
  /** Module name: the Concat's Caffe prefix ('inception_3a' for 'inception_3a/output'). */
  name: string;
  concat: Node;
  /** The module input X. */
  input: string;
  plain: Branch;
  /** The reduce branch the plain branch merges into: the smaller kernel (BVLC's 3x3), or chosen by cost when both kernels are equal. */
  small: Branch;
  /** The reduce branch the pool branch merges into (BVLC's 5x5). */
  large: Branch;
  pool: Branch;
  /** Reducer widths after thinning. */
  smallReduced: number;
  largeReduced: number;
  layout: BranchLayout;
  /** Original node names, module order. */
  layers: string[];
  /** e.g. "4 branches -> 2: 3x3 (96->48 reduce) 128 -> 192 (+1x1), 5x5 (16 reduce) 32 -> 64 (+pool_proj)". */
  description: string;
}

interface Traced {
  output: string;
  conv: Node;
  relu?: Node;
  /** The conv's input. */
  convInput: string;
  via?: { node: Node; relu?: Node; root: string; kind: 'pool' | 'reducer' };
}

function trace(view: GraphView, value: string): Traced | undefined {
  let n = view.producers.get(value);
  let relu: Node | undefined;
  if (n?.opType === 'Relu') {
    relu = n;
    n = view.producers.get(n.inputs[0] ?? '');
  }
  if (n?.opType !== 'Conv') return undefined;
  const conv = n;
  const convInput = conv.inputs[0] ?? '';
  let p = view.producers.get(convInput);
  const base: Traced = { output: value, conv, ...(relu ? { relu } : {}), convInput };
  if (p?.opType === 'MaxPool' || p?.opType === 'AveragePool') return { ...base, via: { node: p, root: p.inputs[0] ?? '', kind: 'pool' } };
  let reducerRelu: Node | undefined;
  if (p?.opType === 'Relu') {
    reducerRelu = p;
    p = view.producers.get(p.inputs[0] ?? '');
  }
  if (p?.opType === 'Conv') return { ...base, via: { node: p, ...(reducerRelu ? { relu: reducerRelu } : {}), root: p.inputs[0] ?? '', kind: 'reducer' } };
  return base;
}

/**
 * Whether `concat` closes an Inception module that can be branch-merged: the match, a reason it cannot,
 * or null when it does not look like a module at all (fewer than two branches share an input).
 */
export function matchInception(view: GraphView, concat: Node, options: BranchOptions = {}): BranchMatch | string | null {
  if (concat.opType !== 'Concat' || concat.inputs.length < 2) return null;
  const traced = concat.inputs.map((v) => trace(view, v));
  const roots = new Map<string, number>();
  for (const t of traced) {
    if (!t) continue;
    for (const r of new Set([t.convInput, t.via?.root ?? ''])) if (r) roots.set(r, (roots.get(r) ?? 0) + 1);
  }
  let input = '';
  let shared = 0;
  for (const [r, count] of roots) {
    if (count > shared) {
      input = r;
      shared = count;
    }
  }
  if (shared < 2) return null;
  const name = blockPrefix(concat.name || concat.outputs[0] || 'concat');
  const where = `${label(concat)}`;
  if (concat.inputs.length !== 4 || shared !== 4) {
    return `${where}: expected 4 branches reading one input (1x1; reduce->kxk; reduce->kxk; pool->1x1), found ${concat.inputs.length} inputs of which ${shared} read '${input}'`;
  }
  const rank = view.shapes.get(concat.outputs[0] ?? '')?.length ?? 4;
  const axis = getInt(concat, 'axis', 1);
  if (axis !== 1 && axis !== 1 - rank) return `${where}: concatenates on axis ${axis}, not channels`;

  const branches: Branch[] = [];
  for (let position = 0; position < 4; position++) {
    const t = traced[position] as Traced;
    const conv = readConv(view, t.conv);
    if (typeof conv === 'string') return conv;
    const common = { position, output: t.output, conv, ...(t.relu ? { relu: t.relu } : {}) };
    const tail = [t.conv, ...(t.relu ? [t.relu] : [])];
    if (t.convInput === input) {
      branches.push({ kind: 'plain', ...common, nodes: tail });
    } else if (t.via?.kind === 'pool' && t.via.root === input) {
      branches.push({ kind: 'pool', ...common, pool: t.via.node, nodes: [t.via.node, ...tail] });
    } else if (t.via?.kind === 'reducer' && t.via.root === input) {
      const reducer = readConv(view, t.via.node);
      if (typeof reducer === 'string') return reducer;
      const reducerNodes = [t.via.node, ...(t.via.relu ? [t.via.relu] : [])];
      branches.push({ kind: 'reduce', ...common, reducer, ...(t.via.relu ? { reducerRelu: t.via.relu } : {}), nodes: [...reducerNodes, ...tail] });
    } else {
      return `${where}: input ${position} ('${t.output}') does not reach '${input}' through a 1x1 conv, a reducer or a pool`;
    }
  }
  const plain = branches.filter((b) => b.kind === 'plain');
  const reduce = branches.filter((b) => b.kind === 'reduce');
  const pool = branches.filter((b) => b.kind === 'pool');
  if (plain.length !== 1 || reduce.length !== 2 || pool.length !== 1) {
    return `${where}: branch kinds are ${branches.map((b) => b.kind).join(', ')}; expected one plain 1x1, two reduce->kxk and one pool->1x1`;
  }
  const [p, q] = [plain[0] as Branch, pool[0] as Branch];
  for (const b of branches) {
    const problem = sameSizeProblem(b.conv) ?? (b.reducer ? sameSizeProblem(b.reducer) : undefined);
    if (problem) return problem;
    if (b.kind !== 'reduce' && (b.conv.kernel[0] !== 1 || b.conv.kernel[1] !== 1)) return `${label(b.conv.node)}: a ${b.kind} branch conv must be 1x1`;
    if (b.kind === 'reduce' && b.conv.kernel[0] !== b.conv.kernel[1]) return `${label(b.conv.node)}: only square kernels are widened (${b.conv.kernel.join('x')})`;
    if (b.reducer && (b.reducer.kernel[0] !== 1 || b.reducer.kernel[1] !== 1)) return `${label(b.reducer.node)}: a reducer must be 1x1`;
    if (b.pool) {
      const pl = readPool(view, b.pool);
      if (typeof pl === 'string') return pl;
      const ok = pl.window.every((w) => w.stride === 1 && w.kernel % 2 === 1 && w.padBegin === (w.kernel - 1) / 2 && w.padEnd === w.padBegin);
      if (!ok) return `${label(b.pool)}: the pool branch must keep the spatial size (odd kernel, stride 1, pads (k-1)/2)`;
    }
    for (const n of b.nodes) {
      for (const o of n.outputs.filter((x) => x)) {
        const problem2 = internalValueProblem(view, o);
        if (problem2) return `${where}: ${problem2}`;
      }
    }
  }
  const reducerRatio = options.reducerRatio ?? 0.5;
  const reducer5Ratio = options.reducer5Ratio ?? 1;
  const layout = options.layout ?? 'paper';

  // Which reduce branch absorbs the 1x1 branch (the other takes the pool branch). The paper's rule: the
  // smaller kernel (BVLC's 3x3) takes the 1x1, the larger (5x5) the pool. torchvision's GoogLeNet has two
  // 3x3 branches (its "5x5" is a 3x3): then both pairings are costed (conv FLOPs of the merged module) and
  // the cheaper of those that keep the Concat's channel order is taken. A wide conv writes its two parts
  // as one run of channels, so each pair must be adjacent in the Concat; of four inputs only {0,1} + {2,3}
  // qualifies, so for a 4-input module the Concat order settles it, and the description says what the
  // other pairing would have cost.
  const [r1, r2] = [reduce[0] as Branch, reduce[1] as Branch];
  const sameKernel = r1.conv.kernel[0] === r2.conv.kernel[0];
  const pairings: Array<[Branch, Branch]> = sameKernel ? [[r1, r2], [r2, r1]] : [r1.conv.kernel[0] < r2.conv.kernel[0] ? [r1, r2] : [r2, r1]];
  const adjacent = pairings.filter(([a, b]) => Math.abs(p.position - a.position) === 1 && Math.abs(b.position - q.position) === 1);
  if (adjacent.length === 0) {
    const [a, b] = pairings[0] as [Branch, Branch];
    return sameKernel
      ? `${where}: the 1x1 and pool branches must each sit next to one of the two ${kxk(a)} branches in the Concat, or the merged channel order would change`
      : `${where}: the 1x1 branch must sit next to the ${kxk(a)} branch and the pool branch next to the ${kxk(b)} branch in the Concat, or the merged channel order would change`;
  }
  const consistent = adjacent.filter(([a, b]) => Boolean(p.relu) === Boolean(a.relu) && Boolean(b.relu) === Boolean(q.relu));
  if (consistent.length === 0) return `${where}: merged branches must both end in a ReLU or both not`;
  const xShape = numericShape(view.shapes, input);
  const positions = xShape && xShape.length === 4 ? (xShape[2] as number) * (xShape[3] as number) : undefined;
  const costed = pairings.map((pair) => ({ pair, flops: pairingFlops(pair, p, q, { reducerRatio, reducer5Ratio, layout }) * (positions ?? 1) }));
  const best = costed.filter((c) => consistent.includes(c.pair)).reduce((a, b) => (b.flops < a.flops ? b : a));
  const [small, large] = best.pair;
  const smallIn = (small.reducer as ConvLayer).outChannels;
  const largeIn = (large.reducer as ConvLayer).outChannels;
  const smallReduced = thinned(smallIn, reducerRatio);
  const largeReduced = thinned(largeIn, reducer5Ratio);
  const name3 = sameKernel ? `${branchLabel(small, name)} ${kxk(small)}` : kxk(small);
  const name5 = sameKernel ? `${branchLabel(large, name)} ${kxk(large)}` : kxk(large);
  let description = `4 branches -> 2 (${layout}): ${name3} (reduce ${smallIn}->${layout === 'carry' ? `${p.conv.outChannels}+` : ''}${smallReduced}) ${small.conv.outChannels} -> ${small.conv.outChannels + p.conv.outChannels} (+1x1), `
    + `${name5} (reduce ${largeIn}->${layout === 'carry' ? `${q.conv.outChannels}+` : ''}${largeReduced}) ${large.conv.outChannels} -> ${large.conv.outChannels + q.conv.outChannels} (+pool_proj)`;
  if (sameKernel) {
    const other = costed.find((c) => c !== best) as { pair: [Branch, Branch]; flops: number };
    const unit = positions === undefined ? ' per position' : '';
    const f = (x: number): string => `${formatNumber(x / 1e6, 3)} MFLOPs${unit}`;
    const why = consistent.includes(other.pair)
      ? `the cheaper pairing (${f(best.flops)}; into ${branchLabel(large, name)}: ${f(other.flops)})`
      : `the only pairing that keeps the Concat order (${f(best.flops)}; into ${branchLabel(large, name)}: ${f(other.flops)})`;
    description += `; 1x1 into ${branchLabel(small, name)}: ${why}`;
  }
  const layers = [...branches].sort((a, b) => a.position - b.position).flatMap((b) => b.nodes).map((n) => n.name || n.outputs[0] || n.opType);
  layers.push(concat.name || concat.outputs[0] || 'Concat');
  return { kind: 'branch', name, concat, input, plain: p, small, large, pool: q, smallReduced, largeReduced, layout, layers, description };
}

function kxk(b: Branch): string {
  return `${b.conv.kernel[0]}x${b.conv.kernel[1]}`;
}

function thinned(channels: number, ratio: number): number {
  return Math.max(1, Math.round(channels * ratio));
}

/**
 * A reduce branch as a user knows it: the Caffe suffix of its kxk conv ('3x3'), or the first module below
 * the block in a torch export ('branch2' for 'inception3a.branch2.1.conv').
 */
function branchLabel(b: Branch, block: string): string {
  const local = localName(b.conv.node, block);
  return b.conv.node.name.startsWith('/') ? local.split('.')[0] ?? local : local;
}

/**
 * Conv FLOPs per output position of the merged module for one pairing ([absorbs the 1x1, absorbs the
 * pool]), multiply-add = 2 as in src/ops: each new reducer reads X (cx channels), each wide conv reads
 * its reducer's kept channels (plus the carried 1x1 filters in the 'carry' layout) and writes both
 * parts. The kept 5x5-side reducer of the paper layout counts too: it is part of the module either way.
 */
function pairingFlops([a, b]: [Branch, Branch], plain: Branch, pool: Branch, o: { reducerRatio: number; reducer5Ratio: number; layout: BranchLayout }): number {
  const carry = o.layout === 'carry';
  const cx = (a.reducer as ConvLayer).inPerGroup;
  const side = (host: Branch, merged: Branch, ratio: number): number => {
    const kept = thinned((host.reducer as ConvLayer).outChannels, ratio);
    const reducerOut = kept + (carry ? merged.conv.outChannels : 0);
    const k = host.conv.kernel[0] * host.conv.kernel[1];
    return cx * reducerOut + reducerOut * (host.conv.outChannels + merged.conv.outChannels) * k;
  };
  return 2 * (side(a, plain, o.reducerRatio) + side(b, pool, o.reducer5Ratio));
}

/** Stride 1, group 1, symmetric (k-1)/2 pads: the conv keeps the spatial size, so branches can be widened. */
function sameSizeProblem(conv: ConvLayer): string | undefined {
  if (conv.group !== 1) return `${label(conv.node)}: grouped convs are not branch-merged`;
  if (!conv.window) return `${label(conv.node)}: its padding depends on an unknown input size`;
  const ok = conv.window.every((w) => w.stride === 1 && w.kernel % 2 === 1 && w.padBegin === (w.kernel - 1) / 2 && w.padEnd === w.padBegin);
  return ok ? undefined : `${label(conv.node)}: must keep the spatial size (odd kernel, stride 1, pads (k-1)/2) to be branch-merged`;
}

/** One widened conv being assembled: [out, in, k, k] weight, bias, and what went into it. */
class WideConv {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
  constructor(readonly outChannels: number, readonly inChannels: number, readonly k: number) {
    this.weight = new Float32Array(outChannels * inChannels * k * k);
    this.bias = new Float32Array(outChannels);
  }
  /** Copy a [rows, srcIn, k, k] kernel into rows [rowOffset, ...), input channels inputs[c] (ascending). */
  placeKernel(rowOffset: number, src: Float32Array, rows: number, srcIn: number, inputs: readonly number[], inOffset: number): void {
    const kk = this.k * this.k;
    for (let o = 0; o < rows; o++) {
      inputs.forEach((c, j) => {
        const from = (o * srcIn + c) * kk;
        const to = ((rowOffset + o) * this.inChannels + inOffset + j) * kk;
        this.weight.set(src.subarray(from, from + kk), to);
      });
    }
  }
  /** Put a [rows, cols] matrix in the centre tap: output rowOffset+i reads input inOffset+j with weight m[i, j]. */
  placeCentre(rowOffset: number, m: ArrayLike<number>, rows: number, cols: number, inOffset: number): void {
    const kk = this.k * this.k;
    const centre = Math.floor(kk / 2);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) this.weight[((rowOffset + i) * this.inChannels + inOffset + j) * kk + centre] = m[i * cols + j] as number;
  }
}

function floats(ctx: BuildContext, name: string | undefined, size: number): Float32Array {
  if (!name) return new Float32Array(size);
  const t = ctx.initializers.get(name);
  if (!t) throw new RebirthError(`initializer '${name}' disappeared while merging; this is a bug in src/merge`);
  return tensorToFloat32(t);
}

const ALL = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The two-branch replacement of a matched module; the returned nodes end with the new Concat. */
export function buildBranch(match: BranchMatch, ctx: BuildContext): BuiltMerge {
  const { plain, small, large, pool, layout } = match;
  const smallReducer = small.reducer as ConvLayer;
  const largeReducer = large.reducer as ConvLayer;
  const cx = smallReducer.inPerGroup;
  const c1 = plain.conv.outChannels;
  const cp = pool.conv.outChannels;
  const r5 = largeReducer.outChannels;
  const r3t = match.smallReduced;
  const r5t = match.largeReduced;
  const carry = layout === 'carry';
  const inherit = ctx.init === 'inherit';
  const prefix = match.name;
  const suffix = (n: Node): string => localName(n, prefix);
  const fresh = (base: string): string => ctx.names.fresh(`${prefix}/rebirth_${base}`);

  const nodes: Node[] = [];
  const initializers: Tensor[] = [];
  const layers: RebirthLayer[] = [];
  const target = match.concat.outputs[0] ?? '';
  const convNode = (name: string, input: string, w: string, b: string, k: number, output: string): Node => ({
    name, opType: 'Conv', domain: '', inputs: [input, w, b], outputs: [output], docString: `rebirth branch merge of ${prefix}`,
    attributes: [makeAttr('kernel_shape', [k, k]), makeAttr('strides', [1, 1]), makeAttr('pads', [(k - 1) / 2, (k - 1) / 2, (k - 1) / 2, (k - 1) / 2])],
  });
  const reluNode = (name: string, input: string, output: string): Node => ({ name, opType: 'Relu', domain: '', inputs: [input], outputs: [output], attributes: [], docString: '' });
  const addLayer = (node: string, params: string[], exactness: Exactness, note: string): void => {
    layers.push({ block: match.name, kind: 'branch', node, params, target, init: ctx.init, exactness: ctx.init === 'xavier' ? 'random' : exactness, note: ctx.init === 'xavier' ? 'Xavier (Glorot uniform) weights, zero bias' : note });
  };

  /**
   * A new 1x1 reducer reading X: `carried` filters first (another branch's 1x1 conv, carry layout), then
   * the kept channels of the original reducer. Returns the value the wide conv reads.
   */
  const reducer = (orig: ConvLayer, origRelu: Node | undefined, keep: number[], carried: ConvLayer | undefined): string => {
    const name = fresh(suffix(orig.node));
    const w = ctx.names.fresh(`${name}_w`);
    const b = ctx.names.fresh(`${name}_b`);
    const outs = keep.length + (carried?.outChannels ?? 0);
    const dims = [outs, cx, 1, 1];
    if (inherit) {
      const data = new Float32Array(outs * cx);
      const bias = new Float32Array(outs);
      let row = 0;
      if (carried) {
        data.set(floats(ctx, carried.weight, carried.outChannels * cx), 0);
        bias.set(floats(ctx, carried.bias, carried.outChannels), 0);
        row = carried.outChannels;
      }
      data.set(selectRows(floats(ctx, orig.weight, orig.outChannels * cx), orig.outChannels, keep), row * cx);
      bias.set(selectRows(floats(ctx, orig.bias, orig.outChannels), orig.outChannels, keep), row);
      initializers.push(floatTensor(w, dims, data), floatTensor(b, [outs], bias));
    } else {
      initializers.push(xavierTensor(w, dims, ctx.seed), zeroTensor(b, [outs]));
    }
    const thinned = keep.length < orig.outChannels;
    const parts = [
      ...(carried ? [`carries ${carried.node.name}'s ${carried.outChannels} filters`] : []),
      thinned ? `keeps ${keep.length} of ${orig.outChannels} filters of ${orig.node.name} (largest L2 norm)` : `copies ${orig.node.name}`,
    ];
    addLayer(name, [w, b], thinned ? 'partial' : 'exact', `reducer: ${parts.join('; ')}`);
    const convOut = ctx.names.fresh(`${name}_out`);
    nodes.push(convNode(name, match.input, w, b, 1, convOut));
    if (!origRelu) return convOut;
    const reluOut = ctx.names.fresh(`${name}_relu_out`);
    nodes.push(reluNode(fresh(suffix(origRelu)), convOut, reluOut));
    return reluOut;
  };

  /**
   * The wide conv for one pair: `merged` (1x1 or pool_proj, a 1x1 conv) joins `branch` (reduce -> kxk).
   * Output parts follow the Concat order of the two branches.
   */
  const wide = (branch: Branch, merged: Branch, input: string, inChannels: number, keep: number[]): string => {
    const k = branch.conv.kernel[0];
    const base = suffix(branch.conv.node);
    const name = fresh(base);
    const w = ctx.names.fresh(`${name}_w`);
    const b = ctx.names.fresh(`${name}_b`);
    const cm = merged.conv.outChannels;
    const cb = branch.conv.outChannels;
    const outs = cm + cb;
    const mergedFirst = merged.position < branch.position;
    const mergedRow = mergedFirst ? 0 : cb;
    const branchRow = mergedFirst ? cm : 0;
    const reducerIn = (branch.reducer as ConvLayer).outChannels;
    let exactness: Exactness = 'partial';
    let note: string;
    if (inherit) {
      const wc = new WideConv(outs, inChannels, k);
      // The kxk part: the original kernel on the kept reducer channels (after any carried ones).
      const carriedIn = carry ? cm : 0;
      wc.placeKernel(branchRow, floats(ctx, branch.conv.weight, cb * reducerIn * k * k), cb, reducerIn, keep, carriedIn);
      wc.bias.set(floats(ctx, branch.conv.bias, cb), branchRow);
      const mergedBias = floats(ctx, merged.conv.bias, cm);
      const pooled = merged.kind === 'pool' ? `, ${merged.pool?.opType ?? 'pool'} replaced by identity` : '';
      const kxkPart = keep.length === reducerIn ? `${base} part exact` : `${base} part on ${keep.length} of ${reducerIn} reducer channels`;
      if (carry) {
        // Identity centre tap from the carried channels: relu(1 * relu(z) + 0) = relu(z).
        wc.placeCentre(mergedRow, identityMatrix(cm), cm, cm, 0);
        const exactCarry = (Boolean(merged.relu) || !branch.reducerRelu) && merged.kind === 'plain';
        const exactKxk = keep.length === reducerIn;
        exactness = exactCarry && exactKxk ? 'exact' : exactCarry || exactKxk ? 'partial' : 'approximate';
        note = `${suffix(merged.conv.node)} part passed through from the reducer by an identity centre tap${exactCarry ? ' (exact)' : pooled}; ${kxkPart}`;
      } else {
        // Express merged(x) = Wm x + bm through the kept reducer outputs r = R x + br (ReLU ignored):
        // Wm x ~ A R x, so the centre tap is A and the bias bm - A br.
        const red = branch.reducer as ConvLayer;
        const keptR = selectRows(floats(ctx, red.weight, red.outChannels * cx), red.outChannels, keep);
        const keptB = selectRows(floats(ctx, red.bias, red.outChannels), red.outChannels, keep);
        const a = projectThrough(matrixOf(cm, cx, floats(ctx, merged.conv.weight, cm * cx)), matrixOf(keep.length, cx, keptR));
        wc.placeCentre(mergedRow, a.data, cm, keep.length, 0);
        for (let i = 0; i < cm; i++) {
          let s = mergedBias[i] as number;
          for (let j = 0; j < keep.length; j++) s -= (a.data[i * keep.length + j] as number) * (keptB[j] as number);
          mergedBias[i] = s;
        }
        exactness = keep.length === reducerIn ? 'partial' : 'approximate';
        note = `${suffix(merged.conv.node)} part: its 1x1 weights least-squares projected onto the reducer's filters, in the centre tap (approximate: ignores the reducer's ReLU${pooled}); ${kxkPart}`;
      }
      wc.bias.set(carry ? new Float32Array(cm) : mergedBias, mergedRow);
      initializers.push(floatTensor(w, [outs, inChannels, k, k], wc.weight), floatTensor(b, [outs], wc.bias));
    } else {
      note = '';
      const dims = [outs, inChannels, k, k];
      initializers.push(xavierTensor(w, dims, ctx.seed), zeroTensor(b, [outs]));
    }
    addLayer(name, [w, b], exactness, note);
    const convOut = ctx.names.fresh(`${name}_out`);
    nodes.push(convNode(name, input, w, b, k, convOut));
    if (!branch.relu) return convOut;
    const reluOut = ctx.names.fresh(`${name}_relu_out`);
    nodes.push(reluNode(fresh(suffix(branch.relu)), convOut, reluOut));
    return reluOut;
  };

  const keepOf = (red: ConvLayer, count: number): number[] =>
    count >= red.outChannels ? ALL(red.outChannels) : inherit ? topChannelsByNorm(floats(ctx, red.weight, red.outChannels * cx), red.outChannels, count) : ALL(count);
  const keep3 = keepOf(smallReducer, r3t);
  const keep5 = keepOf(largeReducer, r5t);

  const in3 = reducer(smallReducer, small.reducerRelu, keep3, carry ? plain.conv : undefined);
  const out3 = wide(small, plain, in3, (carry ? c1 : 0) + r3t, keep3);
  let in5: string;
  if (!carry && r5t === r5) {
    // The paper keeps the 5x5 reducer: the widened 5x5 reads its (unchanged) output.
    in5 = (large.reducerRelu ?? largeReducer.node).outputs[0] ?? '';
  } else {
    in5 = reducer(largeReducer, large.reducerRelu, keep5, carry ? pool.conv : undefined);
  }
  const out5 = wide(large, pool, in5, (carry ? cp : 0) + r5t, keep5);
  const smallFirst = Math.min(plain.position, small.position) < Math.min(large.position, pool.position);
  nodes.push({ ...match.concat, inputs: smallFirst ? [out3, out5] : [out5, out3], outputs: [...match.concat.outputs], attributes: [...match.concat.attributes] });
  return { nodes, initializers, layers };
}

function identityMatrix(n: number): Float64Array {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
}

/** The nodes a branch merge removes (the kept 5x5 reducer of the paper layout stays). */
export function removedByBranch(match: BranchMatch): Node[] {
  const keepLargeReducer = match.layout === 'paper' && match.largeReduced === (match.large.reducer as ConvLayer).outChannels;
  const kept = new Set<Node>(keepLargeReducer ? [(match.large.reducer as ConvLayer).node, ...(match.large.reducerRelu ? [match.large.reducerRelu] : [])] : []);
  return [match.plain, match.small, match.large, match.pool].flatMap((b) => b.nodes).filter((n) => !kept.has(n)).concat([match.concat]);
}

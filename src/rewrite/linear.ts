// What the folding rules share about linear producers (Conv, ConvTranspose, Gemm): their geometry, and
// how a per-output-channel affine map y' = scale * y + shift is pushed into their weights and bias.
import type { Node } from '../ir/graph.js';
import { numel } from '../ir/tensor.js';
import type { RewriteContext } from './engine.js';
import { float32Tensor, floatConstant, label, type Attrs } from './guards.js';

export interface ConvGeometry {
  /** Spatial kernel extent (from the weight's dims, checked against kernel_shape). */
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** ONNX layout: all begins, then all ends. */
  pads: number[];
  group: number;
  autoPad: string;
}

/** Geometry of a Conv / ConvTranspose with defaults applied; auto_pad VALID is turned into zero pads. */
export function convGeometry(node: Node, attrs: Attrs, weightDims: readonly number[]): ConvGeometry | string {
  const s = weightDims.length - 2;
  if (s < 1) return `${label(node)}: weight has rank ${weightDims.length}, expected at least 3`;
  const kernel = weightDims.slice(2);
  const ks = attrs.ints('kernel_shape');
  if (ks && (ks.length !== s || ks.some((k, i) => k !== kernel[i]))) {
    return `${label(node)}: kernel_shape [${ks.join(',')}] disagrees with the weight's spatial dims [${kernel.join(',')}]`;
  }
  const strides = attrs.ints('strides') ?? new Array<number>(s).fill(1);
  const dilations = attrs.ints('dilations') ?? new Array<number>(s).fill(1);
  let autoPad = attrs.string('auto_pad');
  let pads = attrs.ints('pads') ?? new Array<number>(2 * s).fill(0);
  if (autoPad === 'VALID') {
    pads = new Array<number>(2 * s).fill(0);
    autoPad = 'NOTSET';
  }
  if (!['NOTSET', 'SAME_UPPER', 'SAME_LOWER'].includes(autoPad)) return `${label(node)}: unknown auto_pad '${autoPad}'`;
  if (strides.length !== s || dilations.length !== s || pads.length !== 2 * s) {
    return `${label(node)}: strides/dilations/pads lengths do not match ${s} spatial dims`;
  }
  return { kernel, strides, dilations, pads, group: attrs.int('group'), autoPad };
}

/** One output position per pixel: the number of output elements of a conv on a known input (or undefined). */
export function convOutputSpatial(input: readonly (number | string | null)[] | undefined, g: ConvGeometry): number[] | undefined {
  if (!input || input.length !== g.kernel.length + 2) return undefined;
  const out: number[] = [];
  for (let i = 0; i < g.kernel.length; i++) {
    const d = input[i + 2];
    if (typeof d !== 'number' || g.autoPad !== 'NOTSET') return undefined;
    const span = (g.dilations[i] as number) * ((g.kernel[i] as number) - 1) + 1;
    const padded = d + (g.pads[i] as number) + (g.pads[i + g.kernel.length] as number);
    out.push(Math.floor((padded - span) / (g.strides[i] as number)) + 1);
  }
  return out;
}

/** A Conv / ConvTranspose / Gemm whose weights can absorb a per-output-channel affine map. */
export interface AffineTarget {
  node: Node;
  /** Output channels: axis 1 of the output. */
  channels: number;
  /** Rank of the output (where a per-channel constant broadcasts). */
  outputRank: number;
  weight: Float64Array;
  weightDims: number[];
  bias: Float64Array | undefined;
  biasDims: number[] | undefined;
  /** Gemm only. */
  gemm?: { transB: boolean; alpha: number; beta: number };
}

export const AFFINE_PRODUCERS: ReadonlySet<string> = new Set(['Conv', 'ConvTranspose', 'Gemm']);

/** Weight / bias input names the affine fold rewrites. */
export function affineWeights(node: Node): string[] {
  return [node.inputs[1] ?? '', node.inputs[2] ?? ''].filter((n) => n !== '');
}

/** Read a producer's weights for an affine fold. `attrs` come from the guard. */
export function affineTarget(ctx: RewriteContext, node: Node, attrs: Attrs): AffineTarget | string {
  const w = floatConstant(ctx, node.inputs[1] ?? '', `weight of ${label(node)}`);
  if (typeof w === 'string') return w;
  const hasBias = (node.inputs[2] ?? '') !== '';
  const b = hasBias ? floatConstant(ctx, node.inputs[2] as string, `bias of ${label(node)}`) : undefined;
  if (typeof b === 'string') return b;
  const dims = w.tensor.dims;
  const base = { node, weight: w.values, weightDims: [...dims], bias: b?.values, biasDims: b ? [...b.tensor.dims] : undefined };
  if (node.opType === 'Gemm') {
    if (dims.length !== 2) return `${label(node)}: B has rank ${dims.length}, expected 2`;
    const transB = attrs.int('transB') !== 0;
    const channels = transB ? (dims[0] as number) : (dims[1] as number);
    if (b) {
      const bd = b.tensor.dims;
      const perColumn = numel(bd) === 1 || (bd.length === 1 && bd[0] === channels) || (bd.length === 2 && bd[1] === channels);
      if (!perColumn) return `${label(node)}: C of shape [${bd.join(',')}] does not broadcast per column`;
    }
    return { ...base, channels, outputRank: 2, gemm: { transB, alpha: attrs.float('alpha'), beta: attrs.float('beta') } };
  }
  const geometry = convGeometry(node, attrs, dims);
  if (typeof geometry === 'string') return geometry;
  const group = geometry.group;
  const channels = node.opType === 'Conv' ? (dims[0] as number) : (dims[1] as number) * group;
  if (b && numel(b.tensor.dims) !== channels) return `${label(node)}: bias has ${numel(b.tensor.dims)} values for ${channels} channels`;
  if (group < 1 || (node.opType === 'ConvTranspose' && (dims[0] as number) % group !== 0)) return `${label(node)}: group ${group} does not divide the weight`;
  return { ...base, channels, outputRank: dims.length };
}

/**
 * A constant that broadcasts against the producer's output as one value per channel (axis 1):
 * right-aligned to the output rank, every axis but 1 has extent 1 (so [C,1,1] and [1,C,1,1] on NCHW,
 * [C] or [1,C] on a Gemm's [M,N], or a scalar). Returns the C values, or why it does not.
 */
export function perChannel(dims: readonly number[], values: Float64Array, target: AffineTarget): Float64Array | string {
  const rank = target.outputRank;
  if (dims.length > rank) return `the constant has rank ${dims.length}, above the output's ${rank}: broadcasting would change the output shape`;
  const full = [...new Array<number>(rank - dims.length).fill(1), ...dims];
  for (let k = 0; k < rank; k++) {
    if (k !== 1 && full[k] !== 1) return `the constant [${dims.join(',')}] varies along axis ${k}, not only the channel axis`;
  }
  const c = full[1] as number;
  if (c !== 1 && c !== target.channels) return `the constant has ${c} channels, the producer ${target.channels}`;
  return c === 1 ? new Float64Array(target.channels).fill(values[0] ?? 0) : values;
}

/**
 * Rewrite the producer so it computes scale[c] * y[c] + shift[c] directly, and make it write `output`.
 * Arithmetic in float64, stored as float32.
 *   Conv          W[o, i, ...]  -> W * scale[o]
 *   ConvTranspose W[i, j, ...]  -> W * scale[(i div (Cin/g)) * (Cout/g) + j]   (layout Cin x Cout/g x k...)
 *   Gemm          op(B)[k, n]   -> alpha * op(B) * scale[n], alpha -> 1;  C -> beta * C * scale + shift, beta -> 1
 *   bias          b[o]          -> b[o] * scale[o] + shift[o]
 */
export function applyAffine(ctx: RewriteContext, t: AffineTarget, scale: Float64Array | undefined, shift: Float64Array | undefined, output: string): void {
  const node = t.node;
  const C = t.channels;
  const w = new Float64Array(t.weight);
  const dims = t.weightDims;
  if (scale) {
    if (node.opType === 'Conv') {
      const per = w.length / C;
      for (let o = 0; o < C; o++) for (let k = 0; k < per; k++) w[o * per + k] = (w[o * per + k] as number) * (scale[o] as number);
    } else if (node.opType === 'ConvTranspose') {
      const cin = dims[0] as number;
      const coutPerGroup = dims[1] as number;
      const group = C / coutPerGroup;
      const cinPerGroup = cin / group;
      const spatial = w.length / (cin * coutPerGroup);
      for (let i = 0; i < cin; i++) {
        const g = Math.floor(i / cinPerGroup);
        for (let j = 0; j < coutPerGroup; j++) {
          const s = scale[g * coutPerGroup + j] as number;
          const at = (i * coutPerGroup + j) * spatial;
          for (let k = 0; k < spatial; k++) w[at + k] = (w[at + k] as number) * s;
        }
      }
    }
  }
  if (t.gemm) {
    const alpha = t.gemm.alpha;
    const [r, c] = dims as [number, number];
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < c; j++) {
        const n = t.gemm.transB ? i : j;
        w[i * c + j] = alpha * (w[i * c + j] as number) * (scale ? (scale[n] as number) : 1);
      }
    }
  }
  ctx.setWeight(node, 1, float32Tensor('', dims, w), `${node.name || 'node'}_W`);

  const hasBias = t.bias !== undefined;
  if (hasBias || shift || t.gemm) {
    let biasDims: number[];
    let bias: Float64Array;
    if (t.gemm) {
      // C broadcasts per column; a full [M,N] C keeps its shape, everything else becomes [N].
      const full = t.biasDims && t.biasDims.length === 2 && (t.biasDims[0] as number) > 1;
      biasDims = full ? [...(t.biasDims as number[])] : [C];
      bias = new Float64Array(numel(biasDims));
      const beta = t.gemm.beta;
      for (let i = 0; i < bias.length; i++) {
        const n = i % C;
        const c0 = t.bias ? (t.bias.length === 1 ? (t.bias[0] as number) : (t.bias[i] as number)) : 0;
        bias[i] = beta * c0 * (scale ? (scale[n] as number) : 1) + (shift ? (shift[n] as number) : 0);
      }
    } else {
      biasDims = [C];
      bias = new Float64Array(C);
      for (let o = 0; o < C; o++) {
        const b0 = t.bias ? (t.bias[o] as number) : 0;
        bias[o] = b0 * (scale ? (scale[o] as number) : 1) + (shift ? (shift[o] as number) : 0);
      }
    }
    ctx.setWeight(node, 2, float32Tensor('', biasDims, bias), `${node.name || 'node'}_B`);
  }
  if (t.gemm) {
    node.attributes = node.attributes.filter((a) => a.name !== 'alpha' && a.name !== 'beta');
    t.gemm.alpha = 1;
    t.gemm.beta = 1;
  }
  node.outputs[0] = output;
}

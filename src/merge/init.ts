/**
 * Initial weights of rebirth layers, and what the trainer needs to know about them.
 *
 * - 'xavier' (the paper): Glorot uniform U(-a, a), a = sqrt(6 / (fan_in + fan_out)), zero bias, drawn
 *   from a generator keyed by (seed, parameter name), so one layer's draw never depends on another's.
 *   (Caffe's "xavier" filler, which the paper used, defaults to a = sqrt(3 / fan_in); Glorot's is the
 *   one named in the brief and in src/zoo, and both are only a starting point for retraining.)
 * - 'inherit': reuse the replaced layers' weights, so the merged network starts close to the original.
 *   Exact where the algebra allows (conv + AveragePool; the carried 1x1 / 5x5 parts of a branch merge)
 *   and a documented approximation elsewhere (max pool, LRN, thinned reducers). Each RebirthLayer says
 *   which (`exactness`, `note`).
 *
 * Fitting rebirth layers on calibration data (init 'fit') is src/merge/fit.ts: every RebirthLayer
 * names the value it has to reproduce (`target`, which has the same name and shape in the original and
 * the merged model); `learningRateMultipliers` gives the paper's 10x rate for them in retraining.
 */
import { floatTensor, type Tensor } from '../ir/tensor.js';
import { gram, matmulTransB, fromArray, type Matrix } from '../linalg/matrix.js';
import { paramRandom, xavierUniform } from '../zoo/init.js';
import { RebirthError } from '../errors.js';

export type InitMethod = 'xavier' | 'inherit';

/**
 * 'exact': with `inherit` the rebirth layer reproduces the original block's output (up to float
 * rounding). 'partial': some output channels are exact, the others approximate (see `note`).
 * 'approximate': inherited weights, not exact. 'random': Xavier.
 */
export type Exactness = 'exact' | 'partial' | 'approximate' | 'random';

/** One new (or reshaped) layer created by a merge; the unit the trainer gives the 10x learning rate. */
export interface RebirthLayer {
  /** The merge that made it ('conv1', 'inception_3a'). */
  block: string;
  kind: 'streamline' | 'branch';
  /** Node name in the merged model. */
  node: string;
  /** Initializer names of its weight and bias. */
  params: string[];
  /**
   * A value present, with the same shape, in the original and the merged model that this layer's
   * block must reproduce (the block output, or the Concat output of an inception module).
   */
  target: string;
  init: InitMethod;
  exactness: Exactness;
  /** One line: how the initial weights were obtained and what is approximate. */
  note: string;
}

/** Parameter name -> learning-rate multiplier: rebirth parameters get `factor` (paper: 0.01 vs 0.001). */
export function learningRateMultipliers(layers: readonly RebirthLayer[], factor = 10): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of layers) for (const p of l.params) out.set(p, factor);
  return out;
}

/** Seeded Glorot-uniform weight tensor. */
export function xavierTensor(name: string, dims: number[], seed: number): Tensor {
  return floatTensor(name, dims, xavierUniform(paramRandom(seed, name), dims));
}

export function zeroTensor(name: string, dims: number[]): Tensor {
  return floatTensor(name, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)));
}

/** A conv weight [O, I, kh, kw] as a flat array with its dims. */
export interface Kernel {
  data: Float32Array;
  dims: [number, number, number, number];
}

/**
 * Folds the removed pools of a streamline block into a conv kernel, one pool at a time, along both axes.
 * `scale` is the product of the strides before that pool (the conv's stride for the first pool): a pool
 * tap a steps the conv's window by a * scale input pixels.
 * - AveragePool: W'[u] = (1/kp) * sum_{a<kp} W[u - a*scale] per axis, i.e. the kernel convolved with a
 *   box filter of kp taps spaced `scale` apart. conv followed by avgpool is linear and shift-equivariant,
 *   so this is EXACT wherever every pool window lies inside the conv output (no pool padding and no
 *   ceil-mode partial window; see streamline.ts for the check).
 * - MaxPool: the old kernel is placed at the window's centre tap (offset floor((kp-1)/2) * scale),
 *   i.e. the max over the window is approximated by its centre sample. Averaging instead would cancel
 *   oriented high-frequency filters (a 2-pixel shift of a period-4 edge filter flips its sign), the
 *   centre sample keeps them. An approximation: retraining has to recover the max.
 */
export function foldPools(
  kernel: Kernel,
  pools: ReadonlyArray<{ kind: 'max' | 'avg'; kernel: [number, number]; scale: [number, number] }>,
): Kernel {
  let cur = kernel;
  for (const p of pools) {
    const [o, i, kh, kw] = cur.dims;
    const nh = kh + (p.kernel[0] - 1) * p.scale[0];
    const nw = kw + (p.kernel[1] - 1) * p.scale[1];
    const out = new Float32Array(o * i * nh * nw);
    const taps: Array<[number, number, number]> = [];
    if (p.kind === 'avg') {
      const weight = 1 / (p.kernel[0] * p.kernel[1]);
      for (let a = 0; a < p.kernel[0]; a++) for (let b = 0; b < p.kernel[1]; b++) taps.push([a * p.scale[0], b * p.scale[1], weight]);
    } else {
      taps.push([Math.floor((p.kernel[0] - 1) / 2) * p.scale[0], Math.floor((p.kernel[1] - 1) / 2) * p.scale[1], 1]);
    }
    for (let plane = 0; plane < o * i; plane++) {
      const src = plane * kh * kw;
      const dst = plane * nh * nw;
      for (const [dy, dx, wgt] of taps) {
        for (let y = 0; y < kh; y++) {
          for (let x = 0; x < kw; x++) {
            const k = dst + (y + dy) * nw + (x + dx);
            out[k] = (out[k] as number) + wgt * (cur.data[src + y * kw + x] as number);
          }
        }
      }
    }
    cur = { data: out, dims: [o, i, nh, nw] };
  }
  return cur;
}

/** Output channels `keep` (ascending indices) of a [O, ...] tensor. */
export function selectRows(data: Float32Array, rows: number, keep: readonly number[]): Float32Array {
  const width = data.length / rows;
  const out = new Float32Array(keep.length * width);
  keep.forEach((r, k) => out.set(data.subarray(r * width, (r + 1) * width), k * width));
  return out;
}

/**
 * Indices of the `count` output channels with the largest weight L2 norm, in ascending index order
 * (the thinning rule for reducers: a filter with small weights contributes least to the next layer,
 * ties broken by lower index so the choice is deterministic).
 */
export function topChannelsByNorm(weight: Float32Array, rows: number, count: number): number[] {
  const width = weight.length / rows;
  const norms = Array.from({ length: rows }, (_, r) => {
    let s = 0;
    for (let k = r * width; k < (r + 1) * width; k++) s += (weight[k] as number) ** 2;
    return { r, s };
  });
  norms.sort((a, b) => b.s - a.s || a.r - b.r);
  return norms.slice(0, count).map((n) => n.r).sort((a, b) => a - b);
}

/**
 * Least-squares map A (m x r) with A * basis ~ target, where target (m x d) and basis (r x d) are 1x1
 * conv weights over the same d input channels: A = target basis^T (basis basis^T + ridge I)^-1. Used to
 * express a 1x1 conv of x through the outputs of another 1x1 conv of x (a reducer), ignoring the ReLU
 * between them. The ridge (1e-3 of the mean diagonal) keeps A bounded when reducer filters are nearly
 * collinear.
 */
export function projectThrough(target: Matrix, basis: Matrix): Matrix {
  if (target.cols !== basis.cols) throw new RebirthError(`projectThrough: ${target.cols} and ${basis.cols} input channels differ`);
  const g = gram(basis);
  const r = g.rows;
  let trace = 0;
  for (let k = 0; k < r; k++) trace += g.data[k * r + k] as number;
  const ridge = Math.max(1e-12, (1e-3 * trace) / Math.max(1, r));
  for (let k = 0; k < r; k++) g.data[k * r + k] = (g.data[k * r + k] as number) + ridge;
  // Row i of target basis^T is the right-hand side for row i of A (G is symmetric: A G = target basis^T).
  const rows = matmulTransB(target, basis);
  choleskySolveRows(g, rows.data, target.rows);
  return { rows: target.rows, cols: r, data: rows.data };
}

/** Solve x G = b in place for each of `count` contiguous rows b of `data`, G symmetric positive definite. */
function choleskySolveRows(g: Matrix, data: Float64Array, count: number): void {
  const n = g.rows;
  // G = L L^T; L row-major, and its transpose too so both substitutions read contiguous memory.
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = g.data[i * n + j] as number;
      for (let k = 0; k < j; k++) s -= (l[i * n + k] as number) * (l[j * n + k] as number);
      if (i === j) {
        if (s <= 0) throw new RebirthError('projectThrough: reducer Gram matrix is not positive definite');
        l[i * n + i] = Math.sqrt(s);
      } else {
        l[i * n + j] = s / (l[j * n + j] as number);
      }
    }
  }
  const lt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) lt[j * n + i] = l[i * n + j] as number;
  for (let row = 0; row < count; row++) {
    const x = data.subarray(row * n, (row + 1) * n);
    // x G = b  <=>  G x^T = b^T: forward with L, then back with L^T.
    for (let i = 0; i < n; i++) {
      let s = x[i] as number;
      for (let k = 0; k < i; k++) s -= (l[i * n + k] as number) * (x[k] as number);
      x[i] = s / (l[i * n + i] as number);
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = x[i] as number;
      for (let k = i + 1; k < n; k++) s -= (lt[i * n + k] as number) * (x[k] as number);
      x[i] = s / (l[i * n + i] as number);
    }
  }
}

export function matrixOf(rows: number, cols: number, data: Float32Array): Matrix {
  return fromArray(rows, cols, data);
}

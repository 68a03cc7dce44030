import { RebirthError } from '../errors.js';
import { minimizeBounded } from '../linalg/minimize.js';
import { singularValues } from '../linalg/svd.js';
import type { Matrix } from '../linalg/matrix.js';

/**
 * Empirical variational Bayesian matrix factorisation (EVBMF), analytic form: S. Nakajima, M.
 * Sugiyama, S. D. Babacan, R. Tomioka, "Global analytic solution of fully-observed variational
 * Bayesian matrix factorization", JMLR 14 (2013), with the threshold of Nakajima et al., "Perfect
 * dimensionality recovery by variational Bayesian PCA", NIPS 2012. Kim et al. (ICLR 2016) pick each
 * Tucker rank as the EVBMF rank of the corresponding unfolding.
 *
 * For Y (L x M, L <= M) with singular values s_1 >= ... >= s_H (H = L here) and alpha = L / M:
 * - tau_bar = 2.5129 sqrt(alpha) (the solution of a transcendental equation, tabulated by the paper),
 *   x_bar = (1 + tau_bar)(1 + alpha / tau_bar);
 * - the noise variance sigma^2 minimises, over [lower, upper] (bounds below), the free energy
 *     sum_{x_h <= x_bar} (x_h - log x_h) + sum_{x_h > x_bar} (x_h - tau_h + log((tau_h + 1) / x_h)
 *       + alpha log(tau_h / alpha + 1)) + residual / (M sigma^2) + (L - H) log sigma^2,
 *   with x_h = s_h^2 / (M sigma^2) and tau_h = (x_h - (1 + alpha) + sqrt((x_h - (1 + alpha))^2 - 4 alpha)) / 2;
 * - upper = (sum s^2 + residual) / (L M); with e = min(ceil(L / (1 + alpha)) - 1, H) (1-based),
 *   lower = max(s_{e+1}^2 / (M x_bar), mean(s_{e+1..H}^2) / M);
 * - a component is kept when s_h > sqrt(M sigma^2 x_bar); the rank is how many are kept.
 *
 * Two numerical choices (the numpy reference in scripts/make-linalg-fixtures.py makes the same ones):
 * - sigma^2 is searched in units of the lower bound. The reference Python port searches raw sigma^2
 *   with scipy's absolute tolerance 1e-5, which is coarser than the whole interval for conv weights
 *   (sigma^2 ~ 1e-4 .. 1e-6): there the search stops after a couple of steps. Scaling makes the
 *   tolerance relative.
 * - singular values are floored at 1e-8 s_1 (below the accuracy of the Gram-matrix SVD, see
 *   src/linalg/svd.ts) so that an exactly rank-deficient matrix has a finite objective.
 */

export interface EvbmfResult {
  /** Number of components VBMF keeps (may be 0: the matrix is indistinguishable from noise). */
  rank: number;
  /** Estimated noise variance per entry. */
  sigma2: number;
  /** Singular values above this are kept. */
  threshold: number;
  /** Shorter and longer side of the matrix. */
  L: number;
  M: number;
}

export interface EvbmfOptions {
  /** Known noise variance; estimated when absent. */
  sigma2?: number;
}

const TAU_BAR_FACTOR = 2.5129;

/** EVBMF rank of a matrix (either orientation: VBMF is symmetric under transposition). */
export function evbmf(y: Matrix, options: EvbmfOptions = {}): EvbmfResult {
  return evbmfFromSingularValues(singularValues(y), y.rows, y.cols, options);
}

/**
 * EVBMF from the singular values of an rows x cols matrix: all min(rows, cols) of them, descending.
 */
export function evbmfFromSingularValues(values: ArrayLike<number>, rows: number, cols: number, options: EvbmfOptions = {}): EvbmfResult {
  const L = Math.min(rows, cols), M = Math.max(rows, cols);
  if (values.length !== L) throw new RebirthError(`evbmf: expected ${L} singular values for a ${rows}x${cols} matrix, got ${values.length}`);
  const H = L;
  const alpha = L / M;
  const tauBar = TAU_BAR_FACTOR * Math.sqrt(alpha);
  const xBar = (1 + tauBar) * (1 + alpha / tauBar);
  const s0 = values[0] ?? 0;
  if (!(s0 > 0)) return { rank: 0, sigma2: 0, threshold: 0, L, M };
  const s = Float64Array.from(values, (v) => Math.max(v, s0 * 1e-8));
  const residual = 0;

  let sigma2: number;
  if (options.sigma2 !== undefined) {
    if (!(options.sigma2 > 0)) throw new RebirthError(`evbmf: option sigma2 must be positive, got ${options.sigma2}`);
    sigma2 = options.sigma2;
  } else {
    let sumSq = 0;
    for (const v of s) sumSq += v * v;
    const upper = (sumSq + residual) / (L * M);
    // 0-based index of the first singular value treated as noise for the lower bound.
    const first = Math.min(Math.ceil(L / (1 + alpha)) - 1, H);
    let tail = 0;
    for (let h = first; h < H; h++) tail += (s[h] as number) ** 2;
    const lower = Math.max((s[first] as number) ** 2 / (M * xBar), tail / (H - first) / M);
    const scale = 1 / lower;
    const scaled = s.map((v) => v * v * scale);
    const found = minimizeBounded((t) => freeEnergy(t, L, M, scaled, residual * scale, xBar), 1, upper * scale);
    sigma2 = found.x / scale;
  }
  const threshold = Math.sqrt(M * sigma2 * xBar);
  let rank = 0;
  while (rank < H && (s[rank] as number) > threshold) rank++;
  return { rank, sigma2, threshold, L, M };
}

/** The objective above as a function of sigma^2; `sq` holds the squared singular values. */
function freeEnergy(sigma2: number, L: number, M: number, sq: Float64Array, residual: number, xBar: number): number {
  const H = sq.length;
  const alpha = L / M;
  let obj = 0;
  for (let h = 0; h < H; h++) {
    const x = (sq[h] as number) / (M * sigma2);
    if (x > xBar) {
      const tau = tauOf(x, alpha);
      obj += x - tau + Math.log((tau + 1) / x) + alpha * Math.log(tau / alpha + 1);
    } else {
      obj += x - Math.log(x);
    }
  }
  return obj + residual / (M * sigma2) + (L - H) * Math.log(sigma2);
}

function tauOf(x: number, alpha: number): number {
  const b = x - (1 + alpha);
  return 0.5 * (b + Math.sqrt(b * b - 4 * alpha));
}

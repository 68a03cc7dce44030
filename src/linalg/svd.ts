import { symmetricEigen } from './eig.js';
import { gram, matmul, matmulTransA, transpose, zeros, type Matrix } from './matrix.js';

/**
 * Singular value decomposition through the symmetric eigendecomposition of the smaller Gram matrix:
 * for A (m x n, m <= n), A A^T = U S^2 U^T and V = A^T U S^-1 (mirrored when m > n).
 *
 * Why not Golub-Kahan: the weights decomposed here have at most 1024 rows, Tucker needs only left
 * singular vectors of each unfolding, and rank selection needs all singular values. Forming the Gram
 * matrix costs m^2 n flops of contiguous dot products and leaves an eigenproblem of the small side
 * only, which is faster in JavaScript than bidiagonalising the full m x n matrix (see docs/tucker.md
 * for measurements).
 *
 * Accuracy: eigenvalues of the Gram matrix carry an absolute error of about eps * s_1^2, so a singular
 * value s_i is accurate to relative precision eps * (s_1 / s_i)^2: full precision for the leading
 * values, and meaningless below about 1e-8 * s_1. Values whose square comes out negative are returned
 * as 0. Rank selection and truncation only look at values far above that floor.
 */

export interface Svd {
  /** m x k, orthonormal columns. */
  u: Matrix;
  /** k singular values, descending. */
  s: Float64Array;
  /** n x k, orthonormal columns (columns for singular values ~0 are zero vectors). */
  v: Matrix;
}

/** The k = min(m, n) singular values of A, descending (only eigenvalues, no vectors: ~3x cheaper). */
export function singularValues(a: Matrix): Float64Array {
  const g = a.rows <= a.cols ? gram(a) : gram(transpose(a));
  const { values } = symmetricEigen(g, { vectors: false });
  return values.map((x) => Math.sqrt(Math.max(0, x)));
}

/** Thin SVD truncated to `rank` (default min(m, n)) components. */
export function svd(a: Matrix, rank?: number): Svd {
  const kMax = Math.min(a.rows, a.cols);
  const k = rank ?? kMax;
  if (!Number.isInteger(k) || k < 0 || k > kMax) throw new RangeError(`svd: rank ${k} outside [0, ${kMax}]`);
  return truncate(a, smallSideEigen(a), k);
}

/**
 * The leading `count` left singular vectors of A (m x count, orthonormal columns) and all min(m, n)
 * singular values. Any count <= m works: when count exceeds n the basis is completed from the
 * eigenvectors of A A^T (whose extra eigenvalues are 0), which HOSVD needs when a rank is larger than
 * the other side of an unfolding.
 */
export function leftSingularVectors(a: Matrix, count: number): { u: Matrix; s: Float64Array } {
  if (!Number.isInteger(count) || count < 0 || count > a.rows) {
    throw new RangeError(`leftSingularVectors: count ${count} outside [0, ${a.rows}]`);
  }
  const kMin = Math.min(a.rows, a.cols);
  if (count > a.cols) {
    const { values, vectors } = symmetricEigen(gram(a));
    const s = values.subarray(0, kMin).map((x) => Math.sqrt(Math.max(0, x)));
    return { u: transpose(takeRows(vectors as Matrix, count)), s };
  }
  const eig = smallSideEigen(a);
  const { u } = truncate(a, eig, count);
  return { u, s: eig.values.map((x) => Math.sqrt(Math.max(0, x))) };
}

/**
 * All singular values of A and, on demand, its leading left singular vectors, from one
 * eigendecomposition: rank selection looks at the values first, then takes as many vectors as it chose.
 */
export interface LeftSpectrum {
  /** min(m, n) singular values, descending. */
  s: Float64Array;
  /** m x count, orthonormal columns, count <= m. */
  leading(count: number): Matrix;
}

export function leftSpectrum(a: Matrix): LeftSpectrum {
  const eig = smallSideEigen(a);
  const s = eig.values.map((x) => Math.sqrt(Math.max(0, x)));
  return {
    s,
    leading(count: number): Matrix {
      if (!Number.isInteger(count) || count < 0 || count > a.rows) {
        throw new RangeError(`leftSpectrum: count ${count} outside [0, ${a.rows}]`);
      }
      if (eig.wide) return transpose(takeRows(eig.vectors, count));
      if (count <= a.cols) return truncate(a, eig, count).u;
      return leftSingularVectors(a, count).u;
    },
  };
}

interface SmallSide {
  wide: boolean;
  /** Eigenvalues of the min(m, n)-sized Gram matrix, descending. */
  values: Float64Array;
  /** Row j: j-th singular vector on the small side. */
  vectors: Matrix;
}

function smallSideEigen(a: Matrix): SmallSide {
  const wide = a.rows <= a.cols;
  const { values, vectors } = symmetricEigen(wide ? gram(a) : gram(transpose(a)));
  return { wide, values, vectors: vectors as Matrix };
}

function truncate(a: Matrix, eig: SmallSide, k: number): Svd {
  const small = takeRows(eig.vectors, k);
  const s = eig.values.slice(0, k).map((x) => Math.sqrt(Math.max(0, x)));
  const smallCols = transpose(small);
  // Other side: A^T u_j / s_j (wide) or A v_j / s_j (tall), computed as one product.
  const other = eig.wide ? matmulTransA(a, smallCols) : matmul(a, smallCols);
  const floor = (s[0] ?? 0) * Math.max(a.rows, a.cols) * 1e-15;
  for (let j = 0; j < k; j++) {
    const sj = s[j] as number;
    const inv = sj > floor ? 1 / sj : 0;
    for (let i = 0; i < other.rows; i++) other.data[i * k + j] = (other.data[i * k + j] as number) * inv;
  }
  return eig.wide ? { u: smallCols, s, v: other } : { u: other, s, v: smallCols };
}

function takeRows(m: Matrix, count: number): Matrix {
  const out = zeros(count, m.cols);
  out.data.set(m.data.subarray(0, count * m.cols));
  return out;
}

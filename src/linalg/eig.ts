import type { Matrix } from './matrix.js';

/**
 * Eigendecomposition of a real symmetric matrix: Householder reduction to tridiagonal form followed by
 * the implicit QL algorithm with Wilkinson-style shifts (EISPACK tred2/tql2, as in JAMA and Numerical
 * Recipes).
 *
 * Layout: EISPACK works on the eigenvector matrix V column by column, which strides through a row-major
 * array. Here the working array holds V^T instead, so every inner loop of both phases (the Householder
 * updates of the lower triangle, the accumulation of the transforms, and the Givens rotations of QL,
 * which mix two columns of V) walks one or two contiguous rows. For n = 1024 that is the difference
 * between ~2 and ~10+ seconds in V8.
 */

export interface SymmetricEigen {
  /** Eigenvalues in descending order. */
  values: Float64Array;
  /**
   * Row j is the unit eigenvector of values[j] (so this is V^T for A = V diag(values) V^T). Absent
   * when only the values were asked for.
   */
  vectors?: Matrix;
}

export interface EigenOptions {
  /** Compute eigenvectors (default true). Values alone cost about a third of the full decomposition. */
  vectors?: boolean;
}

const EPS = 2 ** -52;

export function symmetricEigen(a: Matrix, options: EigenOptions = {}): SymmetricEigen {
  const n = a.rows;
  if (a.cols !== n) throw new RangeError(`symmetricEigen needs a square matrix, got ${a.rows}x${a.cols}`);
  const wantVectors = options.vectors ?? true;
  if (n === 0) return wantVectors ? { values: new Float64Array(0), vectors: { rows: 0, cols: 0, data: new Float64Array(0) } } : { values: new Float64Array(0) };

  // Scale to max |a_ij| = 1 so the unguarded sqrt(p^2 + q^2) below can neither overflow nor underflow.
  let scale = 0;
  for (let i = 0; i < a.data.length; i++) scale = Math.max(scale, Math.abs(a.data[i] as number));
  if (!Number.isFinite(scale)) throw new RangeError('symmetricEigen: matrix has a non-finite entry');
  const t = new Float64Array(n * n);
  if (scale > 0) for (let i = 0; i < t.length; i++) t[i] = (a.data[i] as number) / scale;
  const d = new Float64Array(n);
  const e = new Float64Array(n);

  tridiagonalize(t, d, e, n, wantVectors);
  ql(t, d, e, n, wantVectors);

  // Descending order, vectors permuted along.
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => (d[y] as number) - (d[x] as number));
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = (d[order[i] as number] as number) * scale;
  if (!wantVectors) return { values };
  const vec = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const src = (order[i] as number) * n;
    vec.set(t.subarray(src, src + n), i * n);
  }
  return { values, vectors: { rows: n, cols: n, data: vec } };
}

/**
 * tred2 on z = V^T (V[r][c] is z[c * n + r]): on return d holds the diagonal, e[1..n) the
 * subdiagonal of the tridiagonal matrix, and (with vectors) z the transposed orthogonal transform.
 */
function tridiagonalize(z: Float64Array, d: Float64Array, e: Float64Array, n: number, wantVectors: boolean): void {
  for (let j = 0; j < n; j++) d[j] = z[j * n + n - 1] as number;

  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k] as number);
    if (scale === 0) {
      e[i] = d[i - 1] as number;
      for (let j = 0; j < i; j++) {
        d[j] = z[j * n + i - 1] as number;
        z[j * n + i] = 0;
        z[i * n + j] = 0;
      }
    } else {
      // Householder vector u = d (scaled) with u[i-1] shifted; H = I - u u^T / h.
      for (let k = 0; k < i; k++) {
        const v = (d[k] as number) / scale;
        d[k] = v;
        h += v * v;
      }
      let f = d[i - 1] as number;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;

      // e = A u (A is the leading i x i lower triangle, stored as the upper triangle of z).
      for (let j = 0; j < i; j++) {
        f = d[j] as number;
        z[i * n + j] = f;
        const row = j * n;
        g = (e[j] as number) + (z[row + j] as number) * f;
        for (let k = j + 1; k < i; k++) {
          const v = z[row + k] as number;
          g += v * (d[k] as number);
          e[k] = (e[k] as number) + v * f;
        }
        e[j] = g;
      }
      // p = A u / h, K = u^T p / 2h, q = p - K u; A -= u q^T + q u^T.
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = (e[j] as number) / h;
        f += (e[j] as number) * (d[j] as number);
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = (e[j] as number) - hh * (d[j] as number);
      for (let j = 0; j < i; j++) {
        f = d[j] as number;
        g = e[j] as number;
        const row = j * n;
        for (let k = j; k < i; k++) z[row + k] = (z[row + k] as number) - (f * (e[k] as number) + g * (d[k] as number));
        d[j] = z[row + i - 1] as number;
        z[row + i] = 0;
      }
    }
    d[i] = h;
  }

  if (!wantVectors) {
    // The tridiagonal's diagonal was left on z's diagonal (z[n-1][n-1] is never touched above).
    for (let j = 0; j < n; j++) d[j] = z[j * n + j] as number;
    e[0] = 0;
    return;
  }

  // Accumulate the Householder transforms (stored in the rows of z below the diagonal) into V^T.
  for (let i = 0; i < n - 1; i++) {
    z[i * n + n - 1] = z[i * n + i] as number;
    z[i * n + i] = 1;
    const h = d[i + 1] as number;
    const u = (i + 1) * n;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = (z[u + k] as number) / h;
      for (let j = 0; j <= i; j++) {
        const row = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += (z[u + k] as number) * (z[row + k] as number);
        for (let k = 0; k <= i; k++) z[row + k] = (z[row + k] as number) - g * (d[k] as number);
      }
    }
    for (let k = 0; k <= i; k++) z[u + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = z[j * n + n - 1] as number;
    z[j * n + n - 1] = 0;
  }
  z[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

/** tql2: implicit QL on the tridiagonal (d, e), applying the rotations to the rows of z = V^T. */
function ql(z: Float64Array, d: Float64Array, e: Float64Array, n: number, wantVectors: boolean): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i] as number;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const maxIter = 60;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l] as number) + Math.abs(e[l] as number));
    let m = l;
    while (m < n - 1 && Math.abs(e[m] as number) > EPS * tst1) m++;
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > maxIter) throw new RangeError(`symmetricEigen: QL did not converge for eigenvalue ${l} after ${maxIter} iterations`);
        let g = d[l] as number;
        let p = ((d[l + 1] as number) - g) / (2 * (e[l] as number));
        let r = Math.sqrt(p * p + 1);
        if (p < 0) r = -r;
        d[l] = (e[l] as number) / (p + r);
        d[l + 1] = (e[l] as number) * (p + r);
        const dl1 = d[l + 1] as number;
        let h = g - (d[l] as number);
        for (let i = l + 2; i < n; i++) d[i] = (d[i] as number) - h;
        f += h;

        p = d[m] as number;
        let c = 1, c2 = 1, c3 = 1;
        const el1 = e[l + 1] as number;
        let s = 0, s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          const ei = e[i] as number;
          g = c * ei;
          h = c * p;
          r = Math.sqrt(p * p + ei * ei);
          e[i + 1] = s * r;
          s = ei / r;
          c = p / r;
          const di = d[i] as number;
          p = c * di - s * g;
          d[i + 1] = h + s * (c * g + s * di);
          if (wantVectors) {
            const ri = i * n, rj = ri + n;
            for (let k = 0; k < n; k++) {
              const zi = z[ri + k] as number;
              const zj = z[rj + k] as number;
              z[rj + k] = s * zi + c * zj;
              z[ri + k] = c * zi - s * zj;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * (e[l] as number)) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l] as number) > EPS * tst1);
    }
    d[l] = (d[l] as number) + f;
    e[l] = 0;
  }
}

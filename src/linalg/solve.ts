/**
 * Symmetric positive definite solves, for least-squares fits through the normal equations.
 */
import type { Matrix } from './matrix.js';

/**
 * Solve (A + lambda I) X = B for symmetric positive semi-definite A (n x n) and B (n x m) by Cholesky,
 * with lambda = ridge * trace(A) / n: a ridge relative to the mean eigenvalue, so the same `ridge`
 * works whatever the scale of the data. A and B are not modified.
 */
export function solveSpd(a: Matrix, b: Matrix, ridge = 1e-6): Matrix {
  const n = a.rows;
  if (a.cols !== n || b.rows !== n) throw new RangeError(`solveSpd: A is ${a.rows}x${a.cols}, B is ${b.rows}x${b.cols}`);
  let trace = 0;
  for (let i = 0; i < n; i++) trace += a.data[i * n + i] as number;
  const lambda = Math.max(ridge * (trace / Math.max(1, n)), Number.MIN_VALUE);
  // Lower-triangular L with L L^T = A + lambda I, row-major, computed row by row (Cholesky-Banachiewicz).
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = (a.data[i * n + j] as number) + (i === j ? lambda : 0);
      for (let k = 0; k < j; k++) s -= (l[i * n + k] as number) * (l[j * n + k] as number);
      if (i === j) {
        // A pivot lost to rounding (A + lambda I is positive definite in exact arithmetic).
        l[i * n + i] = Math.sqrt(Math.max(s, lambda));
      } else {
        l[i * n + j] = s / (l[j * n + j] as number);
      }
    }
  }
  const m = b.cols;
  const x = Float64Array.from(b.data);
  // Forward: L Y = B, then back: L^T X = Y; each row operation spans all m right-hand sides.
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < i; k++) {
      const f = l[i * n + k] as number;
      if (f === 0) continue;
      for (let c = 0; c < m; c++) x[i * m + c] = (x[i * m + c] as number) - f * (x[k * m + c] as number);
    }
    const d = l[i * n + i] as number;
    for (let c = 0; c < m; c++) x[i * m + c] = (x[i * m + c] as number) / d;
  }
  for (let i = n - 1; i >= 0; i--) {
    for (let k = i + 1; k < n; k++) {
      const f = l[k * n + i] as number;
      if (f === 0) continue;
      for (let c = 0; c < m; c++) x[i * m + c] = (x[i * m + c] as number) - f * (x[k * m + c] as number);
    }
    const d = l[i * n + i] as number;
    for (let c = 0; c < m; c++) x[i * m + c] = (x[i * m + c] as number) / d;
  }
  return { rows: n, cols: m, data: x };
}

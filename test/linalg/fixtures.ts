import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { zeros, type Matrix } from '../../src/linalg/matrix.js';

/**
 * The cases of test/fixtures/linalg/linalg.json (written by scripts/make-linalg-fixtures.py) and the
 * matrix generator both sides share: a Park-Miller stream, exact in float64, so the matrices are
 * bit-identical to numpy's up to the summation order of A B^T.
 */

export interface LinalgCase {
  name: string;
  rows: number;
  cols: number;
  rank: number;
  noise: number;
  seed: number;
  singularValues: number[];
  evbmf: { rank: number; sigma2: number; threshold: number };
}

export function linalgCases(): LinalgCase[] {
  const file = fileURLToPath(new URL('../fixtures/linalg/linalg.json', import.meta.url));
  return (JSON.parse(readFileSync(file, 'utf8')) as { cases: LinalgCase[] }).cases;
}

const PM_MOD = 2147483647;

export class ParkMiller {
  private state: number;
  constructor(seed: number) {
    this.state = seed % PM_MOD || 1;
  }
  next(): number {
    this.state = (this.state * 48271) % PM_MOD;
    return this.state / PM_MOD - 0.5;
  }
}

/** Y = A B^T + noise * N, A (rows x rank), B (cols x rank), N (rows x cols), filled in that order. */
export function generate(rows: number, cols: number, rank: number, noise: number, seed: number): Matrix {
  const rng = new ParkMiller(seed);
  const a = Array.from({ length: rows * rank }, () => rng.next());
  const b = Array.from({ length: cols * rank }, () => rng.next());
  const y = zeros(rows, cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let r = 0; r < rank; r++) s += (a[i * rank + r] as number) * (b[j * rank + r] as number);
      y.data[i * cols + j] = s + noise * rng.next();
    }
  }
  return y;
}

/** Matrix of i.i.d. uniform [-0.5, 0.5) entries. */
export function randomMatrix(rows: number, cols: number, seed: number): Matrix {
  const rng = new ParkMiller(seed);
  const m = zeros(rows, cols);
  for (let i = 0; i < m.data.length; i++) m.data[i] = rng.next();
  return m;
}

/** max |M^T M - I| over the columns of m. */
export function orthonormalityError(m: Matrix): number {
  let worst = 0;
  for (let p = 0; p < m.cols; p++) {
    for (let q = p; q < m.cols; q++) {
      let s = 0;
      for (let i = 0; i < m.rows; i++) s += (m.data[i * m.cols + p] as number) * (m.data[i * m.cols + q] as number);
      worst = Math.max(worst, Math.abs(s - (p === q ? 1 : 0)));
    }
  }
  return worst;
}

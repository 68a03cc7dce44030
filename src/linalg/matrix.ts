/**
 * Dense row-major float64 matrices: just enough linear algebra for Tucker/SVD decomposition of
 * network weights. Loops are ordered so the innermost one walks memory contiguously (i-k-j for
 * products), which is what decides speed in V8 at these sizes (up to ~1024 x 4096).
 */

export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  /** Row-major: element (i, j) is data[i * cols + j]. */
  readonly data: Float64Array;
}

export function zeros(rows: number, cols: number): Matrix {
  return { rows, cols, data: new Float64Array(rows * cols) };
}

export function fromArray(rows: number, cols: number, values: ArrayLike<number>): Matrix {
  if (values.length !== rows * cols) {
    throw new RangeError(`matrix ${rows}x${cols} needs ${rows * cols} values, got ${values.length}`);
  }
  return { rows, cols, data: Float64Array.from(values) };
}

export function fromRows(rows: readonly (readonly number[])[]): Matrix {
  const r = rows.length;
  const c = r === 0 ? 0 : (rows[0] as readonly number[]).length;
  const m = zeros(r, c);
  rows.forEach((row, i) => {
    if (row.length !== c) throw new RangeError(`row ${i} has ${row.length} values, expected ${c}`);
    m.data.set(row, i * c);
  });
  return m;
}

export function identity(n: number): Matrix {
  const m = zeros(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1;
  return m;
}

export function get(m: Matrix, i: number, j: number): number {
  return m.data[i * m.cols + j] as number;
}

export function transpose(m: Matrix): Matrix {
  const { rows, cols, data } = m;
  const out = new Float64Array(rows * cols);
  // Blocked so both the reads and the writes stay within a few cache lines per tile.
  const B = 32;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(rows, i0 + B);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(cols, j0 + B);
      for (let i = i0; i < i1; i++) {
        const src = i * cols;
        for (let j = j0; j < j1; j++) out[j * rows + i] = data[src + j] as number;
      }
    }
  }
  return { rows: cols, cols: rows, data: out };
}

/** A * B. */
export function matmul(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) throw new RangeError(`matmul: ${a.rows}x${a.cols} times ${b.rows}x${b.cols}`);
  return matmulTransB(a, transpose(b));
}

/** A^T * B. */
export function matmulTransA(a: Matrix, b: Matrix): Matrix {
  if (a.rows !== b.rows) throw new RangeError(`matmulTransA: (${a.rows}x${a.cols})^T times ${b.rows}x${b.cols}`);
  return matmulTransB(transpose(a), transpose(b));
}

/**
 * A * B^T: every output is a dot product of two contiguous rows. A 2 x 4 block of outputs is
 * accumulated in registers per pass, so each loaded element feeds 2 or 4 multiply-adds; this runs
 * about twice as fast in V8 as the axpy (i-k-j) form, which loads and stores the output per step.
 */
export function matmulTransB(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.cols) throw new RangeError(`matmulTransB: ${a.rows}x${a.cols} times (${b.rows}x${b.cols})^T`);
  const n = a.rows, m = b.rows, k = a.cols;
  const A = a.data, B = b.data;
  const out = new Float64Array(n * m);
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const a0 = i * k, a1 = a0 + k;
    let j = 0;
    for (; j + 3 < m; j += 4) {
      const b0 = j * k, b1 = b0 + k, b2 = b1 + k, b3 = b2 + k;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      for (let p = 0; p < k; p++) {
        const x0 = A[a0 + p] as number, x1 = A[a1 + p] as number;
        const y0 = B[b0 + p] as number, y1 = B[b1 + p] as number, y2 = B[b2 + p] as number, y3 = B[b3 + p] as number;
        s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
        s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
      }
      const o0 = i * m + j, o1 = o0 + m;
      out[o0] = s00; out[o0 + 1] = s01; out[o0 + 2] = s02; out[o0 + 3] = s03;
      out[o1] = s10; out[o1 + 1] = s11; out[o1 + 2] = s12; out[o1 + 3] = s13;
    }
    for (; j < m; j++) {
      const b0 = j * k;
      let s0 = 0, s1 = 0;
      for (let p = 0; p < k; p++) {
        const y = B[b0 + p] as number;
        s0 += (A[a0 + p] as number) * y;
        s1 += (A[a1 + p] as number) * y;
      }
      out[i * m + j] = s0;
      out[(i + 1) * m + j] = s1;
    }
  }
  for (; i < n; i++) {
    const a0 = i * k;
    for (let j = 0; j < m; j++) {
      const b0 = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += (A[a0 + p] as number) * (B[b0 + p] as number);
      out[i * m + j] = s;
    }
  }
  return { rows: n, cols: m, data: out };
}

/**
 * A * A^T (rows x rows), symmetric: only the upper triangle is computed (dot products of contiguous
 * rows, four at a time to reuse the loaded row of A) and mirrored.
 */
export function gram(a: Matrix): Matrix {
  const n = a.rows, k = a.cols, A = a.data;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * k;
    let j = i;
    for (; j + 3 < n; j += 4) {
      const r0 = j * k, r1 = r0 + k, r2 = r1 + k, r3 = r2 + k;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let p = 0; p < k; p++) {
        const x = A[ri + p] as number;
        s0 += x * (A[r0 + p] as number);
        s1 += x * (A[r1 + p] as number);
        s2 += x * (A[r2 + p] as number);
        s3 += x * (A[r3 + p] as number);
      }
      out[i * n + j] = s0; out[i * n + j + 1] = s1; out[i * n + j + 2] = s2; out[i * n + j + 3] = s3;
    }
    for (; j < n; j++) {
      const rj = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += (A[ri + p] as number) * (A[rj + p] as number);
      out[i * n + j] = s;
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) out[i * n + j] = out[j * n + i] as number;
  return { rows: n, cols: n, data: out };
}

/** Columns [0, count) of m. */
export function leadingColumns(m: Matrix, count: number): Matrix {
  if (count > m.cols) throw new RangeError(`leadingColumns: ${count} > ${m.cols} columns`);
  const out = new Float64Array(m.rows * count);
  for (let i = 0; i < m.rows; i++) out.set(m.data.subarray(i * m.cols, i * m.cols + count), i * count);
  return { rows: m.rows, cols: count, data: out };
}

export function frobeniusNorm(m: Matrix): number {
  return norm2(m.data);
}

/** Euclidean norm of a vector, scaled so that squaring cannot overflow or underflow. */
export function norm2(v: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < v.length; i++) scale = Math.max(scale, Math.abs(v[i] as number));
  if (scale === 0 || !Number.isFinite(scale)) return scale;
  let s = 0;
  for (let i = 0; i < v.length; i++) {
    const x = (v[i] as number) / scale;
    s += x * x;
  }
  return scale * Math.sqrt(s);
}

/** |A - B|_F. */
export function frobeniusDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`frobeniusDistance: ${a.length} vs ${b.length} values`);
  const d = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) d[i] = (a[i] as number) - (b[i] as number);
  return norm2(d);
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { symmetricEigen } from '../../src/linalg/eig.js';
import { fromRows, gram, identity, matmul, transpose, zeros, type Matrix } from '../../src/linalg/matrix.js';
import { orthonormalityError, randomMatrix } from './fixtures.js';

function symmetric(n: number, seed: number): Matrix {
  const r = randomMatrix(n, n, seed);
  const s = zeros(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s.data[i * n + j] = (r.data[i * n + j] as number) + (r.data[j * n + i] as number);
  return s;
}

/** max |A v_j - lambda_j v_j| over all pairs. */
function residual(a: Matrix, values: Float64Array, vectors: Matrix): number {
  const n = a.rows;
  const av = matmul(a, transpose(vectors)); // column j = A v_j
  let worst = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      worst = Math.max(worst, Math.abs((av.data[i * n + j] as number) - (values[j] as number) * (vectors.data[j * n + i] as number)));
    }
  }
  return worst;
}

test('random symmetric matrices: A v = lambda v, orthonormal vectors, descending values', () => {
  for (const n of [1, 2, 3, 10, 57, 120]) {
    const a = symmetric(n, n);
    const { values, vectors } = symmetricEigen(a);
    assert.ok(vectors);
    assert.ok(residual(a, values, vectors) < 1e-12 * n, `residual n=${n}`);
    assert.ok(orthonormalityError(transpose(vectors)) < 1e-12 * n, `orthonormality n=${n}`);
    for (let i = 1; i < n; i++) assert.ok((values[i - 1] as number) >= (values[i] as number));
    let trace = 0, sum = 0;
    for (let i = 0; i < n; i++) trace += a.data[i * n + i] as number;
    for (const v of values) sum += v;
    assert.ok(Math.abs(trace - sum) < 1e-10 * n);
    const only = symmetricEigen(a, { vectors: false });
    assert.equal(only.vectors, undefined);
    for (let i = 0; i < n; i++) assert.ok(Math.abs((only.values[i] as number) - (values[i] as number)) < 1e-12 * n, `values-only path n=${n}`);
  }
});

test('known spectra: diagonal, 2x2 closed form, repeated and zero eigenvalues, Gram of rank 2', () => {
  assert.deepEqual(Array.from(symmetricEigen(fromRows([[1, 0, 0], [0, 3, 0], [0, 0, 2]])).values), [3, 2, 1]);
  const { values } = symmetricEigen(fromRows([[2, 1], [1, 2]]));
  assert.ok(Math.abs((values[0] as number) - 3) < 1e-15 && Math.abs((values[1] as number) - 1) < 1e-15);
  const id = symmetricEigen(identity(5));
  assert.deepEqual(Array.from(id.values), [1, 1, 1, 1, 1]);
  assert.ok(id.vectors && orthonormalityError(id.vectors) < 1e-15);
  const z = symmetricEigen(zeros(4, 4));
  assert.deepEqual(Array.from(z.values), [0, 0, 0, 0]);
  // A (6 x 2) has rank 2: A A^T has 4 zero eigenvalues.
  const low = gram(randomMatrix(6, 2, 9));
  const lv = symmetricEigen(low).values;
  for (let i = 2; i < 6; i++) assert.ok(Math.abs(lv[i] as number) < 1e-14);
  // Scale invariance: huge and tiny entries do not overflow or underflow.
  const scaled = symmetricEigen(fromRows([[2e200, 1e200], [1e200, 2e200]])).values;
  assert.ok(Math.abs((scaled[0] as number) / 3e200 - 1) < 1e-14);
  const tiny = symmetricEigen(fromRows([[2e-200, 1e-200], [1e-200, 2e-200]])).values;
  assert.ok(Math.abs((tiny[1] as number) / 1e-200 - 1) < 1e-14);
});

test('non-square and non-finite input throw', () => {
  assert.throws(() => symmetricEigen(zeros(2, 3)), /square/);
  assert.throws(() => symmetricEigen(fromRows([[NaN]])), /non-finite/);
  assert.equal(symmetricEigen(zeros(0, 0)).values.length, 0);
});

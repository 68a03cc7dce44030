import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frobeniusDistance, matmul, norm2, transpose, type Matrix } from '../../src/linalg/matrix.js';
import { leftSingularVectors, leftSpectrum, singularValues, svd } from '../../src/linalg/svd.js';
import { generate, linalgCases, orthonormalityError, randomMatrix } from './fixtures.js';

function reconstruct(u: Matrix, s: Float64Array, v: Matrix): Matrix {
  const us = { rows: u.rows, cols: u.cols, data: u.data.map((x, i) => x * (s[i % u.cols] as number)) };
  return matmul(us, transpose(v));
}

test('singular values match numpy (LAPACK) on the fixture matrices', () => {
  const cases = linalgCases();
  assert.ok(cases.length >= 5);
  for (const c of cases) {
    const y = generate(c.rows, c.cols, c.rank, c.noise, c.seed);
    const s = singularValues(y);
    assert.equal(s.length, c.singularValues.length, c.name);
    const s1 = c.singularValues[0] as number;
    // Gram-based values are accurate to ~eps * s1^2 / s_i: compare relative to s1 with a floor.
    c.singularValues.forEach((want, i) => {
      const tol = 1e-12 * s1 + 1e-12 * (s1 * s1) / Math.max(want, 1e-300);
      assert.ok(Math.abs((s[i] as number) - want) <= Math.max(tol, 1e-9 * s1), `${c.name} s[${i}] ${s[i]} vs ${want}`);
    });
  }
});

test('thin SVD of wide and tall matrices: reconstruction and orthonormal factors', () => {
  for (const [m, n] of [[12, 30], [30, 12], [25, 25], [1, 8], [8, 1]] as const) {
    const a = randomMatrix(m, n, m * 31 + n);
    const { u, s, v } = svd(a);
    const k = Math.min(m, n);
    assert.equal(u.cols, k);
    assert.equal(v.cols, k);
    assert.ok(frobeniusDistance(reconstruct(u, s, v).data, a.data) < 1e-12 * norm2(a.data), `reconstruct ${m}x${n}`);
    assert.ok(orthonormalityError(u) < 1e-12, `U ${m}x${n}`);
    assert.ok(orthonormalityError(v) < 1e-12, `V ${m}x${n}`);
  }
});

test('truncated SVD error equals the discarded singular values (Eckart-Young)', () => {
  const a = randomMatrix(20, 35, 5);
  const all = singularValues(a);
  for (const r of [1, 5, 19]) {
    const { u, s, v } = svd(a, r);
    let tail = 0;
    for (let i = r; i < all.length; i++) tail += (all[i] as number) ** 2;
    const err = frobeniusDistance(reconstruct(u, s, v).data, a.data);
    assert.ok(Math.abs(err - Math.sqrt(tail)) < 1e-10, `rank ${r}`);
  }
  assert.throws(() => svd(a, 21), /rank 21/);
});

test('leading left singular vectors: same subspace on both Gram sides, and basis completion past the short side', () => {
  const tall = randomMatrix(30, 8, 77); // rows > cols: computed through A^T A
  const { u, s } = leftSingularVectors(tall, 5);
  assert.equal(s.length, 8);
  assert.ok(orthonormalityError(u) < 1e-12);
  const ref = svd(tall, 5);
  // Same column space: |U^T U_ref| has singular values 1.
  const overlap = singularValues(matmul(transpose(u), ref.u));
  for (const x of overlap) assert.ok(Math.abs(x - 1) < 1e-10);
  const full = leftSingularVectors(tall, 12); // more than the 8 columns: completed basis
  assert.equal(full.u.cols, 12);
  assert.ok(orthonormalityError(full.u) < 1e-10);
  const spec = leftSpectrum(tall);
  assert.ok(orthonormalityError(spec.leading(12)) < 1e-10);
  assert.ok(orthonormalityError(spec.leading(3)) < 1e-12);
  assert.throws(() => spec.leading(31), /count 31/);
});

test('rank-deficient input: exact zeros stay zero, right vectors of zero singular values are zero columns', () => {
  const lowRank = generate(10, 14, 3, 0, 4);
  const { s, v } = svd(lowRank);
  for (let i = 3; i < s.length; i++) assert.ok((s[i] as number) < 1e-7 * (s[0] as number));
  assert.ok(orthonormalityError({ rows: v.rows, cols: 3, data: Float64Array.from({ length: v.rows * 3 }, (_, k) => v.data[Math.floor(k / 3) * v.cols + (k % 3)] as number) }) < 1e-10);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frobeniusDistance, fromRows, gram, identity, leadingColumns, matmul, matmulTransA, matmulTransB, norm2, transpose, type Matrix } from '../../src/linalg/matrix.js';
import { randomMatrix } from './fixtures.js';

function naiveProduct(a: Matrix, b: Matrix): Matrix {
  const out = { rows: a.rows, cols: b.cols, data: new Float64Array(a.rows * b.cols) };
  for (let i = 0; i < a.rows; i++) {
    for (let j = 0; j < b.cols; j++) {
      let s = 0;
      for (let p = 0; p < a.cols; p++) s += (a.data[i * a.cols + p] as number) * (b.data[p * b.cols + j] as number);
      out.data[i * b.cols + j] = s;
    }
  }
  return out;
}

test('products agree with the textbook triple loop, odd sizes exercising the 2x4 kernel edges', () => {
  for (const [n, k, m] of [[1, 1, 1], [2, 3, 4], [7, 5, 9], [13, 17, 6], [3, 1, 5]] as const) {
    const a = randomMatrix(n, k, n * 100 + k);
    const b = randomMatrix(k, m, m * 7 + 1);
    const want = naiveProduct(a, b);
    assert.ok(frobeniusDistance(matmul(a, b).data, want.data) < 1e-13, `matmul ${n}x${k}x${m}`);
    assert.ok(frobeniusDistance(matmulTransA(transpose(a), b).data, want.data) < 1e-13, `matmulTransA ${n}x${k}x${m}`);
    assert.ok(frobeniusDistance(matmulTransB(a, transpose(b)).data, want.data) < 1e-13, `matmulTransB ${n}x${k}x${m}`);
    assert.ok(frobeniusDistance(gram(a).data, naiveProduct(a, transpose(a)).data) < 1e-13, `gram ${n}x${k}`);
  }
});

test('transpose, identity, leading columns and norms', () => {
  const a = fromRows([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(Array.from(transpose(a).data), [1, 4, 2, 5, 3, 6]);
  assert.deepEqual(Array.from(matmul(identity(2), a).data), Array.from(a.data));
  assert.deepEqual(Array.from(leadingColumns(a, 2).data), [1, 2, 4, 5]);
  assert.equal(norm2([3, 4]), 5);
  assert.ok(Math.abs(norm2([3e200, 4e200]) / 5e200 - 1) < 1e-15, 'no overflow');
  assert.ok(Math.abs(norm2([3e-200, 4e-200]) / 5e-200 - 1) < 1e-15, 'no underflow');
  const big = randomMatrix(70, 45, 3);
  assert.deepEqual(transpose(transpose(big)).data, big.data);
});

test('shape mismatches throw', () => {
  assert.throws(() => matmul(randomMatrix(2, 3, 1), randomMatrix(2, 3, 2)), /matmul/);
  assert.throws(() => fromRows([[1, 2], [3]]), /row 1/);
});

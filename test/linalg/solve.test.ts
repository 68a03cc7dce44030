import { test } from 'node:test';
import assert from 'node:assert/strict';
import { solveSpd } from '../../src/linalg/solve.js';
import { matmulTransA, type Matrix } from '../../src/linalg/matrix.js';
import { Random } from '../../src/util/random.js';

function random(rows: number, cols: number, rng: Random): Matrix {
  return { rows, cols, data: Float64Array.from({ length: rows * cols }, () => rng.normal()) };
}

test('solveSpd solves the normal equations of a well-posed least-squares problem', () => {
  const rng = new Random(3);
  const p = random(200, 12, rng);
  const truth = random(12, 3, rng);
  // Y = P X exactly, so the solution of (P^T P) X = P^T Y is X (up to the tiny ridge).
  const y: Matrix = { rows: 200, cols: 3, data: new Float64Array(600) };
  for (let r = 0; r < 200; r++) for (let c = 0; c < 3; c++) {
    let s = 0;
    for (let k = 0; k < 12; k++) s += (p.data[r * 12 + k] as number) * (truth.data[k * 3 + c] as number);
    y.data[r * 3 + c] = s;
  }
  const x = solveSpd(matmulTransA(p, p), matmulTransA(p, y), 1e-12);
  for (let i = 0; i < truth.data.length; i++) assert.ok(Math.abs((x.data[i] as number) - (truth.data[i] as number)) < 1e-8, `entry ${i}`);
});

test('solveSpd stays finite on a singular matrix thanks to the ridge', () => {
  const a: Matrix = { rows: 2, cols: 2, data: Float64Array.of(1, 1, 1, 1) };
  const b: Matrix = { rows: 2, cols: 1, data: Float64Array.of(2, 2) };
  const x = solveSpd(a, b, 1e-6);
  assert.ok(x.data.every(Number.isFinite));
  // The minimum-norm solution of x1 + x2 = 2 is (1, 1); the ridge picks it.
  assert.ok(Math.abs((x.data[0] as number) - 1) < 1e-3 && Math.abs((x.data[1] as number) - 1) < 1e-3);
  assert.throws(() => solveSpd(a, { rows: 3, cols: 1, data: new Float64Array(3) }), /solveSpd/);
});

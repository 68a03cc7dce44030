import { test } from 'node:test';
import assert from 'node:assert/strict';
import { transpose, zeros } from '../../src/linalg/matrix.js';
import { evbmf, evbmfFromSingularValues } from '../../src/decompose/vbmf.js';
import { energyRank } from '../../src/decompose/ranks.js';
import { RebirthError } from '../../src/errors.js';
import { generate, linalgCases } from '../linalg/fixtures.js';

test('EVBMF matches the numpy reference implementation (rank, noise variance, threshold)', () => {
  for (const c of linalgCases()) {
    const got = evbmf(generate(c.rows, c.cols, c.rank, c.noise, c.seed));
    assert.equal(got.rank, c.evbmf.rank, `${c.name} rank`);
    assert.ok(Math.abs(got.sigma2 / c.evbmf.sigma2 - 1) < 1e-5, `${c.name} sigma2 ${got.sigma2} vs ${c.evbmf.sigma2}`);
    assert.ok(Math.abs(got.threshold / c.evbmf.threshold - 1) < 1e-5, `${c.name} threshold`);
  }
});

test('EVBMF recovers the true rank of low-rank + noise matrices and the noise variance', () => {
  // Uniform noise on [-0.5, 0.5) * noise has variance noise^2 / 12.
  const cases: Array<[number, number, number, number, number]> = [
    [40, 60, 5, 0.02, 11], [72, 48, 8, 0.02, 12], [32, 288, 12, 0.01, 14], [120, 200, 20, 0.05, 21], [64, 64, 1, 0.02, 22],
  ];
  for (const [rows, cols, rank, noise, seed] of cases) {
    const r = evbmf(generate(rows, cols, rank, noise, seed));
    assert.equal(r.rank, rank, `${rows}x${cols} rank ${rank}`);
    const variance = (noise * noise) / 12;
    assert.ok(Math.abs(r.sigma2 / variance - 1) < 0.15, `${rows}x${cols} sigma2 ${r.sigma2} vs ${variance}`);
  }
  // Pure noise: nothing is kept; this is what untrained (i.i.d. initialised) weights look like.
  assert.equal(evbmf(generate(64, 576, 0, 0.1, 3)).rank, 0);
});

test('EVBMF is symmetric under transposition; known sigma2 skips the estimate; zero matrix has rank 0', () => {
  const y = generate(30, 70, 4, 0.03, 8);
  const a = evbmf(y);
  const b = evbmf(transpose(y));
  assert.equal(a.rank, b.rank);
  assert.ok(Math.abs(a.sigma2 / b.sigma2 - 1) < 1e-9);
  const known = evbmf(y, { sigma2: 0.03 ** 2 / 12 });
  assert.equal(known.rank, 4);
  assert.equal(known.sigma2, 0.03 ** 2 / 12);
  assert.equal(evbmf(zeros(5, 9)).rank, 0);
  assert.throws(() => evbmfFromSingularValues([3, 2], 3, 9), RebirthError);
  assert.throws(() => evbmf(y, { sigma2: -1 }), /sigma2/);
});

test('energy rank keeps the smallest prefix reaching the fraction of squared mass', () => {
  const s = [3, 2, 1, 1]; // squares 9, 4, 1, 1 of 15
  assert.equal(energyRank(s, 0.5), 1); // 9/15 = 0.6
  assert.equal(energyRank(s, 0.6), 1);
  assert.equal(energyRank(s, 0.61), 2); // 13/15
  assert.equal(energyRank(s, 0.9), 3); // 14/15
  assert.equal(energyRank(s, 1), 4);
  assert.equal(energyRank([0, 0], 0.9), 1);
});

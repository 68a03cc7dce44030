import { test } from 'node:test';
import assert from 'node:assert/strict';
import { minimizeBounded } from '../../src/linalg/minimize.js';

test('bounded Brent finds interior minima to the tolerance', () => {
  const r = minimizeBounded((x) => (x - 2) ** 2 + 1, 0, 5);
  assert.ok(Math.abs(r.x - 2) < 1e-5 && Math.abs(r.fx - 1) < 1e-9 && r.converged);
  const c = minimizeBounded((x) => Math.cos(x), 0, 2 * Math.PI, { xatol: 1e-10 });
  assert.ok(Math.abs(c.x - Math.PI) < 1e-8);
  // x - log x, minimum at 1: the shape of the VBMF objective's noise terms.
  const v = minimizeBounded((x) => x - Math.log(x), 0.01, 50);
  assert.ok(Math.abs(v.x - 1) < 1e-4);
});

test('minima on the boundary are approached from inside; bad bounds throw; evaluations are capped', () => {
  const r = minimizeBounded((x) => x, 1, 3);
  assert.ok(r.x >= 1 && r.x - 1 < 1e-4);
  assert.throws(() => minimizeBounded((x) => x, 3, 1), /exceeds/);
  const capped = minimizeBounded((x) => (x - 0.3) ** 2, 0, 1, { maxEvaluations: 3, xatol: 1e-14 });
  assert.equal(capped.evaluations, 3);
  assert.equal(capped.converged, false);
});

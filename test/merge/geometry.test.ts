import { test } from 'node:test';
import assert from 'node:assert/strict';
import { composeWindows, solvePadEnd, windowOutputSize, type Window1D } from '../../src/merge/geometry.js';

test('GoogLeNet conv1 at 224: k 7 s 2 p 3 + pool 3/2 ceil -> k 11 s 4 pads 3 / 4', () => {
  const conv: Window1D = { kernel: 7, stride: 2, padBegin: 3, padEnd: 3, ceil: false };
  const pool: Window1D = { kernel: 3, stride: 2, padBegin: 0, padEnd: 0, ceil: true };
  assert.equal(windowOutputSize(224, conv), 112);
  assert.equal(windowOutputSize(112, pool), 56);
  const c = composeWindows([conv, pool]);
  assert.deepEqual({ kernel: c.kernel, stride: c.stride, padBegin: c.padBegin }, { kernel: 11, stride: 4, padBegin: 3 });
  assert.equal(solvePadEnd(224, 56, 11, 4, 3), 4);
});

test('ceil mode drops a last window starting in the end padding (ORT kernels)', () => {
  assert.equal(windowOutputSize(4, { kernel: 2, stride: 2, padBegin: 0, padEnd: 1, ceil: true }), 2);
  assert.equal(windowOutputSize(14, { kernel: 3, stride: 2, padBegin: 0, padEnd: 0, ceil: true }), 7);
  assert.equal(windowOutputSize(13, { kernel: 3, stride: 2, padBegin: 0, padEnd: 0, ceil: true }), 6);
});

test('solvePadEnd returns undefined when even zero end padding gives too many outputs', () => {
  assert.equal(solvePadEnd(5, 1, 1, 1, 0), undefined);
  assert.equal(solvePadEnd(5, 5, 1, 1, 0), 0);
});

/**
 * Brute force over small geometries: the covering conv exists for every conv + pool (+ pool) chain, and
 * each of its windows spans exactly the input pixels (padding positions included) that the corresponding
 * output of the original chain depends on.
 */
test('the covering kernel always exists and its windows equal the original receptive fields', () => {
  let checked = 0;
  for (let size = 5; size <= 16; size++) {
    for (const [k, s, p] of [[1, 1, 0], [3, 1, 1], [3, 2, 1], [5, 2, 2], [7, 2, 3], [2, 2, 0]] as const) {
      for (const [pk, ps, pp, ceil] of [[2, 2, 0, false], [3, 2, 0, true], [3, 2, 1, true], [3, 1, 1, false], [2, 2, 1, true], [3, 3, 0, true]] as const) {
        const chain: Window1D[] = [{ kernel: k, stride: s, padBegin: p, padEnd: p, ceil: false }, { kernel: pk, stride: ps, padBegin: pp, padEnd: pp, ceil }];
        let n = size;
        for (const w of chain) n = windowOutputSize(n, w);
        if (n < 1 || windowOutputSize(size, chain[0] as Window1D) < 1) continue;
        const c = composeWindows(chain);
        const end = solvePadEnd(size, n, c.kernel, c.stride, c.padBegin);
        assert.ok(end !== undefined, `size ${size} conv ${k}/${s}/${p} pool ${pk}/${ps}/${pp}${ceil ? ' ceil' : ''}`);
        assert.equal(windowOutputSize(size, { kernel: c.kernel, stride: c.stride, padBegin: c.padBegin, padEnd: end, ceil: false }), n);
        for (let i = 0; i < n; i++) {
          // Original: pool output i reads conv outputs j in [i*ps - pp, i*ps - pp + pk - 1] (padding
          // included), each reading inputs [j*s - p, j*s - p + k - 1].
          const lo = (i * ps - pp) * s - p;
          const hi = (i * ps - pp + pk - 1) * s - p + k - 1;
          assert.equal(i * c.stride - c.padBegin, lo);
          assert.equal(i * c.stride - c.padBegin + c.kernel - 1, hi);
        }
        checked++;
      }
    }
  }
  assert.ok(checked > 300, `checked ${checked}`);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseClock, InterleavedTimer, pairedGain, pairedRatios, roundOrder, timeModels, wallOverCpu, type LatencyStats } from '../../src/runtime/timing.js';
import { convStackModel } from './fixtures.js';

test('pairedRatios pairs round i of both models and drops rounds without a positive time', () => {
  assert.deepEqual(pairedRatios([10, 20, 30, 8], [5, 10, 0, NaN]), [2, 2]);
  const s = (runs: number[]): LatencyStats => ({ medianMs: 0, p90Ms: 0, minMs: 0, cpuMedianMs: 0, runs, cpuRuns: runs });
  assert.equal(pairedGain(s([10, 10, 90]), s([5, 5, 5])), 2);
});

test('chooseClock: wall time while runs had a core, CPU time once waiting for one inflates the wall clock', () => {
  const clean = { wall: [[1.02, 1.01, 1.03], [2.0, 2.02, 2.01]], cpu: [[1, 1, 1], [2, 2, 2]] };
  const waited = { wall: [[1.6, 1.5, 1.02], [3.1, 2.9, 2.8]], cpu: [[1, 1, 1], [2, 2, 2]] };
  assert.equal(chooseClock(clean, 1), 'wall');
  assert.equal(chooseClock(waited, 1), 'cpu');
  // CPU time sums threads: with several it would misstate a parallel speed-up, so wall time stays.
  assert.equal(chooseClock(waited, 2), 'wall');
  assert.ok(Math.abs(wallOverCpu([1.5, 3], [1, 2]) - 1.5) < 1e-12);
});

test('InterleavedTimer rotates the order of models from round to round and keeps every round', async () => {
  assert.deepEqual([0, 1, 2, 3].map((r) => roundOrder(r, 2)), [[0, 1], [1, 0], [0, 1], [1, 0]]);
  assert.deepEqual([0, 1, 2].map((r) => roundOrder(r, 3)), [[0, 1, 2], [1, 2, 0], [2, 0, 1]]);
  const bytes = convStackModel(1, 4, 8);
  const timer = await InterleavedTimer.open({ a: bytes, b: bytes, c: bytes }, { warmup: 1, warmupMs: 0 });
  try {
    const first = await timer.rounds(4);
    assert.deepEqual(first.wall.map((w) => w.length), [4, 4, 4]);
    await timer.rounds(2);
    const all = timer.all();
    assert.deepEqual(all.wall.map((w) => w.length), [6, 6, 6]);
    assert.deepEqual(all.cpu.map((c) => c.length), [6, 6, 6]);
    assert.ok(all.wall.flat().every((t) => t > 0));
    assert.equal(timer.stats().b?.runs.length, 6);
  } finally {
    await timer.release();
  }
  const stats = await timeModels({ x: bytes }, { runs: 3, warmup: 1, warmupMs: 0 });
  assert.equal(stats.x?.runs.length, 3);
});

test('InterleavedTimer createLast changes only which session is created last: times stay under their own names', async () => {
  // A deep stack is many times slower than a one-conv one, so a swapped mapping would show at once.
  const small = convStackModel(1, 16, 32);
  const big = convStackModel(12, 16, 32);
  const timer = await InterleavedTimer.open({ big, small }, { warmup: 1, warmupMs: 0, createLast: 'big' });
  try {
    assert.deepEqual(timer.names, ['big', 'small']);
    await timer.rounds(5);
    const s = timer.stats();
    assert.ok((s.big?.medianMs ?? 0) > (s.small?.medianMs ?? Infinity), `big ${s.big?.medianMs} ms vs small ${s.small?.medianMs} ms`);
  } finally {
    await timer.release();
  }
});

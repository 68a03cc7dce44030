import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Random, deriveSeed } from '../../src/util/random.js';

void describe('Random (xoshiro128**)', () => {
  void test('same seed, same sequence; streams and seeds differ', () => {
    const seq = (r: Random): number[] => Array.from({ length: 8 }, () => r.nextUint32());
    assert.deepEqual(seq(new Random(1)), seq(new Random(1)));
    assert.notDeepEqual(seq(new Random(1)), seq(new Random(2)));
    assert.notDeepEqual(seq(new Random(1, 0)), seq(new Random(1, 1)));
    assert.notDeepEqual(seq(new Random(1, 1, 2)), seq(new Random(1, 2, 1)));
    assert.notDeepEqual(seq(new Random(1)), seq(new Random(2 ** 32 + 1)));
    assert.equal(deriveSeed(5, 6), deriveSeed(5, 6));
  });

  void test('golden values: the sequence must never change (checkpoints depend on it)', () => {
    const r = new Random(12345);
    assert.deepEqual(Array.from({ length: 4 }, () => r.nextUint32()), GOLDEN);
  });

  void test('matches a reference xoshiro128** for a known state', () => {
    // State {1, 2, 3, 4}: first outputs of the published algorithm, checked against an independent
    // BigInt transcription of the C reference code.
    const r = new Random(0);
    r.setState([1, 2, 3, 4]);
    assert.deepEqual(Array.from({ length: 4 }, () => r.nextUint32()), [11520, 0, 5927040, 70819200]);
  });

  void test('getState/setState resumes exactly', () => {
    const a = new Random(9);
    for (let i = 0; i < 100; i++) a.nextUint32();
    const saved = a.getState();
    const next = Array.from({ length: 10 }, () => a.nextFloat());
    const b = new Random(0);
    b.setState(saved);
    assert.deepEqual(Array.from({ length: 10 }, () => b.nextFloat()), next);
    assert.throws(() => b.setState([0, 0, 0, 0]), RangeError);
  });

  void test('nextFloat in [0,1) and stays below 1 as float32', () => {
    const r = new Random(3);
    let sum = 0;
    for (let i = 0; i < 100_000; i++) {
      const v = r.nextFloat();
      assert.ok(v >= 0 && v < 1 && Math.fround(v) < 1);
      sum += v;
    }
    assert.ok(Math.abs(sum / 100_000 - 0.5) < 0.01);
  });

  void test('nextInt is uniform-ish and in range', () => {
    const r = new Random(4);
    const counts = new Array<number>(7).fill(0);
    for (let i = 0; i < 70_000; i++) {
      const k = r.nextInt(7);
      counts[k] = (counts[k] ?? 0) + 1;
    }
    for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `count ${c}`);
    assert.equal(new Random(1).nextInt(1), 0);
    assert.throws(() => r.nextInt(0), RangeError);
    assert.throws(() => r.nextInt(2.5), RangeError);
  });

  void test('normal has mean ~0 and std ~1', () => {
    const r = new Random(5);
    const n = 50_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const v = r.normal();
      assert.ok(Number.isFinite(v));
      s += v;
      s2 += v * v;
    }
    const mean = s / n;
    assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
    assert.ok(Math.abs(Math.sqrt(s2 / n - mean * mean) - 1) < 0.02);
    assert.ok(Math.abs(new Random(5).normal(10, 0.001) - 10) < 0.01);
  });

  void test('shuffleInPlace: a permutation of plain and typed arrays, all orders reachable', () => {
    const r = new Random(6);
    const arr = Array.from({ length: 20 }, (_, i) => i);
    assert.deepEqual([...r.shuffleInPlace(arr)].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
    const typed = Uint32Array.from([1, 2, 3]);
    assert.equal(r.shuffleInPlace(typed), typed);
    const seen = new Set<string>();
    for (let i = 0; i < 600; i++) seen.add(r.shuffleInPlace([1, 2, 3]).join());
    assert.equal(seen.size, 6);
  });
});

const GOLDEN = [3743214590, 1588509048, 3630577208, 2334726827];

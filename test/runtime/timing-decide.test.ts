import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideAdaptive, decideFaster, judge, midmean, pairedInterval, plannedLooks, resolveDecideOptions, type DecideOptions } from '../../src/runtime/decide.js';
import type { RoundTimes } from '../../src/runtime/timing.js';
import { RebirthError } from '../../src/errors.js';
import { Random } from '../../src/util/random.js';
import { convStackModel } from './fixtures.js';

/**
 * A synthetic source of paired rounds: baseline runs of `base` ms, candidate runs `base / speedup`,
 * each multiplied by log-normal noise of relative size `noise`; with probability `spikes` a run is
 * also preempted (1-3x longer), independently in each member of a pair, as on a loaded machine.
 */
function source(seed: number, speedup: number, noise: number, spikes = 0, base = 10): (n: number) => RoundTimes {
  const rng = new Random(seed);
  const run = (ms: number): number => ms * Math.exp(rng.normal(0, noise)) * (rng.nextFloat() < spikes ? 1 + 2 * rng.nextFloat() : 1);
  return (n) => {
    const a = Array.from({ length: n }, () => run(base));
    const b = Array.from({ length: n }, () => run(base / speedup));
    return { wall: [a, b], cpu: [a, b] };
  };
}

async function keepRate(speedup: number, noise: number, spikes: number, trials: number, options: DecideOptions = {}): Promise<{ rate: number; rounds: number }> {
  let keeps = 0;
  let rounds = 0;
  for (let t = 0; t < trials; t++) {
    const d = await decideAdaptive(source(100 + t, speedup, noise, spikes), { clock: 'wall', resamples: 500, ...options });
    if (d.keep) keeps++;
    rounds += d.rounds;
  }
  return { rate: keeps / trials, rounds: rounds / trials };
}

test('midmean averages the middle half; pairedInterval brackets a known paired ratio', () => {
  assert.equal(midmean([1, 2, 3, 4, 100, 200, 300, 400].sort((a, b) => a - b)), (3 + 4 + 100 + 200) / 4);
  assert.equal(midmean([1, 2, 3]), 2);
  const a = [10, 11, 9, 10.5, 9.5, 10, 10.2, 9.8];
  const b = a.map((x) => x / 1.25);
  const r = pairedInterval(a, b);
  assert.ok(Math.abs(r.ratio - 1.25) < 1e-9);
  assert.ok(Math.abs(r.interval[0] - 1.25) < 1e-9 && Math.abs(r.interval[1] - 1.25) < 1e-9, 'constant ratio: zero width');
  const noisy = source(1, 1.1, 0.05)(30);
  const n = pairedInterval(noisy.wall[0] as number[], noisy.wall[1] as number[], { confidence: 0.95 });
  assert.ok(n.interval[0] < n.ratio && n.ratio < n.interval[1]);
  assert.ok(n.interval[0] < 1.1 && 1.1 < n.interval[1], `${n.interval.join('-')}`);
  // Seeded: the same times give the same interval.
  assert.deepEqual(pairedInterval(noisy.wall[0] as number[], noisy.wall[1] as number[]), pairedInterval(noisy.wall[0] as number[], noisy.wall[1] as number[]));
});

test('accepts a clear 10% gain, and stops at the first look', async () => {
  const d = await decideAdaptive(source(7, 1.1, 0.02), { clock: 'wall' });
  assert.equal(d.keep, true, d.reason);
  assert.equal(d.rounds, 10);
  assert.equal(d.looks, 1);
  assert.ok(d.interval[0] > 1 && Math.abs(d.ratio - 1.1) < 0.03, d.reason);
  assert.match(d.reason, /^kept: faster: 1\.\d{3}x .* over 10 paired rounds, wall time$/);
});

test('rejects identical distributions: false keeps stay under 5% over 200 seeded A/A comparisons', async () => {
  for (const [noise, spikes] of [[0.03, 0], [0.1, 0], [0.05, 0.2]] as const) {
    const { rate } = await keepRate(1, noise, spikes, 200);
    assert.ok(rate < 0.05, `noise ${noise}, spikes ${spikes}: ${(100 * rate).toFixed(1)}% false keeps`);
  }
});

test('leaves a quiet A/A comparison early, and a real gain below minGain at the cap', async () => {
  const aa = await decideAdaptive(source(3, 1, 0.01), { clock: 'wall' });
  assert.equal(aa.keep, false);
  assert.equal(aa.rounds, 10, aa.reason);
  assert.match(aa.reason, /^left: no gain of 3% or more/);
  const small = await decideAdaptive(source(4, 1.01, 0.01), { clock: 'wall' });
  assert.equal(small.keep, false, small.reason);
  const slower = await decideAdaptive(source(5, 0.9, 0.02), { clock: 'wall' });
  assert.equal(slower.keep, false);
  assert.match(slower.reason, /^left: slower/);
  // The same 1% gain is kept when the caller asks for any real gain.
  const any = await decideAdaptive(source(4, 1.01, 0.005), { clock: 'wall', minGain: 0 });
  assert.equal(any.keep, true, any.reason);
});

test('noise keeps a comparison open for more rounds, up to the cap, and preemption spikes do not flip it', async () => {
  const noisy = await keepRate(1.1, 0.15, 0, 20);
  assert.ok(noisy.rounds > 10, `${noisy.rounds} rounds on average`);
  const capped = await decideAdaptive(source(9, 1.04, 0.3), { clock: 'wall', maxRounds: 30 });
  assert.ok(capped.rounds <= 30);
  // 20% of runs preempted at random in either model: a 15% gain is still found most of the time.
  const spiky = await keepRate(1.15, 0.02, 0.2, 20);
  assert.ok(spiky.rate >= 0.8, `${(100 * spiky.rate).toFixed(0)}% kept`);
});

test('the clock is CPU time when waiting for a core contaminates the wall clock', async () => {
  const rng = new Random(11);
  const d = await decideAdaptive((n) => {
    const cpuA = Array.from({ length: n }, () => 10 * Math.exp(rng.normal(0, 0.01)));
    const cpuB = Array.from({ length: n }, () => 8 * Math.exp(rng.normal(0, 0.01)));
    // Half of the wall time is spent waiting, at random: the wall clock alone could not decide.
    const wait = (c: number): number => c * (1 + rng.nextFloat());
    return { wall: [cpuA.map(wait), cpuB.map(wait)], cpu: [cpuA, cpuB] };
  });
  assert.equal(d.clock, 'cpu');
  assert.equal(d.keep, true, d.reason);
  assert.match(d.reason, /CPU time/);
});

test('each look uses the Bonferroni-adjusted confidence, and options are checked', () => {
  const o = resolveDecideOptions({ minRounds: 10, maxRounds: 40, step: 10 });
  assert.equal(plannedLooks(resolveDecideOptions()), 3, 'defaults: looks at 10, 20, 30 rounds');
  assert.equal(plannedLooks(o), 4);
  const a = [10, 10.1, 9.9, 10.05, 9.95, 10, 10.02, 9.98, 10.01, 9.99];
  const j = judge(a, a.map((x) => x / 1.2), { final: false });
  assert.equal(j.verdict, 'keep');
  assert.ok(Math.abs(j.confidence - (1 - 0.05 / 3)) < 1e-12);
  for (const bad of [{ confidence: 1 }, { minGain: -0.1 }, { maxRounds: 2 }, { step: 0 }, { resamples: 10 }]) {
    assert.throws(() => resolveDecideOptions(bad), (e: unknown) => e instanceof RebirthError && !e.message.includes('\n'), JSON.stringify(bad));
  }
  assert.throws(() => pairedInterval([1, 2], [1, 2]), /at least 3 rounds/);
});

// Whether an identical copy is left is a rate, not a certainty: bench/aa-decisions.ts measures it.
test('decideFaster on ONNX Runtime: a much cheaper model is kept, within the round cap', async () => {
  const heavy = convStackModel(6, 16, 32);
  const light = convStackModel(1, 16, 32);
  const same = await decideFaster(heavy, heavy.slice(), { maxRounds: 20 });
  assert.ok(same.measuringMs > 0 && same.rounds >= 10 && same.rounds <= 20, same.reason);
  const faster = await decideFaster(heavy, light, { maxRounds: 20 });
  assert.equal(faster.keep, true, faster.reason);
  assert.ok(faster.ratio > 2, faster.reason);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideAdaptive, decideFaster, judge, pairedInterval, plannedLooks, resolveDecideOptions, signTestRank, type DecideOptions } from '../../src/runtime/decide.js';
import type { RoundTimes } from '../../src/runtime/timing.js';
import { RebirthError } from '../../src/errors.js';
import { Random } from '../../src/util/random.js';
import { convStackModel } from './fixtures.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { optimizeModel } from '../../src/rewrite/optimize.js';

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
    const d = await decideAdaptive(source(100 + t, speedup, noise, spikes), { clock: 'wall', ...options });
    if (d.keep) keeps++;
    rounds += d.rounds;
  }
  return { rate: keeps / trials, rounds: rounds / trials };
}

test('signTestRank inverts the sign test: the interval [d_(k), d_(n+1-k)] covers the median with the confidence asked', () => {
  // P(Bin(10, 1/2) <= 0) = 1/1024 <= 0.005 < P(<= 1) = 11/1024: k = 1, the extremes.
  assert.equal(signTestRank(10, 0.005), 1);
  // n = 20 at 2.5% per side: P(<= 5) = 0.0207, P(<= 6) = 0.0577, so k = 6.
  assert.equal(signTestRank(20, 0.025), 6);
  // Five rounds cannot reach 95%: all five on one side happens 1 time in 32 > 2.5%.
  assert.equal(signTestRank(5, 0.025), 0);
  // Large n does not underflow, and k stays below the middle.
  const k = signTestRank(2000, 0.025);
  assert.ok(k > 900 && k < 1000, String(k));
  // Exact coverage check: for every n the tail mass outside the interval is at most alpha.
  for (const n of [6, 10, 17, 30]) {
    const kk = signTestRank(n, 0.025);
    let tail = 0;
    let pmf = 2 ** -n;
    for (let i = 0; i < kk; i++) {
      tail += pmf;
      pmf *= (n - i) / (i + 1);
    }
    assert.ok(tail <= 0.025, `n ${n}: ${tail}`);
  }
});

test('pairedInterval: the median paired ratio between order statistics, whatever the outliers', () => {
  const a = [10, 11, 9, 10.5, 9.5, 10, 10.2, 9.8, 10.1, 9.9];
  const b = a.map((x) => x / 1.25);
  const r = pairedInterval(a, b);
  assert.ok(Math.abs(r.ratio - 1.25) < 1e-9);
  assert.ok(Math.abs(r.interval[0] - 1.25) < 1e-9 && Math.abs(r.interval[1] - 1.25) < 1e-9, 'constant ratio: zero width');
  // Two rounds preempted by 30x in the baseline: the interval stays where the other eight are.
  const spiked = pairedInterval(a.map((x, i) => (i < 2 ? 30 * x : x)), b, { confidence: 0.9 });
  assert.ok(Math.abs(spiked.ratio - 1.25) < 1e-9 && spiked.interval[0] === 1.25 && spiked.interval[1] > 1.25, JSON.stringify(spiked));
  const noisy = source(1, 1.1, 0.05)(30);
  const n = pairedInterval(noisy.wall[0] as number[], noisy.wall[1] as number[], { confidence: 0.95 });
  assert.ok(n.interval[0] <= n.ratio && n.ratio <= n.interval[1]);
  assert.ok(n.interval[0] < 1.1 && 1.1 < n.interval[1], `${n.interval.join('-')}`);
  // Too few rounds for the confidence: an interval that excludes nothing.
  assert.deepEqual(pairedInterval([1, 2, 3, 4], [1, 1, 1, 1]).interval, [0, Infinity]);
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
  for (const [noise, spikes] of [[0.03, 0], [0.1, 0], [0.05, 0.2], [0.05, 0.45]] as const) {
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
  const spiky = await keepRate(1.15, 0.02, 0.2, 40);
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
  for (const bad of [{ confidence: 1 }, { minGain: -0.1 }, { maxRounds: 2 }, { step: 0 }]) {
    assert.throws(() => resolveDecideOptions(bad), (e: unknown) => e instanceof RebirthError && !e.message.includes('\n'), JSON.stringify(bad));
  }
  assert.throws(() => pairedInterval([1, 2], [1, 2]), /at least 3 rounds/);
  // Five rounds cannot decide a keep at 95%: too few for any interval, so the comparison is left.
  assert.equal(judge(a.slice(0, 5), a.slice(0, 5).map((x) => x / 2), { final: true, minRounds: 5, maxRounds: 5 }).verdict, 'leave');
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

test("optimizeModel's 'measure' policy decides each candidate with decideFaster and records why", async () => {
  const model = buildZooModel('googlenet-mini', { batch: 1 });
  const r = await optimizeModel(model, { rules: ['horizontal-fusion'], verify: false, explain: true, measure: { maxRounds: 10 } });
  assert.ok(r.decisions.length >= 1);
  // The rule's own thresholds (judge): the interval above 1 + minGain / 3, the estimate at least
  // 1 + minGain. Writing the floor as 1 failed whenever a loaded machine measured a fusion between them.
  const { minGain } = resolveDecideOptions();
  for (const d of r.decisions) {
    const m = d.measured;
    assert.ok(m, `${d.node}: no measurement recorded`);
    assert.equal(m.rounds, 10);
    assert.equal(d.accepted, m.interval[0] > 1 + minGain / 3 && m.ratio >= 1 + minGain, m.reason);
    assert.match(m.reason, d.accepted ? /^kept: / : /^left: /);
    if (!d.accepted) assert.ok(r.refusals.some((f) => f.node === d.node && f.reason === `measured: ${m.reason}`));
  }
});

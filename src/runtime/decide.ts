/**
 * Keep-or-leave decisions from timing, with a known error rate: is model `b` faster than model `a` on
 * this backend by at least `minGain`? Every decision that rests on a measurement (the rewrite 'measure'
 * policy, Tucker's per-layer keep, merge and plan choices) goes through `decideFaster`.
 *
 * The rule, and why:
 * - Paired, interleaved rounds (InterleavedTimer: each round runs both models, order alternating), so
 *   load that drifts during the measurement hits both members of a pair alike; the statistic is the
 *   per-round log ratio d_i = ln(a_i / b_i), not two separate medians.
 * - The estimate is the median of d, and its interval the distribution-free one for a median: the
 *   order statistics d_(k) and d_(n+1-k), with k the largest count for which a Binomial(n, 1/2) falls
 *   below k with probability at most (1 - confidence) / 2 (the sign test inverted). For independent
 *   rounds whose d is as likely above as below the true median, its coverage is at least `confidence`
 *   whatever the distribution of d, however heavy its tails. That is the point: on a loaded machine a
 *   preempted run makes its round's d an outlier of any size, and a percentile bootstrap of a trimmed
 *   mean, tried first, then kept identical copies 5-12% of the time (A/A runs at load average ~20 on 2
 *   cores, bench/aa-decisions.ts) with intervals like 1.04-32x from 10 rounds: a bootstrap's coverage is
 *   asymptotic, and 10-30 heavy-tailed rounds are far from it.
 * - Keep only when the interval lies above 1 + minGain / 3 AND the estimate is at least 1 + minGain:
 *   the interval says the gain is real, minGain that it is worth a change of the graph. The interval
 *   is held above a third of minGain rather than above 1 because two sessions of identical bytes are
 *   not always equally fast: in A/A runs (bench/aa-decisions.ts, googlenet-mini, three runs of 100
 *   trials idle and loaded, 2026-12-01) every false keep had an estimate of 1.03-1.07x, and 15 of the 24
 *   had an interval starting below 1.01. Those are real differences between two sessions (allocator and
 *   cache state), not between the models; a third of minGain (1% at the default 3%) is below any gain
 *   worth keeping, so clearing it costs a true gain of minGain or more little power
 *   (bench/decide-power.ts).
 * - Adaptive rounds: `minRounds`, then `step` more at a time up to `maxRounds`, stopping as soon as the
 *   verdict is clear either way (keep as above; leave when even the interval's upper end is below
 *   1 + minGain). Looking several times inflates the error rate of any test, so each look uses the
 *   Bonferroni-adjusted confidence 1 - (1 - confidence) / looks: the chance of a false keep over all
 *   looks stays below the one-sided (1 - confidence) / 2. A comparison still open at the cap is left:
 *   no change without evidence.
 * - Clock: wall time, unless the runs spent more than 10% of it waiting for a core (chooseClock in
 *   timing.ts); then process CPU time, which that waiting does not inflate (one intra-op thread).
 * - The candidate's session is created first and the baseline's second (decideFaster), so an advantage
 *   of the later-created session, seen in A/A pairs, favours leaving.
 *
 * bench/aa-decisions.ts measures the false-accept rate of this rule on A/A pairs (a model against an
 * identical copy), idle and with a busy loop on the other core; docs/figures.md has the figures.
 */
import { performance } from 'node:perf_hooks';
import { RebirthError, checkInteger } from '../errors.js';
import { chooseClock, InterleavedTimer, type Clock, type LatencyOptions, type RoundTimes } from './timing.js';
import { quantile } from '../util/stats.js';

export interface DecideOptions {
  /** Confidence of the decision's interval over all looks (default 0.95). */
  confidence?: number;
  /** Smallest relative speed-up worth keeping (default 0.03: 3% faster). */
  minGain?: number;
  /** Paired rounds before the first look (default 10). */
  minRounds?: number;
  /**
   * Cap on paired rounds (default 30). The rule it replaced timed 3 warm-up and 20 runs of each model;
   * 30 keeps the worst case at 33 / 23 = 1.4x of that in rounds (sessions and warm-up cost both the
   * same), inside the 2x measuring budget of issue 16, while quiet comparisons stop after 10.
   */
  maxRounds?: number;
  /** Rounds added per further look (default `minRounds`). */
  step?: number;
  /** 'auto' (default): wall time unless contaminated by waiting for a core, then CPU time (chooseClock). */
  clock?: Clock | 'auto';
}

export interface RatioInterval {
  /** Speed-up of b over a: exp(median of ln(a_i / b_i)); above 1, b is faster. */
  ratio: number;
  interval: [number, number];
  confidence: number;
}

export interface FasterDecision extends RatioInterval {
  keep: boolean;
  /** One line: the verdict with the ratio, interval, rounds and clock behind it. */
  reason: string;
  /** Paired rounds timed. */
  rounds: number;
  looks: number;
  clock: Clock;
  /** Median per-run time of each model on the chosen clock, ms. */
  baselineMs: number;
  candidateMs: number;
  /** Wall time the decision took, sessions and warm-up included, ms (0 for decideFromRounds). */
  measuringMs: number;
}

interface Resolved {
  confidence: number;
  minGain: number;
  minRounds: number;
  maxRounds: number;
  step: number;
  clock: Clock | 'auto';
}

export function resolveDecideOptions(options: DecideOptions = {}): Resolved {
  const confidence = options.confidence ?? 0.95;
  const minGain = options.minGain ?? 0.03;
  const maxRounds = options.maxRounds ?? 30;
  const minRounds = Math.min(options.minRounds ?? 10, maxRounds);
  const step = options.step ?? minRounds;
  if (!(confidence > 0 && confidence < 1)) throw new RebirthError(`option confidence must be in (0, 1), got ${confidence}`);
  if (!(minGain >= 0 && minGain < 1)) throw new RebirthError(`option minGain must be in [0, 1), got ${minGain}`);
  checkInteger('maxRounds', maxRounds, 3);
  checkInteger('minRounds', minRounds, 3);
  checkInteger('step', step, 1);
  return { confidence, minGain, minRounds, maxRounds, step, clock: options.clock ?? 'auto' };
}

/** Looks the adaptive rule takes at most: the first after minRounds, then one per step up to the cap. */
export function plannedLooks(o: Pick<Resolved, 'minRounds' | 'maxRounds' | 'step'>): number {
  return 1 + Math.ceil((o.maxRounds - o.minRounds) / o.step);
}

/**
 * The largest k >= 1 with P(Binomial(n, 1/2) <= k - 1) <= alpha, or 0 when even k = 1 is too likely
 * (n too small for that confidence: with 5 rounds, all five on one side happens 1 time in 32). The
 * pmf is accumulated in log space so that large n does not underflow 2^-n.
 */
export function signTestRank(n: number, alpha: number): number {
  let logPmf = -n * Math.LN2;
  let cdf = 0;
  let k = 0;
  for (let i = 0; i < n; i++) {
    cdf += Math.exp(logPmf);
    if (cdf > alpha) break;
    k = i + 1;
    logPmf += Math.log(n - i) - Math.log(i + 1);
  }
  return Math.min(k, Math.floor((n + 1) / 2));
}

/**
 * The paired speed-up of b over a (exp of the median of ln(a_i / b_i)) and its distribution-free
 * interval at `confidence`: [d_(k), d_(n+1-k)] with k from signTestRank. With too few rounds for the
 * confidence asked, the interval is [0, inf): it excludes nothing.
 */
export function pairedInterval(a: readonly number[], b: readonly number[], options: { confidence?: number } = {}): RatioInterval {
  const confidence = options.confidence ?? 0.95;
  const d: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const v = Math.log((a[i] as number) / (b[i] as number));
    if (Number.isFinite(v)) d.push(v);
  }
  if (d.length < 3) throw new RebirthError(`a paired interval needs at least 3 rounds with positive times, got ${d.length}; time more rounds`);
  d.sort((x, y) => x - y);
  const n = d.length;
  const k = signTestRank(n, (1 - confidence) / 2);
  const interval: [number, number] = k === 0 ? [0, Infinity] : [Math.exp(d[k - 1] as number), Math.exp(d[n - k] as number)];
  return { ratio: Math.exp(quantile(d, 0.5)), interval, confidence };
}

export type Verdict = 'keep' | 'leave' | 'open';

/**
 * One look of the rule at paired times (a: baseline, b: candidate, one clock). `final` marks the last
 * look: an open comparison is then left.
 */
export function judge(a: readonly number[], b: readonly number[], options: DecideOptions & { final: boolean }): RatioInterval & { verdict: Verdict; why: string } {
  const o = resolveDecideOptions(options);
  const looks = plannedLooks(o);
  const perLook = 1 - (1 - o.confidence) / looks;
  const r = pairedInterval(a, b, { confidence: perLook });
  const [lo, hi] = r.interval;
  const need = 1 + o.minGain;
  // The interval must clear a third of minGain, not just 1 (see the file comment: sessions of identical
  // bytes can differ by about 1% for reasons that are not the model's).
  const floor = 1 + o.minGain / 3;
  if (lo > floor && r.ratio >= need) return { ...r, verdict: 'keep', why: 'faster' };
  if (hi < need) return { ...r, verdict: 'leave', why: hi < 1 ? 'slower' : `no gain of ${fmtPct(o.minGain)} or more` };
  if (!options.final) return { ...r, verdict: 'open', why: 'undecided' };
  return {
    ...r, verdict: 'leave',
    why: lo > floor ? `faster, but by less than ${fmtPct(o.minGain)}` : `undecided at the round cap (the interval reaches below ${fmtPct(o.minGain / 3)} faster)`,
  };
}

function fmtPct(f: number): string {
  return `${+(100 * f).toFixed(2)}%`;
}

/**
 * The adaptive rule over any source of paired rounds: `sample(n)` times n more rounds of the baseline
 * (index 0 of the returned times) and the candidate (index 1). Used by decideFaster on ONNX Runtime,
 * and by tests and bench/aa-decisions.ts with synthetic or recorded times.
 */
export async function decideAdaptive(sample: (rounds: number) => Promise<RoundTimes> | RoundTimes, options: DecideOptions & { threads?: number } = {}): Promise<FasterDecision> {
  const o = resolveDecideOptions(options);
  const times: RoundTimes = { wall: [[], []], cpu: [[], []] };
  let look = 0;
  for (;;) {
    const want = look === 0 ? o.minRounds : Math.min(o.step, o.maxRounds - (times.wall[0] as number[]).length);
    const fresh = await sample(want);
    for (const k of ['wall', 'cpu'] as const) {
      for (const i of [0, 1]) (times[k][i] as number[]).push(...(fresh[k][i] ?? []));
    }
    const rounds = Math.min((times.wall[0] as number[]).length, (times.wall[1] as number[]).length);
    const final = rounds >= o.maxRounds;
    const clock: Clock = o.clock === 'auto' ? chooseClock(times, options.threads ?? 1) : o.clock;
    const a = times[clock][0] as number[];
    const b = times[clock][1] as number[];
    const j = judge(a, b, { ...options, final });
    look++;
    if (j.verdict !== 'open') {
      const keep = j.verdict === 'keep';
      const text = `${keep ? 'kept' : 'left'}: ${j.why}: ${j.ratio.toFixed(3)}x (${(100 * j.confidence).toFixed(2)}% interval ${j.interval[0].toFixed(3)}-${j.interval[1].toFixed(3)}) over ${rounds} paired rounds, ${clock === 'cpu' ? 'CPU time (wall time contaminated by load)' : 'wall time'}`;
      return {
        keep, ratio: j.ratio, interval: j.interval, confidence: j.confidence, reason: text, rounds, looks: look, clock,
        baselineMs: quantile(a, 0.5), candidateMs: quantile(b, 0.5), measuringMs: 0,
      };
    }
    if (want <= 0) throw new RebirthError('decideAdaptive: the sampler returned no rounds; it must time the rounds asked for');
  }
}

/**
 * Is `candidate` faster than `baseline` (ONNX bytes of the same interface) on this backend by at least
 * minGain, with the confidence asked for? Times them in paired interleaved rounds until decided.
 *
 * Warm-up: by count only on the node backend (3 rounds; native kernels need no tier-up, and a fixed
 * 300 ms would cost a small model more rounds than the decision itself); on wasm at least 300 ms as
 * everywhere (src/runtime/warmup.ts), unless `warmupMs` says otherwise.
 */
export async function decideFaster(baseline: Uint8Array, candidate: Uint8Array, options: DecideOptions & LatencyOptions = {}): Promise<FasterDecision> {
  resolveDecideOptions(options);
  const started = performance.now();
  const backend = options.backend ?? 'node';
  // The baseline's session is created second. In A/A pairs (bench/session-bias.ts, googlenet-mini on
  // node, 200 pairs of 20 rounds) the session created second came out faster with an interval excluding
  // 1 in 11 pairs and the first in 4, where chance gives 5 each: whatever the cause (allocator or cache
  // state after the first session's creation), an advantage of creation order must go to the baseline,
  // so that it can only make the rule leave a change, never keep one.
  const timer = await InterleavedTimer.open({ baseline, candidate }, {
    ...options, warmupMs: options.warmupMs ?? (backend === 'node' ? 0 : undefined), createLast: 'baseline',
  });
  try {
    const d = await decideAdaptive((n) => timer.rounds(n), { ...options, threads: backend === 'wasm' ? 1 : (options.threads ?? 1) });
    return { ...d, measuringMs: performance.now() - started };
  } finally {
    await timer.release();
  }
}

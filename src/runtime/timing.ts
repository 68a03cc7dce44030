/**
 * Interleaved latency measurement of several models on one backend, and paired speed-ups between them:
 * what every keep-or-leave decision (merges, Tucker layers, rewrites, the demo's tables) rests on. The
 * statistical rule that turns paired runs into a decision is src/runtime/decide.ts.
 */
import { performance } from 'node:perf_hooks';
import { RebirthError } from '../errors.js';
import { Session, type Backend, type HostTensor, type OptLevel } from './session.js';
import { quantile } from '../util/stats.js';
import { warmUp } from './warmup.js';
import { randomFeeds } from './feeds.js';

export interface LatencyOptions {
  backend?: Backend;
  threads?: number;
  optLevel?: OptLevel;
  /** Untimed rounds. Default 3, and at least `warmupMs` (default 300) of them: wasm tier-up, src/runtime/warmup.ts. */
  warmup?: number;
  warmupMs?: number;
  /** Timed runs per model. Default 20; with `minSeconds`, the minimum. */
  runs?: number;
  /**
   * Keep timing rounds until this much time has gone into them, up to `maxRounds` (default 5000): a
   * 0.2 ms network gets thousands of rounds from the budget a large one spends on `runs`, so the paired
   * interval narrows where the ratio needs it (docs/shrink.md, "Timing a small network"). Default 0.
   */
  minSeconds?: number;
  maxRounds?: number;
  /** Inputs; default seeded uniform [-1, 1) floats with a symbolic batch of 1. */
  feeds?: Record<string, HostTensor>;
}

export interface LatencyStats {
  medianMs: number;
  p90Ms: number;
  /** The fastest run: the least disturbed by other load on the machine. */
  minMs: number;
  /**
   * Median CPU time of this process per run (process.cpuUsage, user + system). With one intra-op
   * thread this is the work of the run itself, which other processes competing for the cores do not
   * inflate the way they inflate wall time.
   */
  cpuMedianMs: number;
  runs: number[];
  cpuRuns: number[];
}

export type Clock = 'wall' | 'cpu';

/** Wall and CPU time per timed run of each model, in round order; round i of every model is one pair. */
export interface RoundTimes {
  wall: number[][];
  cpu: number[][];
}

/**
 * Open sessions for several models of the same interface, warmed up, that time further rounds on
 * demand: the adaptive decision rule (decide.ts) asks for rounds until it can decide, and timeModels
 * asks for a fixed number.
 *
 * Each round runs every model once. The order rotates from round to round (A B, B A, A B ... and for
 * three models A B C, B C A, C A B): with a fixed order the second model always runs right after the
 * first, with the first one's weights evicted from cache and the allocator in the state the first left,
 * and an A/A comparison of two identical copies then shows a steady order bias of its own that no
 * number of rounds averages away. Rotation gives every model every position equally often.
 */
export class InterleavedTimer {
  readonly names: readonly string[];
  private readonly sessions: Session[];
  private readonly feeds: Record<string, HostTensor>;
  private readonly times: RoundTimes;
  private round = 0;

  private constructor(names: readonly string[], sessions: Session[], feeds: Record<string, HostTensor>) {
    this.names = names;
    this.sessions = sessions;
    this.feeds = feeds;
    this.times = { wall: names.map(() => []), cpu: names.map(() => []) };
  }

  /**
   * `createLast` names a model whose session is created after all the others (see decideFaster: a
   * session created later measured faster in its first rounds more often than chance allows).
   */
  static async open(models: Readonly<Record<string, Uint8Array>>, options: LatencyOptions & { createLast?: string } = {}): Promise<InterleavedTimer> {
    const names = Object.keys(models);
    if (names.length === 0) throw new RebirthError('timing needs at least one model; pass the models to compare');
    const created = new Map<string, Session>();
    const order = options.createLast !== undefined && names.includes(options.createLast)
      ? [...names.filter((n) => n !== options.createLast), options.createLast]
      : names;
    try {
      for (const n of order) {
        created.set(n, await Session.create(models[n] as Uint8Array, {
          backend: options.backend ?? 'node', threads: options.threads ?? 1, optLevel: options.optLevel ?? 'all',
        }));
      }
    } catch (e) {
      for (const s of created.values()) await s.release();
      throw e;
    }
    const sessions = names.map((n) => created.get(n) as Session);
    try {
      const feeds = options.feeds ?? randomFeeds((sessions[0] as Session).inputs);
      await warmUp(async () => {
        for (const s of sessions) await s.run(feeds);
      }, { runs: options.warmup ?? 3, ...(options.warmupMs !== undefined ? { minMs: options.warmupMs } : {}) });
      return new InterleavedTimer(names, sessions, feeds);
    } catch (e) {
      for (const s of sessions) await s.release();
      throw e;
    }
  }

  /** Times `count` more rounds and returns only their times (the timer also keeps all of them). */
  async rounds(count: number): Promise<RoundTimes> {
    const fresh: RoundTimes = { wall: this.names.map(() => []), cpu: this.names.map(() => []) };
    const n = this.sessions.length;
    for (let r = 0; r < count; r++, this.round++) {
      for (const i of roundOrder(this.round, n)) {
        const s = this.sessions[i] as Session;
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await s.run(this.feeds);
        const wall = performance.now() - t0;
        const c = process.cpuUsage(c0);
        (fresh.wall[i] as number[]).push(wall);
        (fresh.cpu[i] as number[]).push((c.user + c.system) / 1000);
      }
    }
    fresh.wall.forEach((w, i) => (this.times.wall[i] as number[]).push(...w));
    fresh.cpu.forEach((c, i) => (this.times.cpu[i] as number[]).push(...c));
    return fresh;
  }

  /** Every timed round so far. */
  all(): RoundTimes {
    return { wall: this.times.wall.map((w) => [...w]), cpu: this.times.cpu.map((c) => [...c]) };
  }

  stats(): Record<string, LatencyStats> {
    const out: Record<string, LatencyStats> = {};
    this.names.forEach((n, i) => {
      out[n] = latencyStats(this.times.wall[i] as number[], this.times.cpu[i] as number[]);
    });
    return out;
  }

  async release(): Promise<void> {
    for (const s of this.sessions) await s.release();
  }
}

/** The order in which round `round` runs `n` models: rotated by one each round (see InterleavedTimer). */
export function roundOrder(round: number, n: number): number[] {
  return Array.from({ length: n }, (_, k) => (k + round) % n);
}

export function latencyStats(wall: number[], cpu: number[]): LatencyStats {
  return { medianMs: quantile(wall, 0.5), p90Ms: quantile(wall, 0.9), minMs: Math.min(...wall), cpuMedianMs: quantile(cpu, 0.5), runs: wall, cpuRuns: cpu };
}

/**
 * Times several models of the same interface on one backend, interleaving their runs (rotating order,
 * see InterleavedTimer) so that machine load drifting during the measurement affects every model
 * alike; ratios between the results are the meaningful numbers (see pairedGain, and decide.ts for
 * decisions).
 */
export async function timeModels(models: Readonly<Record<string, Uint8Array>>, options: LatencyOptions = {}): Promise<Record<string, LatencyStats>> {
  const timer = await InterleavedTimer.open(models, options);
  try {
    const minRounds = options.runs ?? 20;
    const maxRounds = Math.max(minRounds, options.maxRounds ?? 5000);
    const budgetMs = 1000 * (options.minSeconds ?? 0);
    const t0 = performance.now();
    await timer.rounds(minRounds);
    for (let done = minRounds; ;) {
      const spent = performance.now() - t0;
      if (spent >= budgetMs || done >= maxRounds) break;
      // Fill the rest of the budget at the pace so far, at most doubling the rounds each time.
      const more = Math.min(maxRounds - done, done, Math.max(1, Math.ceil(((budgetMs - spent) * done) / Math.max(spent, 1e-3))));
      await timer.rounds(more);
      done += more;
    }
    return timer.stats();
  } finally {
    await timer.release();
  }
}

/** Per-round ratios a_i / b_i (above 1: b was faster in that round); rounds with a missing or zero time are dropped. */
export function pairedRatios(a: readonly number[], b: readonly number[]): number[] {
  return a.map((x, i) => x / (b[i] ?? NaN)).filter((v) => Number.isFinite(v) && v > 0);
}

/**
 * Speed-up of `b` over `a` from interleaved runs: the median over iterations of a_i / b_i, so a load
 * spike that slows one iteration of both models cancels out instead of landing in one median only.
 */
export function pairedGain(a: LatencyStats, b: LatencyStats, clock: Clock = 'wall'): number {
  return quantile(clock === 'wall' ? pairedRatios(a.runs, b.runs) : pairedRatios(a.cpuRuns, b.cpuRuns), 0.5);
}

/**
 * How much of the wall time the process spent off the CPU: the median over runs of wall / CPU time.
 * Near 1 when the runs had a core to themselves (one intra-op thread); above it when other processes
 * took the core mid-run. Meaningless with several intra-op threads (CPU time then sums threads).
 */
export function wallOverCpu(wall: readonly number[], cpu: readonly number[]): number {
  return quantile(wall.map((w, i) => w / (cpu[i] ?? NaN)).filter((v) => Number.isFinite(v) && v > 0), 0.5);
}

/**
 * The clock a paired comparison should use. Wall time is what users wait for, so it is the default;
 * but when the runs spent more than `tolerance` (default 10%) of their wall time waiting for a core,
 * preemption noise dominates the wall clock, and with one intra-op thread process CPU time is the
 * run's own work, which that waiting does not inflate. With several threads CPU time adds up threads
 * and would misstate a parallel speed-up, so wall time stays.
 */
export function chooseClock(times: RoundTimes, threads: number, tolerance = 0.1): Clock {
  if (threads > 1) return 'wall';
  const wall = times.wall.flat();
  const cpu = times.cpu.flat();
  return wallOverCpu(wall, cpu) > 1 + tolerance ? 'cpu' : 'wall';
}


/**
 * Interleaved latency measurement of several models on one backend, and paired speed-ups between them:
 * what every keep-or-leave decision (merges, Tucker layers, the demo's tables) rests on.
 */
import { performance } from 'node:perf_hooks';
import { RebirthError } from '../errors.js';
import { Session, type Backend, type HostTensor, type OptLevel, type TensorInfo } from './session.js';
import { quantile } from './profile.js';
import { warmUp } from './warmup.js';

export interface LatencyOptions {
  backend?: Backend;
  threads?: number;
  optLevel?: OptLevel;
  /** Untimed rounds. Default 3, and at least `warmupMs` (default 300) of them: wasm tier-up, src/runtime/warmup.ts. */
  warmup?: number;
  warmupMs?: number;
  /** Timed runs per model. Default 20. */
  runs?: number;
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

/**
 * Times several models of the same interface on one backend, interleaving their runs (A B C A B C ...)
 * so that machine load drifting during the measurement affects every model alike; ratios between the
 * results are the meaningful numbers (see pairedGain).
 */
export async function timeModels(models: Readonly<Record<string, Uint8Array>>, options: LatencyOptions = {}): Promise<Record<string, LatencyStats>> {
  const names = Object.keys(models);
  const sessions: Session[] = [];
  try {
    for (const n of names) {
      sessions.push(await Session.create(models[n] as Uint8Array, {
        backend: options.backend ?? 'node', threads: options.threads ?? 1, optLevel: options.optLevel ?? 'all',
      }));
    }
    const feeds = options.feeds ?? randomFeeds((sessions[0] as Session).inputs);
    const wall = names.map((): number[] => []);
    const cpu = names.map((): number[] => []);
    await warmUp(async () => {
      for (const s of sessions) await s.run(feeds);
    }, { runs: options.warmup ?? 3, ...(options.warmupMs !== undefined ? { minMs: options.warmupMs } : {}) });
    for (let r = 0; r < (options.runs ?? 20); r++) {
      for (const [i, s] of sessions.entries()) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await s.run(feeds);
        (wall[i] as number[]).push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        (cpu[i] as number[]).push((c.user + c.system) / 1000);
      }
    }
    const out: Record<string, LatencyStats> = {};
    names.forEach((n, i) => {
      const r = wall[i] as number[];
      const c = cpu[i] as number[];
      out[n] = { medianMs: quantile(r, 0.5), p90Ms: quantile(r, 0.9), minMs: Math.min(...r), cpuMedianMs: quantile(c, 0.5), runs: r, cpuRuns: c };
    });
    return out;
  } finally {
    for (const s of sessions) await s.release();
  }
}

/**
 * Speed-up of `b` over `a` from interleaved runs: the median over iterations of a_i / b_i, so a load
 * spike that slows one iteration of both models cancels out instead of landing in one median only.
 */
export function pairedGain(a: LatencyStats, b: LatencyStats, clock: 'wall' | 'cpu' = 'wall'): number {
  const ra = clock === 'wall' ? a.runs : a.cpuRuns;
  const rb = clock === 'wall' ? b.runs : b.cpuRuns;
  const ratios = ra.map((x, i) => x / (rb[i] ?? NaN)).filter((v) => Number.isFinite(v));
  return quantile(ratios, 0.5);
}

function randomFeeds(inputs: readonly TensorInfo[]): Record<string, HostTensor> {
  let state = 12345;
  const next = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 4294967296;
  };
  const feeds: Record<string, HostTensor> = {};
  for (const input of inputs) {
    if (input.type !== 'float32') throw new RebirthError(`input '${input.name}' has type ${input.type}; pass feeds to time this model`);
    const dims = input.dims.map((d, i) => {
      if (typeof d === 'number') return d;
      if (i === 0) return 1;
      throw new RebirthError(`input '${input.name}' dim ${i} is symbolic ('${d}'); pass feeds to time this model`);
    });
    feeds[input.name] = { type: 'float32', dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => next() * 2 - 1) };
  }
  return feeds;
}

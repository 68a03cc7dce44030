// Per-layer profiling: wall latency from an unprofiled session, per-kernel time from ORT's own trace in a
// second, profiled session (ORT's profiler adds per-kernel bookkeeping, so it must not touch the
// latency numbers), and a mapping from ORT's kernels back to the model's nodes.
// `performance` is the global one (Node 16+ and browsers alike).
import { checkInteger } from '../errors.js';
import { quantile } from '../util/stats.js';
import { isBrowserBackend, type BrowserBackend, type HostTensor, type LatencyBackend } from './backends.js';
import type { BrowserLaunchOptions } from './browser.js';
import { attributeKernels, kernelStats, type NodeProfile, type RuntimeInfo } from './kernels.js';
import { readModelNodes } from './model-nodes.js';
import { Session, type SessionOptions } from './session.js';
import type { TraceEvent } from './trace.js';
import { DEFAULT_WARMUP_MS, warmUp } from './warmup.js';
import { randomFeeds } from './feeds.js';

export type { KernelStat, NodeProfile, RuntimeInfo } from './kernels.js';

export interface ProfileOptions extends Omit<SessionOptions, 'profile' | 'backend'> {
  /** Default 'node'. 'browser:wasm' and 'browser:webgpu' profile in headless Chromium (src/runtime/browser.ts). */
  backend?: LatencyBackend;
  /** Browser backends only: which Chromium, and whether a software WebGPU adapter will do. */
  browser?: BrowserLaunchOptions;
  /** Untimed runs before the timed ones (and before the profiled ones). Default 3. */
  warmup?: number;
  /** ...and at least this much warm-up time per session, ms (default 300: wasm tier-up, see warmup.ts). */
  warmupMs?: number;
  /** Timed runs for the latency statistics. Default 20. */
  runs?: number;
  /** Profiled runs whose kernel times are averaged. Default min(runs, 10). */
  profileRuns?: number;
  /** Inputs to run with; if absent, seeded uniform [-1, 1) float inputs are generated. */
  feeds?: Record<string, HostTensor>;
  /** Shapes for generated inputs; needed when an input has symbolic dims other than the leading batch dim. */
  inputShapes?: Record<string, number[]>;
  /** Seed for generated inputs. Default 1. */
  seed?: number;
  /** Called after every session run (warm-up, timed and profiled). */
  onProgress?: (done: number, total: number) => void;
}



export interface RuntimeProfile {
  latencyMs: { median: number; p90: number; runs: number[] };
  /** Kernels in execution order. */
  nodes: NodeProfile[];
  /** Model node ids no kernel accounts for (constant-folded, eliminated, or fused from unnamed nodes). */
  unattributed: string[];
  backend: LatencyBackend;
  optLevel: 'disabled' | 'basic' | 'extended' | 'all';
  threads: number;
  runtime: RuntimeInfo;
}


export async function profileModel(model: Uint8Array, options: ProfileOptions = {}): Promise<RuntimeProfile> {
  const warmup = options.warmup ?? 3;
  const runs = options.runs ?? 20;
  const profileRuns = options.profileRuns ?? Math.min(runs, 10);
  checkInteger('warmup', warmup, 0);
  checkInteger('runs', runs, 1);
  checkInteger('profileRuns', profileRuns, 1);
  if (isBrowserBackend(options.backend)) return profileBrowser(model, options.backend, options, { warmup, runs, profileRuns });
  // The profiled session always gets at least one warm-up: its first run includes weight prepacking
  // and arena growth (observed: 3.9 ms vs 0.05 ms for the same Conv on wasm).
  const profileWarmup = Math.max(1, warmup);
  const total = warmup + runs + profileWarmup + profileRuns;
  let done = 0;
  const tick = (): void => {
    done++;
    options.onProgress?.(done, total);
  };
  const sessionOptions: SessionOptions = {
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.optLevel !== undefined ? { optLevel: options.optLevel } : {}),
  };

  const timed = await Session.create(model, sessionOptions);
  let feeds: Record<string, HostTensor>;
  const latencies: number[] = [];
  try {
    feeds = options.feeds ?? randomFeeds(timed.inputs, options.inputShapes ?? {}, options.seed ?? 1);
    await warmUp(async () => {
      await timed.run(feeds);
      if (done < warmup) tick();
    }, { runs: warmup, ...(options.warmupMs !== undefined ? { minMs: options.warmupMs } : {}) });
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await timed.run(feeds);
      latencies.push(performance.now() - t0);
      tick();
    }
  } finally {
    await timed.release();
  }

  const profiled = await Session.create(model, { ...sessionOptions, profile: true });
  let events: TraceEvent[];
  try {
    // Warm-up runs are in the trace too; kernelStats keeps the last profileRuns runs.
    await warmUp(async () => {
      await profiled.run(feeds);
      if (done < warmup + runs + profileWarmup) tick();
    }, { runs: profileWarmup, ...(options.warmupMs !== undefined ? { minMs: options.warmupMs } : {}) });
    for (let i = 0; i < profileRuns; i++) {
      await profiled.run(feeds);
      tick();
    }
    events = await profiled.endProfiling();
  } finally {
    await profiled.release();
  }

  const kernels = kernelStats(events, profileRuns);
  const { nodes, unattributed } = attributeKernels(kernels, readModelNodes(model));
  return {
    latencyMs: { median: quantile(latencies, 0.5), p90: quantile(latencies, 0.9), runs: latencies },
    nodes,
    unattributed,
    backend: timed.backend,
    optLevel: timed.optLevel,
    threads: timed.threads,
    runtime: {
      backend: timed.backend,
      executionProvider: timed.backend === 'node' ? 'cpu' : 'wasm',
      threads: timed.threads,
      userAgent: `Node.js ${process.version} (${process.platform} ${process.arch})`,
    },
  };
}

/**
 * The browser backends: the page times and traces the model inside Chromium (src/runtime/browser.ts,
 * page/runner.ts); attribution to model nodes runs here, with the same code as for the other backends.
 */
async function profileBrowser(
  model: Uint8Array,
  backend: BrowserBackend,
  options: ProfileOptions,
  counts: { warmup: number; runs: number; profileRuns: number },
): Promise<RuntimeProfile> {
  // Read before Chromium starts, so a model that is not ONNX fails fast and without a browser.
  const modelNodes = readModelNodes(model);
  const optLevel = options.optLevel ?? 'all';
  // Imported lazily: only browser profiles need playwright-core and the page bundle.
  const { profileInBrowser } = await import('./browser.js');
  const result = await profileInBrowser(model, backend, {
    threads: options.threads ?? 1, optLevel, ...counts, warmupMs: options.warmupMs ?? DEFAULT_WARMUP_MS,
    seed: options.seed ?? 1, inputShapes: options.inputShapes ?? {}, ...(options.feeds !== undefined ? { feeds: options.feeds } : {}),
  }, options.browser ?? {}, options.onProgress);
  const { nodes, unattributed } = attributeKernels(result.kernels, modelNodes);
  return {
    latencyMs: { median: quantile(result.latencies, 0.5), p90: quantile(result.latencies, 0.9), runs: result.latencies },
    nodes,
    unattributed,
    backend,
    optLevel,
    threads: result.runtime.threads,
    runtime: result.runtime,
  };
}


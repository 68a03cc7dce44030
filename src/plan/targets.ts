/**
 * Where a runtime plan is measured. A target turns two models into a paired keep-or-leave decision with
 * the project's statistical rule (decideFaster / decideAdaptive, src/runtime/decide.ts), and names the
 * runtime build for the plan cache. The list is open: `registerTarget` adds one (a phone over adb, a
 * WebGPU page), and the CLI's `--target` accepts whatever is registered.
 */
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RebirthError } from '../errors.js';
import { decideAdaptive, decideFaster, type DecideOptions, type FasterDecision } from '../runtime/decide.js';
import type { HostTensor } from '../runtime/session.js';
import type { BrowserLaunchOptions, BrowserRuntime } from '../runtime/browser.js';
import { DEFAULT_WARMUP_MS } from '../runtime/warmup.js';

export interface TargetOptions {
  /** Intra-op threads on the target (default 1, as every latency figure here). */
  threads?: number;
  /** Inputs for timing (default: seeded random inputs, a symbolic batch of 1). */
  feeds?: Record<string, HostTensor>;
  /** Chromium for the browser targets. */
  browser?: BrowserLaunchOptions;
}

/** An open target: decisions until closed. */
export interface TargetSession {
  decide(baseline: Uint8Array, candidate: Uint8Array, options: DecideOptions & { feeds?: Record<string, HostTensor> }): Promise<FasterDecision>;
  close(): Promise<void>;
}

export interface PlanTarget {
  readonly name: string;
  readonly description: string;
  /** The runtime build the timings come from ('onnxruntime-node 1.30.0'): part of the plan cache key. */
  runtime(): string;
  open(options: TargetOptions): Promise<TargetSession>;
}

const require = createRequire(import.meta.url);

/** A package's version from its package.json, found from its resolved entry point (exports maps hide the file). */
export function packageVersion(name: string): string {
  try {
    let dir = path.dirname(require.resolve(name));
    for (let i = 0; i < 6; i++) {
      const file = path.join(dir, 'package.json');
      if (fs.existsSync(file)) {
        const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name && pkg.version) return pkg.version;
      }
      dir = path.dirname(dir);
    }
  } catch {
    // Reported as unknown below: the key then still separates this runtime from a known version.
  }
  return 'unknown';
}

function ortTarget(name: 'node' | 'wasm', description: string, pkg: string): PlanTarget {
  return {
    name,
    description,
    runtime: () => `${pkg} ${packageVersion(pkg)}`,
    open: (options) => Promise.resolve({
      decide: (baseline, candidate, decide) => decideFaster(baseline, candidate, {
        ...decide, backend: name, threads: options.threads ?? 1, optLevel: 'all',
        ...((decide.feeds ?? options.feeds) ? { feeds: decide.feeds ?? options.feeds } : {}),
      }),
      close: () => Promise.resolve(),
    }),
  };
}

/**
 * onnxruntime-web in headless Chromium (src/runtime/browser.ts). One Chromium serves the whole plan;
 * each look of the adaptive rule asks the page for that many more interleaved rounds (the page warms
 * the sessions up again, 3 runs and 300 ms, since it opens a fresh page per request). The page has no
 * per-process CPU clock, so decisions use wall time.
 */
function browserTarget(name: string, backend: 'browser:wasm' | 'browser:webgpu', description: string): PlanTarget {
  return {
    name,
    description,
    runtime: () => `onnxruntime-web ${packageVersion('onnxruntime-web')} in Chromium (${backend})`,
    async open(options) {
      const { BrowserRuntime: Runtime } = await import('../runtime/browser.js');
      let runtime: BrowserRuntime | undefined;
      const threads = options.threads ?? 1;
      return {
        async decide(baseline, candidate, decide) {
          const started = performance.now();
          runtime ??= await Runtime.launch(backend, options.browser ?? {});
          const open = runtime;
          const feeds = decide.feeds ?? options.feeds;
          const wire = feeds === undefined ? undefined : Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, {
            type: t.type, dims: [...t.dims], base64: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64'),
          }]));
          const d = await decideAdaptive(async (n) => {
            const r = await open.time({ baseline, candidate }, {
              threads, optLevel: 'all', warmup: 3, warmupMs: DEFAULT_WARMUP_MS, runs: n, ...(wire ? { feeds: wire } : {}),
            });
            const a = r.runs.baseline ?? [];
            const b = r.runs.candidate ?? [];
            return { wall: [a, b], cpu: [a, b] };
          }, { ...decide, clock: 'wall', threads });
          return { ...d, measuringMs: performance.now() - started };
        },
        async close() {
          await runtime?.close();
        },
      };
    },
  };
}

const registry = new Map<string, PlanTarget>();

/** Adds (or replaces) a target; `--target NAME` then accepts it. */
export function registerTarget(target: PlanTarget): void {
  registry.set(target.name, target);
}

registerTarget(ortTarget('node', 'onnxruntime-node (native CPU build) in this process', 'onnxruntime-node'));
registerTarget(ortTarget('wasm', 'onnxruntime-web WebAssembly in this Node process (phone and browser class)', 'onnxruntime-web'));
registerTarget(browserTarget('browser', 'browser:wasm', 'onnxruntime-web WebAssembly in headless Chromium'));
registerTarget(browserTarget('browser:webgpu', 'browser:webgpu', 'onnxruntime-web WebGPU in headless Chromium'));

export function targetNames(): string[] {
  return [...registry.keys()];
}

export function planTarget(name: string): PlanTarget {
  const t = registry.get(name);
  if (!t) throw new RebirthError(`unknown target '${name}'; targets: ${targetNames().join(', ')}`);
  return t;
}

/** What makes timings of one machine comparable: CPU model, core count, architecture. */
export function machineId(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'} x${cpus.length} ${os.arch()}`;
}

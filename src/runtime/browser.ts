// The browser backends: onnxruntime-web in a real headless Chromium, driven with playwright-core. Node
// starts the local server (src/runtime/browser-server.ts: 127.0.0.1, cross-origin isolated, onnxruntime-web
// from node_modules), opens its bench page, and asks the page to time and profile the model there
// (src/runtime/page/runner.ts); profile.ts attributes the kernels to model nodes as for the other
// backends. Chromium and the server are always closed: after each call, on errors,
// and on SIGINT / SIGTERM (docs/browser.md).
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { RebirthError, checkInteger, errorMessage, firstLine } from '../errors.js';
import {
  BENCH_GLOBAL,
  BENCH_PATH,
  PROGRESS_BINDING,
  type BenchApi,
  type PageExecutionProvider,
  type PageOutcome,
  type PageProfileRequest,
  type PageProfileResult,
  type PageTimeRequest,
  type PageTimeResult,
  type WireTensor,
} from './browser-protocol.js';
import { startBrowserServer, type RunningServer } from './browser-server.js';
import { quantile } from '../util/stats.js';
import type { BrowserBackend, HostTensor } from './backends.js';
import { readModelNodes } from './model-nodes.js';
import { ortError } from './session.js';
import type { LatencyOptions, LatencyStats } from './timing.js';
import { DEFAULT_WARMUP_MS } from './warmup.js';

/** Debian's `chromium` package; REBIRTH_CHROMIUM overrides it (another Chromium or Chrome build). */
export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

export interface BrowserLaunchOptions {
  /** Chromium or Chrome executable. Default $REBIRTH_CHROMIUM, else /usr/bin/chromium. */
  executablePath?: string;
  /**
   * browser:webgpu only: accept a software fallback adapter (Chromium's SwiftShader), which runs WebGPU
   * on the CPU; its timings say nothing about a GPU. Default false: such an adapter is an error.
   */
  allowFallbackAdapter?: boolean;
}

/**
 * Flags for a quiet, reproducible headless run: no GPU process (wasm needs none), no network traffic of
 * Chromium's own (updates, sync, field trials), no first-run UI. The user data dir is a fresh temp dir.
 */
const CHROMIUM_ARGS = ['--no-sandbox', '--headless', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

function chromiumArgs(backend: BrowserBackend): string[] {
  // WebGPU is behind --enable-unsafe-webgpu on Linux; --disable-gpu would hide a hardware adapter.
  return backend === 'browser:webgpu' ? [...CHROMIUM_ARGS, '--enable-unsafe-webgpu'] : [...CHROMIUM_ARGS, '--disable-gpu'];
}

/** The executable to launch, or a one-line error saying how to install it. */
export function chromiumPath(options: BrowserLaunchOptions = {}): string {
  const path = options.executablePath ?? (process.env.REBIRTH_CHROMIUM || DEFAULT_CHROMIUM);
  try {
    accessSync(path, fsConstants.X_OK);
  } catch {
    throw new RebirthError(`Chromium not found at ${path}: install it with 'apt-get install chromium' (Debian/Ubuntu), or set REBIRTH_CHROMIUM to a Chromium or Chrome executable`);
  }
  return path;
}

function executionProvider(backend: BrowserBackend): PageExecutionProvider {
  return backend === 'browser:webgpu' ? 'webgpu' : 'wasm';
}

// What the signal handler closes: every runtime, from the moment its server starts (a launch can take
// seconds). Playwright's own SIGINT handling is off so that the server and the temp profile go too, and
// the exit code is the shell's convention (130 / 143 / 129).
type Closer = () => Promise<void>;
const open = new Set<Closer>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function onSignal(signal: NodeJS.Signals): void {
  const code = signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 129;
  void Promise.allSettled([...open].map((close) => close())).then(() => process.exit(code));
}

function track(close: Closer): void {
  if (open.size === 0) for (const s of SIGNALS) process.on(s, onSignal);
  open.add(close);
}

function untrack(close: Closer): void {
  open.delete(close);
  if (open.size === 0) for (const s of SIGNALS) process.off(s, onSignal);
}

/** Chromium with the local server, for one backend. Close it (or use withBrowser). */
export class BrowserRuntime {
  #closed: Promise<void> | undefined;
  #progress: ((done: number, total: number) => void) | undefined;

  private constructor(
    readonly backend: BrowserBackend,
    private readonly server: RunningServer,
    private readonly context: BrowserContext,
    private readonly allowFallbackAdapter: boolean,
    /** Closes the context, the server and the temp profile (shared with the signal handler). */
    private readonly closeAll: Closer,
  ) {}

  static async launch(backend: BrowserBackend, options: BrowserLaunchOptions = {}): Promise<BrowserRuntime> {
    if (backend !== 'browser:wasm' && backend !== 'browser:webgpu') {
      throw new RebirthError(`browser backend must be 'browser:wasm' or 'browser:webgpu', got '${String(backend)}'`);
    }
    const executablePath = chromiumPath(options);
    const { chromium } = await import('playwright-core');
    const server = await startBrowserServer();
    let userDataDir: string | undefined;
    let context: BrowserContext | undefined;
    let closing: Promise<void> | undefined;
    const closeAll: Closer = () => {
      closing ??= (async () => {
        try {
          await context?.close().catch(() => undefined);
          await server.close();
        } finally {
          if (userDataDir !== undefined) await rm(userDataDir, { recursive: true, force: true });
          untrack(closeAll);
        }
      })();
      return closing;
    };
    track(closeAll);
    try {
      userDataDir = await mkdtemp(join(tmpdir(), 'rebirth-chromium-'));
      try {
        context = await chromium.launchPersistentContext(userDataDir, {
          executablePath,
          headless: true,
          args: chromiumArgs(backend),
          handleSIGINT: false,
          handleSIGTERM: false,
          handleSIGHUP: false,
          timeout: 60_000,
        });
      } catch (e) {
        throw new RebirthError(`cannot start Chromium (${executablePath}): ${firstLine(errorMessage(e)).replace(/^browserType\.launchPersistentContext: /, '')}`, { cause: e });
      }
      const runtime = new BrowserRuntime(backend, server, context, options.allowFallbackAdapter ?? false, closeAll);
      await context.exposeBinding(PROGRESS_BINDING, (_source, done: number, total: number) => runtime.#progress?.(done, total));
      return runtime;
    } catch (e) {
      await closeAll();
      throw e;
    }
  }

  /** Runs `fn` in a fresh bench page: onnxruntime-web keeps one thread count per page. */
  private async withPage<T>(fn: (page: Page) => Promise<T>): Promise<T> {
    if (this.#closed !== undefined) throw new RebirthError('the browser runtime is closed: launch a new one');
    const page = await this.context.newPage();
    let pageError: string | undefined;
    page.on('pageerror', (e) => (pageError ??= firstLine(e.message)));
    try {
      await page.goto(`${this.server.url}${BENCH_PATH}`);
      await page.waitForFunction((name) => name in globalThis, BENCH_GLOBAL, { timeout: 60_000 });
      return await fn(page);
    } catch (e) {
      if (e instanceof RebirthError) throw e;
      const detail = pageError ?? firstLine(errorMessage(e));
      throw new RebirthError(`the browser page failed (${this.backend}): ${detail}`, { cause: e });
    } finally {
      await page.close().catch(() => undefined);
    }
  }

  private unwrap<T>(outcome: PageOutcome<T>): T {
    if (outcome.ok) return outcome.value;
    if (outcome.kind === 'load' || outcome.kind === 'run') throw ortError(this.backend, outcome.kind, new Error(outcome.message));
    if (outcome.kind === 'webgpu') {
      throw new RebirthError(`${this.backend}: ${outcome.message}; use --backend browser:wasm${/fallback/.test(outcome.message) ? ', or accept the software adapter with --allow-fallback-adapter' : ', or a machine and browser with WebGPU'}`);
    }
    throw new RebirthError(`${this.backend}: ${outcome.message}`);
  }

  async profile(model: Uint8Array, request: Omit<PageProfileRequest, 'modelUrl' | 'executionProvider' | 'allowFallbackAdapter'>, onProgress?: (done: number, total: number) => void): Promise<PageProfileResult> {
    const modelUrl = this.server.addModel(model);
    this.#progress = onProgress;
    try {
      const full: PageProfileRequest = { ...request, modelUrl, executionProvider: executionProvider(this.backend), allowFallbackAdapter: this.allowFallbackAdapter };
      return this.unwrap(await this.withPage((page) => page.evaluate(([name, r]) => (globalThis as unknown as Record<string, BenchApi>)[name]?.profile(r) as Promise<PageOutcome<PageProfileResult>>, [BENCH_GLOBAL, full] as const)));
    } finally {
      this.#progress = undefined;
      this.server.removeModel(modelUrl);
    }
  }

  async time(models: Readonly<Record<string, Uint8Array>>, request: Omit<PageTimeRequest, 'modelUrls' | 'executionProvider' | 'allowFallbackAdapter'>, onProgress?: (done: number, total: number) => void): Promise<PageTimeResult> {
    const modelUrls = Object.fromEntries(Object.entries(models).map(([name, bytes]) => [name, this.server.addModel(bytes)]));
    this.#progress = onProgress;
    try {
      const full: PageTimeRequest = { ...request, modelUrls, executionProvider: executionProvider(this.backend), allowFallbackAdapter: this.allowFallbackAdapter };
      return this.unwrap(await this.withPage((page) => page.evaluate(([name, r]) => (globalThis as unknown as Record<string, BenchApi>)[name]?.time(r) as Promise<PageOutcome<PageTimeResult>>, [BENCH_GLOBAL, full] as const)));
    } finally {
      this.#progress = undefined;
      for (const url of Object.values(modelUrls)) this.server.removeModel(url);
    }
  }

  /** Closes Chromium, the server and the temp profile. Idempotent; safe to call from a signal handler. */
  close(): Promise<void> {
    this.#closed ??= this.closeAll();
    return this.#closed;
  }
}

/** Launches Chromium for `backend`, runs `fn`, and closes everything whatever happens. */
export async function withBrowser<T>(backend: BrowserBackend, options: BrowserLaunchOptions, fn: (runtime: BrowserRuntime) => Promise<T>): Promise<T> {
  const runtime = await BrowserRuntime.launch(backend, options);
  try {
    return await fn(runtime);
  } finally {
    await runtime.close();
  }
}

function toWire(feeds: Record<string, HostTensor> | undefined): Record<string, WireTensor> | undefined {
  if (feeds === undefined) return undefined;
  return Object.fromEntries(Object.entries(feeds).map(([name, t]) => {
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    return [name, { type: t.type, dims: [...t.dims], base64: bytes.toString('base64') }];
  }));
}

function checkThreads(threads: number): void {
  // onnxruntime-web starts (threads - 1) workers per page; more than the cores only adds contention.
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw new RebirthError(`option threads must be a whole number from 1 to 64, got ${threads}`);
  }
}

/** What profileModel asks of the page (the page's request with feeds still in host memory). */
export type BrowserProfileRequest = Omit<PageProfileRequest, 'modelUrl' | 'executionProvider' | 'allowFallbackAdapter' | 'feeds'> & {
  feeds?: Record<string, HostTensor>;
};

/**
 * Latencies and kernel statistics of `model` measured inside Chromium (called by profileModel, which
 * checks the counts and attributes the kernels to model nodes).
 */
export async function profileInBrowser(
  model: Uint8Array,
  backend: BrowserBackend,
  request: BrowserProfileRequest,
  launch: BrowserLaunchOptions = {},
  onProgress?: (done: number, total: number) => void,
): Promise<PageProfileResult> {
  checkThreads(request.threads);
  const { feeds, ...rest } = request;
  const wire = toWire(feeds);
  return withBrowser(backend, launch, (b) => b.profile(model, { ...rest, ...(wire !== undefined ? { feeds: wire } : {}) }, onProgress));
}

/**
 * timeModels (src/runtime/timing.ts) for the browser backends: interleaved rounds with a rotating order,
 * timed inside the page. A page has no per-process CPU clock, so `cpuRuns` repeats the wall times and
 * the 'cpu' clock of pairedGain equals the wall one here.
 */
export async function timeModelsInBrowser(
  models: Readonly<Record<string, Uint8Array>>,
  options: Omit<LatencyOptions, 'backend'> & { backend: BrowserBackend; browser?: BrowserLaunchOptions; runtime?: BrowserRuntime },
): Promise<Record<string, LatencyStats>> {
  const threads = options.threads ?? 1;
  checkThreads(threads);
  const runs = options.runs ?? 20;
  checkInteger('runs', runs, 1);
  if (Object.keys(models).length === 0) throw new RebirthError('timing needs at least one model; pass the models to compare');
  for (const bytes of Object.values(models)) readModelNodes(bytes);
  const feeds = toWire(options.feeds);
  const time = (b: BrowserRuntime): Promise<PageTimeResult> => b.time(models, {
    threads, optLevel: options.optLevel ?? 'all', warmup: options.warmup ?? 3, warmupMs: options.warmupMs ?? DEFAULT_WARMUP_MS, runs,
    ...(feeds !== undefined ? { feeds } : {}),
  });
  // A caller timing many groups (the shrink planner) passes one runtime for all of them: each call still
  // gets a fresh page, but Chromium starts once.
  if (options.runtime && options.runtime.backend !== options.backend) {
    throw new RebirthError(`timeModelsInBrowser: the runtime passed is for ${options.runtime.backend}, the timing asks for ${options.backend}`);
  }
  const result = options.runtime ? await time(options.runtime) : await withBrowser(options.backend, options.browser ?? {}, time);
  const out: Record<string, LatencyStats> = {};
  for (const [name, wall] of Object.entries(result.runs)) {
    out[name] = { medianMs: quantile(wall, 0.5), p90Ms: quantile(wall, 0.9), minMs: Math.min(...wall), cpuMedianMs: quantile(wall, 0.5), runs: wall, cpuRuns: [...wall] };
  }
  return out;
}

/// <reference lib="dom" />
// onnxruntime-web inside the page: latency and ORT's per-kernel profile, measured where the model would be
// deployed. The same code serves the CLI's browser backends (bench.ts, driven by Playwright) and the page
// for people (src/serve/page/app.ts). Timing happens here, around InferenceSession.run: a round trip to
// Node per run would be timed as well.
//
// The `lib="dom"` reference is for page code (this folder and src/serve/page); tsc applies it to the whole
// program, which only adds browser globals to the type environment (docs/browser.md).
import type * as OrtWeb from 'onnxruntime-web';
import { errorMessage, firstLine } from '../../errors.js';
import { isElementType, typedArray } from '../../ir/dtypes.js';
import { kernelStats, type RuntimeInfo } from '../kernels.js';
import { randomFeeds } from '../feeds.js';
import { extractJsonArray, parseTrace } from '../trace.js';
import { warmUp } from '../warmup.js';
import type { HostTensor, OptLevel, TensorInfo } from '../backends.js';
import {
  ORT_PREFIX,
  type PageErrorKind,
  type PageOutcome,
  type PageProfileRequest,
  type PageProfileResult,
  type PageRuntimeRequest,
  type PageTimeRequest,
  type PageTimeResult,
  type WireTensor,
} from '../browser-protocol.js';

type Ort = typeof OrtWeb;
type OrtSession = OrtWeb.InferenceSession;

export type Progress = (done: number, total: number) => void;

/** A failure with the category Node needs to phrase it (see PageErrorKind). */
export class PageError extends Error {
  constructor(
    readonly kind: PageErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'PageError';
  }
}

/** Runs `fn` and turns any failure into a tagged value, since exceptions cross page.evaluate badly. */
export async function outcome<T>(fn: () => Promise<T>): Promise<PageOutcome<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    const kind = e instanceof PageError ? e.kind : 'other';
    return { ok: false, kind, message: firstLine(errorMessage(e)) };
  }
}

// ORT's WebAssembly glue prints the profile through Emscripten's `out`, which it binds to console.log
// when the glue module loads (`console.log.bind(console)` in ort-wasm-simd-threaded.mjs). Patching
// console.log after that captures nothing, so a forwarding wrapper goes in before ORT loads and
// diverts lines only while `sink` is set. endProfiling prints synchronously (proxy is off), so the
// capture window is exact.
let sink: string[] | undefined;
let captureInstalled = false;

function installConsoleCapture(): void {
  if (captureInstalled) return;
  captureInstalled = true;
  const original = console.log.bind(console);
  console.log = (...args: unknown[]): void => {
    if (sink !== undefined) sink.push(args.map((a) => String(a)).join(' '));
    else original(...args);
  };
}

function captureConsole(fn: () => void): string {
  const lines: string[] = [];
  sink = lines;
  try {
    fn();
  } finally {
    sink = undefined;
  }
  return lines.join('\n');
}

interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; isFallbackAdapter?: boolean };
}
interface GpuLike {
  requestAdapter(): Promise<GpuAdapterLike | null>;
}

/** The adapter's name for RuntimeInfo, or a PageError saying why WebGPU is not usable here. */
async function checkWebGpu(allowFallback: boolean): Promise<string> {
  const gpu = (navigator as Navigator & { gpu?: GpuLike }).gpu;
  if (gpu === undefined) {
    throw new PageError('webgpu', 'this browser exposes no navigator.gpu (WebGPU is off or unsupported)');
  }
  const adapter = await gpu.requestAdapter();
  if (adapter === null) {
    throw new PageError('webgpu', 'navigator.gpu.requestAdapter() returned no adapter (no usable GPU)');
  }
  const info = adapter.info ?? {};
  const fallback = info.isFallbackAdapter === true || info.architecture === 'swiftshader';
  const name = `${info.vendor ?? '?'} ${info.architecture ?? '?'}${fallback ? ' (fallback)' : ''}`.trim();
  if (fallback && !allowFallback) {
    throw new PageError('webgpu', `the only WebGPU adapter is a software fallback (${name}), which emulates a GPU on the CPU`);
  }
  return name;
}

interface LoadedOrt {
  ort: Ort;
  adapter?: string;
}

let loaded: { key: string; ort: Promise<LoadedOrt> } | undefined;

/**
 * onnxruntime-web for this page. ORT initializes its WebAssembly module (and with it the thread count)
 * once per page, so a page serves one runtime configuration; Node opens a page per request.
 */
export function loadOrt(request: PageRuntimeRequest): Promise<LoadedOrt> {
  const key = `${request.executionProvider}, ${request.threads} thread(s)`;
  if (loaded !== undefined) {
    if (loaded.key !== key) {
      return Promise.reject(new PageError('other', `this page already runs onnxruntime-web with ${loaded.key}; reload it for ${key}`));
    }
    return loaded.ort;
  }
  const ort = initOrt(request);
  loaded = { key, ort };
  return ort;
}

async function initOrt(request: PageRuntimeRequest): Promise<LoadedOrt> {
  const adapter = request.executionProvider === 'webgpu' ? await checkWebGpu(request.allowFallbackAdapter) : undefined;
  installConsoleCapture();
  // A runtime URL, not a bundled import: ORT loads its glue and .wasm next to this file, served from
  // node_modules by our server (no CDN).
  const url = `${ORT_PREFIX}${request.executionProvider === 'webgpu' ? 'ort.webgpu.min.mjs' : 'ort.wasm.min.mjs'}`;
  const ort = (await import(url)) as Ort;
  ort.env.wasm.wasmPaths = ORT_PREFIX;
  ort.env.wasm.numThreads = request.threads;
  // proxy would move ORT into a worker and endProfiling's print out of our capture window.
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  return adapter === undefined ? { ort } : { ort, adapter };
}

function runtimeInfo(ort: Ort, request: PageRuntimeRequest, backendAdapter: string | undefined): RuntimeInfo {
  // After the first session ORT has settled the thread count: it resets env.wasm.numThreads to 1 when
  // the page cannot share memory with workers (no cross-origin isolation).
  const threads = ort.env.wasm.numThreads ?? request.threads;
  return {
    backend: request.executionProvider === 'webgpu' ? 'browser:webgpu' : 'browser:wasm',
    executionProvider: request.executionProvider,
    threads,
    userAgent: navigator.userAgent,
    ...(backendAdapter !== undefined ? { adapter: backendAdapter } : {}),
  };
}

async function createSession(ort: Ort, bytes: Uint8Array, request: PageRuntimeRequest, optLevel: OptLevel, profile: boolean): Promise<OrtSession> {
  try {
    return await ort.InferenceSession.create(bytes, {
      executionProviders: [request.executionProvider],
      graphOptimizationLevel: optLevel,
      executionMode: 'sequential',
      // Fatal only: ORT's own error text reaches us in the rejection.
      logSeverityLevel: 4,
      enableProfiling: profile,
    });
  } catch (e) {
    throw new PageError('load', errorMessage(e));
  }
}

async function run(session: OrtSession, feeds: OrtWeb.InferenceSession.FeedsType): Promise<OrtWeb.InferenceSession.ReturnType> {
  try {
    return await session.run(feeds);
  } catch (e) {
    throw new PageError('run', errorMessage(e));
  }
}

export async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new PageError('other', `cannot fetch ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

function tensorInfos(session: OrtSession): TensorInfo[] {
  return session.inputMetadata.map((m) => (m.isTensor ? { name: m.name, type: m.type, dims: [...m.shape] } : { name: m.name, type: 'non-tensor', dims: [] }));
}

function fromWire(t: WireTensor): HostTensor {
  if (!isElementType(t.type)) throw new PageError('other', `feed has unsupported element type '${String(t.type)}'`);
  const binary = atob(t.base64);
  const n = t.dims.reduce((a, b) => a * b, 1);
  const data = typedArray(t.type, n);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (binary.length !== bytes.length) throw new PageError('other', `feed holds ${binary.length} bytes, dims [${t.dims.join(', ')}] need ${bytes.length}`);
  for (let i = 0; i < bytes.length; i++) bytes[i] = binary.charCodeAt(i);
  return { type: t.type, dims: t.dims, data } as HostTensor;
}

function toOrtFeeds(ort: Ort, feeds: Record<string, HostTensor>): OrtWeb.InferenceSession.FeedsType {
  const out: Record<string, OrtWeb.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) out[name] = new ort.Tensor(t.type, t.data, t.dims);
  return out;
}

function feedsFor(ort: Ort, session: OrtSession, wire: Record<string, WireTensor> | undefined, shapes: Record<string, number[]>, seed: number): OrtWeb.InferenceSession.FeedsType {
  try {
    const host = wire !== undefined ? Object.fromEntries(Object.entries(wire).map(([k, v]) => [k, fromWire(v)])) : randomFeeds(tensorInfos(session), shapes, seed);
    return toOrtFeeds(ort, host);
  } catch (e) {
    throw e instanceof PageError ? e : new PageError('other', errorMessage(e));
  }
}

/** profileModel (src/runtime/profile.ts) inside the page: latency from an unprofiled session, kernels from a profiled one. */
export async function profileInPage(request: PageProfileRequest, progress?: Progress, bytes?: Uint8Array): Promise<PageProfileResult> {
  const { ort, adapter } = await loadOrt(request);
  const model = bytes ?? (await fetchBytes(request.modelUrl));
  const profileWarmup = Math.max(1, request.warmup);
  const total = request.warmup + request.runs + profileWarmup + request.profileRuns;
  let done = 0;
  const tick = (): void => {
    done++;
    progress?.(done, total);
  };

  const timed = await createSession(ort, model, request, request.optLevel, false);
  const latencies: number[] = [];
  let feeds: OrtWeb.InferenceSession.FeedsType;
  try {
    feeds = feedsFor(ort, timed, request.feeds, request.inputShapes, request.seed);
    await warmUp(async () => {
      await run(timed, feeds);
      if (done < request.warmup) tick();
    }, { runs: request.warmup, minMs: request.warmupMs });
    for (let i = 0; i < request.runs; i++) {
      const t0 = performance.now();
      await run(timed, feeds);
      latencies.push(performance.now() - t0);
      tick();
    }
  } finally {
    await timed.release();
  }
  const runtime = runtimeInfo(ort, request, adapter);

  const profiled = await createSession(ort, model, request, request.optLevel, true);
  let text: string;
  try {
    await warmUp(async () => {
      await run(profiled, feeds);
      if (done < request.warmup + request.runs + profileWarmup) tick();
    }, { runs: profileWarmup, minMs: request.warmupMs });
    for (let i = 0; i < request.profileRuns; i++) {
      await run(profiled, feeds);
      tick();
    }
    text = captureConsole(() => profiled.endProfiling());
  } finally {
    await profiled.release();
  }
  const kernels = kernelStats(parseTrace(extractJsonArray(text), 'onnxruntime-web console output'), request.profileRuns);
  return { latencies, kernels, runtime };
}

/**
 * timeModels (src/runtime/timing.ts) inside the page: every model once per round, the order rotating
 * from round to round as InterleavedTimer does, so load drift and order effects hit every model alike.
 */
export async function timeInPage(request: PageTimeRequest, progress?: Progress, models?: Record<string, Uint8Array>): Promise<PageTimeResult> {
  const { ort, adapter } = await loadOrt(request);
  const names = Object.keys(models ?? request.modelUrls);
  if (names.length === 0) throw new PageError('other', 'timing needs at least one model');
  const sessions: OrtSession[] = [];
  try {
    for (const name of names) {
      const bytes = models?.[name] ?? (await fetchBytes(request.modelUrls[name] ?? ''));
      sessions.push(await createSession(ort, bytes, request, request.optLevel, false));
    }
    const feeds = feedsFor(ort, sessions[0] as OrtSession, request.feeds, {}, 1);
    await warmUp(async () => {
      for (const s of sessions) await run(s, feeds);
    }, { runs: request.warmup, minMs: request.warmupMs });
    const runs = names.map((): number[] => []);
    for (let round = 0; round < request.runs; round++) {
      for (let k = 0; k < sessions.length; k++) {
        const i = (k + round) % sessions.length;
        const t0 = performance.now();
        await run(sessions[i] as OrtSession, feeds);
        (runs[i] as number[]).push(performance.now() - t0);
      }
      progress?.(round + 1, request.runs);
    }
    return { runs: Object.fromEntries(names.map((n, i) => [n, runs[i] as number[]])), runtime: runtimeInfo(ort, request, adapter) };
  } finally {
    for (const s of sessions) await s.release();
  }
}

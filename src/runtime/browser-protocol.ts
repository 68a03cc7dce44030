// What Node (src/runtime/browser.ts, browser-server.ts) and the bench page (src/runtime/page/bench.ts,
// runner.ts) exchange through Playwright and the server's paths. Only JSON-serializable data crosses:
// page.evaluate copies its argument and result as JSON-like values, so tensors travel as base64 and errors
// as tagged values, not exceptions (an exception thrown in the page reaches Node as a multi-line Playwright
// error with a page stack).
import type { HostTensorType, OptLevel } from './backends.js';
import type { KernelStat, RuntimeInfo } from './kernels.js';

/** Which onnxruntime-web execution provider the page uses; the browser backends map onto these. */
export type PageExecutionProvider = 'wasm' | 'webgpu';

/** A HostTensor in transit: its raw little-endian bytes in base64. */
export interface WireTensor {
  type: HostTensorType;
  dims: number[];
  base64: string;
}

/** Settings of onnxruntime-web in one page; ORT initializes its WebAssembly module once per page. */
export interface PageRuntimeRequest {
  executionProvider: PageExecutionProvider;
  /** env.wasm.numThreads; ORT falls back to 1 without cross-origin isolation. */
  threads: number;
  /** browser:webgpu: accept a software (fallback) adapter such as SwiftShader. */
  allowFallbackAdapter: boolean;
}

export interface PageProfileRequest extends PageRuntimeRequest {
  /** Same-origin URL of the model bytes (the server registers them). */
  modelUrl: string;
  optLevel: OptLevel;
  warmup: number;
  warmupMs: number;
  runs: number;
  profileRuns: number;
  seed: number;
  inputShapes: Record<string, number[]>;
  feeds?: Record<string, WireTensor>;
}

export interface PageProfileResult {
  latencies: number[];
  /** kernelStats over the last profileRuns runs of the profiled session. */
  kernels: KernelStat[];
  runtime: RuntimeInfo;
}

export interface PageTimeRequest extends PageRuntimeRequest {
  modelUrls: Record<string, string>;
  optLevel: OptLevel;
  warmup: number;
  warmupMs: number;
  runs: number;
  feeds?: Record<string, WireTensor>;
}

export interface PageTimeResult {
  /** Wall time of every timed run per model, in round order (round i of every model is one pair). */
  runs: Record<string, number[]>;
  runtime: RuntimeInfo;
}

/**
 * Why the page failed, for a one-line RebirthError on the Node side: `load` and `run` are ORT's own
 * failures (Node adds session.ts's cleaning and hints), `webgpu` a missing or refused adapter.
 */
export type PageErrorKind = 'load' | 'run' | 'webgpu' | 'other';

export type PageOutcome<T> = { ok: true; value: T } | { ok: false; kind: PageErrorKind; message: string };

/** What bench.ts installs on the page's global object under BENCH_GLOBAL. */
export interface BenchApi {
  profile(request: PageProfileRequest): Promise<PageOutcome<PageProfileResult>>;
  time(request: PageTimeRequest): Promise<PageOutcome<PageTimeResult>>;
}

export const BENCH_GLOBAL = 'rebirthBench';
/** A Playwright binding the page calls with (done, total) after runs, for the CLI's progress bar. */
export const PROGRESS_BINDING = 'rebirthProgress';
/** Path of the page Node drives; `/` is the page for people. */
export const BENCH_PATH = '/bench';
/** Where the server mounts onnxruntime-web's dist folder, for the page to load ORT from. */
export const ORT_PREFIX = '/ort/';

export function isPageExecutionProvider(v: unknown): v is PageExecutionProvider {
  return v === 'wasm' || v === 'webgpu';
}


// Names of the runtimes rebirth measures on and the plain tensors exchanged with them. A leaf: session.ts
// (ORT in Node), the browser protocol and the page bundle all need these, and only session.ts may load ORT.
import type { ElementType, TypedArrayOf } from '../ir/dtypes.js';

export type Backend = 'node' | 'wasm';
/**
 * onnxruntime-web in a real headless Chromium (src/runtime/browser.ts, docs/browser.md). These are not
 * Session backends: latency and per-layer times are measured inside the page, because a Node round trip
 * per run would land in the timings. profileModel and timeModels accept them.
 */
export type BrowserBackend = 'browser:wasm' | 'browser:webgpu';
/** Every backend latency can be measured on. */
export type LatencyBackend = Backend | BrowserBackend;
export type OptLevel = 'disabled' | 'basic' | 'extended' | 'all';

export function isBrowserBackend(backend: unknown): backend is BrowserBackend {
  return backend === 'browser:wasm' || backend === 'browser:webgpu';
}

export type HostTensorType = ElementType;

/** A tensor in host memory, independent of which ORT package produced or will consume it. */
export type HostTensor = {
  [K in HostTensorType]: { type: K; dims: number[]; data: TypedArrayOf[K] };
}[HostTensorType];

/** Name, element type and shape of a model input or output; symbolic dims are strings. */
export interface TensorInfo {
  name: string;
  /** ORT's element type name (e.g. 'float32'); 'non-tensor' for sequences/maps. */
  type: string;
  dims: Array<number | string>;
}

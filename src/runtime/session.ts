// One interface over two ONNX Runtime builds that run in this Node process:
//   'node' — onnxruntime-node, the native CPU build (desktop/server numbers, multi-threadable);
//   'wasm' — onnxruntime-web's WebAssembly CPU build, single-threaded: the phone/browser-class stand-in.
// Callers exchange plain HostTensor objects; each package has its own Tensor class, so conversion
// happens only here.
import { isElementType } from '../ir/dtypes.js';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as OrtTypes from 'onnxruntime-node';
import { RebirthError, errorMessage, firstLine } from '../errors.js';
import { extractJsonArray, parseTrace, type TraceEvent } from './trace.js';
import { isBrowserBackend, type Backend, type HostTensor, type LatencyBackend, type OptLevel, type TensorInfo } from './backends.js';

// The trace parser lives in trace.ts, which imports nothing from Node, so the browser page can use it too.
export { parseTrace, type TraceEvent } from './trace.js';

export type { Backend, BrowserBackend, HostTensor, HostTensorType, LatencyBackend, OptLevel, TensorInfo } from './backends.js';
export { isBrowserBackend } from './backends.js';

export interface SessionOptions {
  /** Default 'node'. */
  backend?: Backend;
  /** Intra-op threads, default 1. The wasm backend always uses 1. */
  threads?: number;
  /** ORT graph optimization level, default 'all'. */
  optLevel?: OptLevel;
  /** Record ORT's per-kernel trace; read it with `Session.endProfiling()`. Default false. */
  profile?: boolean;
}



// Both packages export onnxruntime-common's API; their TypeScript types are identical
// (onnxruntime-web's types.d.ts re-exports onnxruntime-common), only the runtime classes differ.
type OrtModule = Pick<typeof OrtTypes, 'InferenceSession' | 'Tensor' | 'env'>;
type OrtSession = OrtTypes.InferenceSession;
type OrtTensor = OrtTypes.Tensor;

let nodeOrt: Promise<OrtModule> | undefined;
let webOrt: Promise<OrtModule> | undefined;

function loadOrt(backend: Backend): Promise<OrtModule> {
  if (backend === 'node') {
    nodeOrt ??= import('onnxruntime-node');
    return nodeOrt;
  }
  // Imported lazily so node-only users never load the 12 MB wasm binary. In Node, the 'onnxruntime-web'
  // export resolves to dist/ort.node.min.mjs, which finds ort-wasm-simd-threaded.{mjs,wasm} next to
  // itself, so no env.wasm.wasmPaths is needed whatever the cwd.
  webOrt ??= import('onnxruntime-web').then((m) => {
    // numThreads > 1 would spawn worker_threads for ORT's pool; proxy would move ORT to a worker,
    // making endProfiling asynchronous (its stdout would then escape our capture).
    // Both must be set before the first session initializes the wasm module.
    m.env.wasm.numThreads = 1;
    m.env.wasm.proxy = false;
    return m;
  });
  return webOrt;
}

// Emscripten's Node stdout is `fs.writeSync(1, line + "\n")` on the CommonJS `fs` object
// (ort-wasm-simd-threaded.mjs: `fs=require("fs")`), not console.log/process.stdout.write, so the
// capture has to patch that shared object. The ESM namespace of node:fs is read-only; require() gives
// the mutable module object the wasm glue holds.
const cjsFs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');

/** Runs `fn` synchronously with fd-1 writes from fs.writeSync diverted into the returned string. */
function captureFd1<T>(fn: () => T): { result: T; stdout: string } {
  const original = cjsFs.writeSync;
  const chunks: string[] = [];
  const patched = (fd: number, data: unknown, ...rest: unknown[]): number => {
    if (fd === 1) {
      const text = typeof data === 'string' ? data : Buffer.from(data as Uint8Array).toString('utf8');
      chunks.push(text);
      return typeof data === 'string' ? Buffer.byteLength(data) : (data as Uint8Array).byteLength;
    }
    return (original as (...args: unknown[]) => number)(fd, data, ...rest);
  };
  cjsFs.writeSync = patched;
  try {
    return { result: fn(), stdout: chunks.join('') };
  } finally {
    cjsFs.writeSync = original;
  }
}

/** ORT's messages repeat boilerplate and sometimes span lines; keep the informative first line. */
function cleanOrtMessage(e: unknown): string {
  return firstLine(errorMessage(e))
    .replace(/^(Can't create a session|failed to call OrtRun\(\))\. ERROR_CODE: \d+, ERROR_MESSAGE: /, '')
    // Build-machine paths (/onnxruntime_src/…, /mnt/azure_nvme_temp/_work/1/s/…) say nothing to users.
    .replace(/\/\S*?\/onnxruntime\/core\//g, 'onnxruntime/core/')
    .replace(/\s+/g, ' ')
    .trim();
}

function ortHint(message: string): string {
  if (/protobuf parsing failed/i.test(message)) {
    return ' (the bytes are not a valid ONNX model: check the file is a complete .onnx file)';
  }
  const op = /No Op registered for (\S+)/.exec(message);
  if (op) {
    return ` (onnxruntime has no kernel for op ${op[1]} in this domain/opset: replace it or re-export with a supported opset)`;
  }
  return '';
}

/** ORT's failure as a one-line RebirthError; also used for onnxruntime-web's in Chromium (browser.ts). */
export function ortError(backend: LatencyBackend, action: 'load' | 'run', e: unknown): RebirthError {
  if (e instanceof RebirthError) return e;
  const msg = cleanOrtMessage(e);
  const verb = action === 'load' ? 'cannot load this model' : 'cannot run this model';
  return new RebirthError(`onnxruntime (${backend}) ${verb}: ${msg}${ortHint(msg)}`, { cause: e });
}

function checkThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RebirthError(`option threads must be a positive integer, got ${threads}`);
  }
}

function toTensorInfo(m: OrtTypes.InferenceSession.ValueMetadata): TensorInfo {
  if (!m.isTensor) return { name: m.name, type: 'non-tensor', dims: [] };
  return { name: m.name, type: m.type, dims: [...m.shape] };
}

function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export class Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  #released = false;
  #profiling: boolean;

  private constructor(
    private readonly ort: OrtModule,
    private readonly session: OrtSession,
    /** Kept (not copied) only to locate a failing node, see locateFailingNode. */
    private readonly model: Uint8Array,
    readonly backend: Backend,
    readonly threads: number,
    readonly optLevel: OptLevel,
    /** node backend with profiling: the temp dir ORT writes its trace into. */
    private readonly profileDir: string | undefined,
    profile: boolean,
  ) {
    this.inputNames = [...session.inputNames];
    this.outputNames = [...session.outputNames];
    this.inputs = session.inputMetadata.map(toTensorInfo);
    this.outputs = session.outputMetadata.map(toTensorInfo);
    this.#profiling = profile;
  }

  static async create(model: Uint8Array, options: SessionOptions = {}): Promise<Session> {
    const backend = options.backend ?? 'node';
    // JavaScript callers (and casts) can pass a browser backend, which has no in-process Session.
    if (isBrowserBackend(backend)) {
      throw new RebirthError(`option backend '${String(backend)}' runs in Chromium and has no Session: measure it with profileModel or timeModels, or use 'node' or 'wasm'`);
    }
    if (backend !== 'node' && backend !== 'wasm') {
      throw new RebirthError(`option backend must be 'node' or 'wasm', got '${String(backend)}'`);
    }
    const optLevel = options.optLevel ?? 'all';
    if (!['disabled', 'basic', 'extended', 'all'].includes(optLevel)) {
      throw new RebirthError(`option optLevel must be disabled|basic|extended|all, got '${String(optLevel)}'`);
    }
    const requested = options.threads ?? 1;
    checkThreads(requested);
    const threads = backend === 'wasm' ? 1 : requested;
    const profile = options.profile ?? false;

    const ort = await loadOrt(backend);
    const common: OrtTypes.InferenceSession.SessionOptions = {
      graphOptimizationLevel: optLevel,
      executionMode: 'sequential',
      // 4 = fatal only. At 3, onnxruntime-node also prints every failing kernel to stderr as an ANSI-coloured
      // log line; the same text reaches us in the thrown error, which becomes a RebirthError.
      logSeverityLevel: 4,
      enableProfiling: profile,
    };
    let profileDir: string | undefined;
    let sessionOptions: OrtTypes.InferenceSession.SessionOptions;
    if (backend === 'node') {
      if (profile) {
        // ORT writes `<prefix>_<local date>_<time>.json` and never reports the name to JS
        // (binding endProfiling() returns void), so give every session its own empty directory.
        profileDir = await mkdtemp(join(tmpdir(), 'rebirth-ort-profile-'));
      }
      sessionOptions = {
        ...common,
        executionProviders: ['cpu'],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        ...(profileDir !== undefined ? { profileFilePrefix: join(profileDir, 'ort') } : {}),
      };
    } else {
      sessionOptions = { ...common, executionProviders: ['wasm'] };
    }

    let session: OrtSession;
    try {
      session = await ort.InferenceSession.create(model, sessionOptions);
    } catch (e) {
      if (profileDir !== undefined) await rm(profileDir, { recursive: true, force: true });
      throw ortError(backend, 'load', e);
    }
    return new Session(ort, session, model, backend, threads, optLevel, profileDir, profile);
  }

  async run(feeds: Record<string, HostTensor>, fetch?: string[]): Promise<Record<string, HostTensor>> {
    if (this.#released) throw new RebirthError('Session.run called after release(): create a new Session');
    const ortFeeds: Record<string, OrtTensor> = {};
    for (const name of Object.keys(feeds)) {
      if (!this.inputNames.includes(name)) {
        throw new RebirthError(`feed '${name}' is not a model input (inputs: ${this.inputNames.join(', ')})`);
      }
    }
    for (const name of this.inputNames) {
      const t = feeds[name];
      if (t === undefined) throw new RebirthError(`model input '${name}' is missing from feeds`);
      ortFeeds[name] = this.toOrt(name, t);
    }
    const names = fetch ?? [...this.outputNames];
    for (const name of names) {
      if (!this.outputNames.includes(name)) {
        throw new RebirthError(`fetch '${name}' is not a model output (outputs: ${this.outputNames.join(', ')})`);
      }
    }
    let results: OrtTypes.InferenceSession.ReturnType;
    try {
      results = await this.session.run(ortFeeds, names);
    } catch (e) {
      const err = ortError(this.backend, 'run', e);
      if (this.backend === 'wasm' && !/ node\. Name:'/.test(err.message)) {
        const where = await locateFailingNode(this.model, this.optLevel, feeds, names);
        if (where !== undefined) {
          throw new RebirthError(`${err.message} [failing node, found by re-running on the node backend: ${where}]`, {
            cause: e,
          });
        }
      }
      throw err;
    }
    const out: Record<string, HostTensor> = {};
    for (const name of names) {
      const v = results[name];
      if (v === undefined) throw new RebirthError(`onnxruntime (${this.backend}) returned no value for output '${name}'`);
      out[name] = fromOrt(name, v);
    }
    return out;
  }

  /**
   * Stops profiling and returns ORT's trace events (all runs since the session was created).
   * Requires `profile: true`; can be called once.
   */
  async endProfiling(): Promise<TraceEvent[]> {
    if (!this.#profiling) {
      throw new RebirthError('Session.endProfiling needs a session created with profile: true (and called once)');
    }
    if (this.#released) throw new RebirthError('Session.endProfiling called after release()');
    this.#profiling = false;
    if (this.backend === 'wasm') {
      // onnxruntime-web ignores profileFilePrefix and the wasm ORT prints the trace to stdout from
      // inside EndProfiling; with proxy off this is synchronous, so the capture window is exact.
      const { stdout } = captureFd1(() => this.session.endProfiling());
      return parseTrace(extractJsonArray(stdout), 'onnxruntime-web stdout');
    }
    try {
      this.session.endProfiling();
    } catch (e) {
      throw ortError(this.backend, 'run', e);
    }
    const dir = this.profileDir;
    if (dir === undefined) return [];
    const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
    if (files.length !== 1) {
      throw new RebirthError(`expected one onnxruntime profile file in ${dir}, found ${files.length}`);
    }
    const file = join(dir, files[0] ?? '');
    const events = parseTrace(await readFile(file, 'utf8'), file);
    await rm(dir, { recursive: true, force: true });
    return events;
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    try {
      if (this.backend === 'wasm' && this.#profiling) {
        // The wasm session's destructor prints the trace if profiling is still on; swallow it.
        // release()'s ORT call runs synchronously before its first await, inside the capture window.
        const { result } = captureFd1(() => this.session.release());
        await result;
      } else {
        await this.session.release();
      }
    } finally {
      if (this.profileDir !== undefined) await rm(this.profileDir, { recursive: true, force: true });
    }
  }

  private toOrt(name: string, t: HostTensor): OrtTensor {
    if (!isElementType(t.type)) {
      throw new RebirthError(`feed '${name}' has unsupported element type '${String(t.type)}'`);
    }
    if (!t.dims.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new RebirthError(`feed '${name}' has invalid dims [${t.dims.join(', ')}]: use non-negative integers`);
    }
    const n = elementCount(t.dims);
    if (t.data.length !== n) {
      throw new RebirthError(
        `feed '${name}' has ${t.data.length} elements but dims [${t.dims.join(', ')}] need ${n}`,
      );
    }
    return new this.ort.Tensor(t.type, t.data, t.dims);
  }
}

/**
 * The wasm build of ORT reports a failing kernel's status without the node ("…reshape_helper.h:93 … cannot
 * be reshaped"), and logs nothing even at logSeverityLevel 0, whereas onnxruntime-node's status reads
 * "Non-zero status code returned while running Reshape node. Name:'bad_reshape' …". Re-running the same
 * feeds on the node backend names the node; only done on the failure path.
 */
async function locateFailingNode(
  model: Uint8Array,
  optLevel: OptLevel,
  feeds: Record<string, HostTensor>,
  fetch: string[],
): Promise<string | undefined> {
  let s: Session | undefined;
  try {
    s = await Session.create(model, { backend: 'node', optLevel });
    await s.run(feeds, fetch);
    return undefined;
  } catch (e) {
    const m = / running (\S+) node\. Name:'([^']*)'/.exec(errorMessage(e));
    return m ? `'${m[2]}' (${m[1]})` : undefined;
  } finally {
    await s?.release();
  }
}

function fromOrt(name: string, t: OrtTypes.OnnxValue): HostTensor {
  if (typeof t.type !== 'string' || !isElementType(t.type)) {
    throw new RebirthError(`model output '${name}' has element type '${String(t.type)}', which rebirth does not handle`);
  }
  // The union of typed arrays lines up with TypedArrayOf by construction of ORT's DataTypeMap.
  return { type: t.type, dims: [...t.dims], data: t.data } as HostTensor;
}
